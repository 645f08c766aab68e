/**
 * The one string pipeline every report format uses (docs: report-formats.md §1). Check output is
 * untrusted: it may hold ANSI colour, NUL, lone surrogates or text that mimics TAP/XML syntax, and a
 * single bad character makes Jenkins/GitLab/prove drop the whole report. Each format sanitises with
 * these functions first, then applies its own escaping.
 */
import { stripVTControlCharacters } from 'node:util'

/** Shown instead of an empty or whitespace-only check name. */
export const UNNAMED_CHECK = '(unnamed check)'

// Node 20 has String.prototype.toWellFormed, but the ES2023 lib typings do not declare it.
type MaybeWellFormed = { toWellFormed?: () => string }
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** Lone surrogates cannot be encoded in UTF-8: replace them with U+FFFD. */
export function toWellFormed(s: string): string {
  const native = (s as unknown as MaybeWellFormed).toWellFormed
  return typeof native === 'function' ? native.call(s) : s.replace(LONE_SURROGATE, '\uFFFD')
}

// C0 except TAB/LF (CR is normalised before), DEL, C1, and non-characters (U+FDD0–FDEF, U+xFFFE/xFFFF):
// illegal or "discouraged" in XML, and terminal-hostile everywhere.
const UNSAFE = /[\x00-\x08\x0B-\x1F\x7F-\x9F\p{Noncharacter_Code_Point}]/gu

function visible(ch: string): string {
  const code = ch.codePointAt(0)!
  if (code < 0x20) return String.fromCodePoint(0x2400 + code) // Control Pictures: NUL → ␀, ESC → ␛
  if (code === 0x7f) return '\u2421' // ␡
  return '\uFFFD'
}

/** Multi-line text (messages, output): well-formed, no ANSI, LF line ends, no control chars but TAB/LF. */
export function sanitizeText(s: string): string {
  return stripVTControlCharacters(toWellFormed(s))
    .replace(/\r\n?/g, '\n')
    .replace(UNSAFE, visible)
}

// Bidi overrides/isolates can make a check name read as something else in a CI UI: show them.
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g

/**
 * One line (names, XML attributes, TAP descriptions): like sanitizeText, and every line break
 * (CR, LF, U+0085, U+2028, U+2029) and TAB becomes a space, so nothing can start a new TAP line.
 */
export function singleLine(s: string): string {
  return stripVTControlCharacters(toWellFormed(s))
    .replace(/[\r\n\t\u0085\u2028\u2029]/g, ' ')
    .replace(UNSAFE, visible)
    .replace(BIDI, (ch) => `<U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`)
}

/** A single-line, trimmed, never-empty name. */
export function displayName(s: string | undefined, fallback = UNNAMED_CHECK): string {
  const name = singleLine(s ?? '').trim()
  return name === '' ? fallback : name
}

/** GitLab/Jenkins turn `[[ATTACHMENT|path]]` in output into file links: break the marker. */
export function neutralizeMarkers(s: string): string {
  return s.replace(/\[\[(ATTACHMENT|PROPERTY)\|/gi, '[ [$1|')
}

const isContinuation = (b: number | undefined): boolean => b !== undefined && (b & 0xc0) === 0x80

/**
 * Caps `text` at about `maxBytes` UTF-8 bytes, keeping the head and the tail (the start and the
 * final error lines are what matter) and saying how much was dropped. Never splits a character.
 */
export function truncateMiddle(text: string, maxBytes: number): string {
  const buf = Buffer.from(toWellFormed(text), 'utf8')
  if (buf.length <= maxBytes) return text
  const markerFor = (n: number) => `…[truncated ${n} bytes]…`
  const keep = Math.max(0, maxBytes - Buffer.byteLength(markerFor(buf.length)))
  let head = Math.ceil(keep / 2)
  while (head > 0 && isContinuation(buf[head])) head--
  let tail = buf.length - (keep - Math.ceil(keep / 2))
  while (tail < buf.length && isContinuation(buf[tail])) tail++
  return buf.toString('utf8', 0, head) + markerFor(tail - head) + buf.toString('utf8', tail)
}

/** Captured process output for a size-capped format: sanitised, markers neutralised, capped. */
export function sanitizeOutput(text: string, maxBytes: number): string {
  return truncateMiddle(neutralizeMarkers(sanitizeText(text)), maxBytes)
}

/** A message for an attribute or a one-line slot: first non-empty line, capped. */
export function oneLineMessage(text: string | undefined, maxBytes = 1024): string {
  const lines = sanitizeText(text ?? '').split('\n')
  const first = lines.find((l) => l.trim() !== '') ?? ''
  return truncateMiddle(singleLine(first).trim(), maxBytes)
}

/** `text` cut to `width` characters (code points), the last one an ellipsis when cut: a table cell or a terminal line. */
export function clip(text: string, width: number): string {
  const chars = [...text]
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`
}

/** A check's `details` as JSON text that never throws: bigints as strings, a cycle (or anything else JSON refuses) as String(v). */
export function safeJson(v: unknown, indent?: number): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x), indent) ?? String(v)
  } catch {
    return String(v)
  }
}
