/**
 * Nix's `--log-format internal-json` lines (`@nix {json}` on stderr), one line at a time so a
 * streaming build parser can sit on top. Tolerant by design: unknown actions, activity/result types
 * and extra keys pass through (nom's strict decoder breaks on every new Nix release).
 */
import { stripVTControlCharacters } from 'node:util'

/** One position in an error's `trace` (only with `--show-trace`). */
export interface NixTraceRecord {
  raw_msg?: string
  file?: string | null
  line?: number | null
  column?: number | null
}

/** A decoded `@nix` record. Field names are Nix's own, so the docs and captures map one to one. */
export interface NixRecord {
  action: 'start' | 'stop' | 'result' | 'msg' | 'setPhase' | (string & {})
  /** activity id: a 64-bit number (`pid << 32 | counter`) kept as a string, it exceeds 2^53 */
  id?: string
  /** parent activity id (Nix ≥ 2.18), `"0"` for none */
  parent?: string
  level?: number
  /** ActivityType on `start`, ResultType on `result` */
  type?: number
  text?: string
  fields?: (string | number)[]
  /** `msg`: the rendered text, with ANSI colours, code frame and traces */
  msg?: string
  /** `msg` from an error (Nix ≥ 2.4): the message alone */
  raw_msg?: string
  file?: string | null
  line?: number | null
  column?: number | null
  trace?: NixTraceRecord[]
  phase?: string
}

export type MessageClass = 'error' | 'trace' | 'warning' | 'info'

const PREFIX = '@nix '
/**
 * The digits of the number after the key `"id":` (or `"parent":`) in compact JSON: a key always
 * follows `{` or `,`, and inside a string the quote is escaped, so text that merely mentions
 * "id":1 is never read. Ids exceed 2^53, which JSON.parse would round.
 */
function exactNumber(json: string, key: string): string | undefined {
  let at = json.indexOf(key)
  while (at > 0 && json.charCodeAt(at - 1) !== 44 /* , */ && json.charCodeAt(at - 1) !== 123 /* { */) at = json.indexOf(key, at + 1)
  if (at <= 0) return undefined
  const from = at + key.length
  let to = json.charCodeAt(from) === 45 /* - */ ? from + 1 : from
  for (let c = json.charCodeAt(to); c >= 48 && c <= 57; c = json.charCodeAt(++to));
  return to > from ? unpinned(json.slice(from, to)) : undefined
}

/**
 * A copy of a piece of a bigger string that does not keep the bigger one alive: V8 makes slices of
 * 13 chars or more views into their parent, and the parent of a record is a 64 KiB chunk of the
 * stream. Concatenating and slicing flattens into a string of the piece's own size.
 */
export function unpinned(s: string): string {
  return s.length < 13 ? s : (s + ' ').slice(0, -1)
}
/**
 * The syslog priority `<N>` Nix's simple logger puts before every line it writes when
 * IN_SYSTEMD=1 (a service: nbs on a timer): every record of Nix ≤ 2.26 and Lix (their JSON logger
 * writes through it, always `<3>`), and plain lines of `nix-store`/`nix-env`/`--log-format raw`.
 */
const SYSLOG_PRIORITY = /^<[0-7]>/

/** Removes ANSI escape sequences (Node's own stripper, the one the reporters use too). */
export function stripAnsi(text: string): string {
  return text.includes('\u001b') || text.includes('\u009b') ? stripVTControlCharacters(text) : text
}

/** A stderr line without the `<N>` syslog priority Nix adds under systemd. */
export function stripSyslogPriority(line: string): string {
  return line.charCodeAt(0) === 60 /* < */ && SYSLOG_PRIORITY.test(line) ? line.slice(3) : line
}

/** Decodes one stderr line; `undefined` for anything that is not a well-formed `@nix` record. */
export function parseNixLine(line: string): NixRecord | undefined {
  const text = stripSyslogPriority(line)
  const start = text.indexOf(PREFIX)
  // Tolerate a leading carriage return or colour reset a wrapper may put before the prefix.
  if (start < 0 || (start > 0 && stripAnsi(text.slice(0, start)).trim() !== '')) return undefined
  const json = text.slice(start + PREFIX.length)
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const record = value as Record<string, unknown>
  if (typeof record.action !== 'string') return undefined
  if (typeof record.id === 'number') record.id = exactNumber(json, '"id":') ?? String(record.id)
  if (typeof record.parent === 'number') record.parent = exactNumber(json, '"parent":') ?? String(record.parent)
  return record as unknown as NixRecord
}

/** Whether a stderr line is an `@nix` record (cheaper than parsing it). */
export function isNixLine(line: string): boolean {
  return line.startsWith(PREFIX) || stripAnsi(stripSyslogPriority(line)).trimStart().startsWith(PREFIX)
}

/** Where an error record (or one frame of its `trace`) points: the file alone, its line and column. */
export interface NixPosition {
  file: string
  line: number
  column?: number
}

/**
 * The position of an error record or trace frame, whatever Nix wrote it: `file` is the path alone
 * up to 2.19 (and `«string»`/`«stdin»` from 2.13), `Pos::print(showOrigin)` from 2.20 on and in
 * Lix and Determinate Nix (`/nix/store/…-source/flake.nix:10:16`, `:10` when the column is 0),
 * where the suffix repeats `line`/`column` and is cut here. Up to 2.12 `file` holds the whole
 * source text for `--expr`/`--apply`/stdin input: not a place, so undefined (the rendered message
 * still says `«string»:1:4`).
 */
export function nixPosition(r: { file?: string | null; line?: number | null; column?: number | null }): NixPosition | undefined {
  if (typeof r.file !== 'string' || typeof r.line !== 'number' || r.line <= 0) return undefined
  const column = typeof r.column === 'number' && r.column > 0 ? r.column : undefined
  const suffix = column === undefined ? `:${r.line}` : `:${r.line}:${column}`
  const file = r.file.endsWith(suffix) ? r.file.slice(0, -suffix.length) : r.file
  if (!/^[/«]/.test(file) || file.includes('\n')) return undefined
  return { file, line: r.line, ...(column !== undefined ? { column } : {}) }
}

/**
 * Classifies a message by its ANSI-stripped prefix, never by level: level 0 also carries
 * `trace:` (builtins.trace) and, from `nix build --dry-run`, the "will be built" lists.
 */
export function classifyMessage(text: string): MessageClass {
  const t = stripAnsi(text).trimStart()
  if (/^error:/.test(t)) return 'error'
  if (/^trace:/.test(t)) return 'trace'
  if (/^(evaluation warning|warning|error \(ignored\)):/.test(t)) return 'warning'
  return 'info'
}

/** One piece of Nix's stderr in order: a `msg` record or a run of plain (non-`@nix`) lines. */
export type NixLogChunk = { kind: 'record'; record: NixRecord } | { kind: 'text'; text: string }

/** Splits a captured stderr into records and plain-text runs, keeping their order. */
export function splitNixLog(stderr: string): NixLogChunk[] {
  const chunks: NixLogChunk[] = []
  let plain: string[] = []
  const flush = () => {
    if (plain.length) chunks.push({ kind: 'text', text: plain.join('\n') })
    plain = []
  }
  for (const line of stderr.split('\n')) {
    const record = isNixLine(line) ? parseNixLine(line) : undefined
    if (record) {
      flush()
      chunks.push({ kind: 'record', record })
    } else if (!isNixLine(line)) plain.push(stripSyslogPriority(line).replace(/\r$/, ''))
  }
  flush()
  return chunks
}

/**
 * What Nix would have printed without internal-json: `msg` texts and plain lines, ANSI stripped,
 * activities dropped. For reports and humans; the structured records stay available separately.
 */
export function renderNixLog(stderr: string): string {
  const out: string[] = []
  for (const chunk of splitNixLog(stderr)) {
    if (chunk.kind === 'text') out.push(chunk.text)
    else if (chunk.record.action === 'msg' && typeof chunk.record.msg === 'string') out.push(chunk.record.msg)
  }
  return stripAnsi(out.join('\n')).replace(/\n+$/, '')
}
