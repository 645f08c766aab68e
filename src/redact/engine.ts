/**
 * The redaction engine: applies the rules (rules.ts) to a text, line prefixes taken off first, and
 * to every string of a JSON-able value. Used by `nbs debug` (the bundle) and by `nbs check` (every
 * result before a reporter sees it).
 *
 * Line prefixes: a journal line (`sh[412]: `, `Nov 30 08:00:00 host sh[412]: `,
 * `2024-11-30T08:00:00+0000 host sh[412]: `), a Nix code frame (`   12| `), a `nix build -L` line
 * (`hello> `) or a CI timestamp are taken off every line before the rules run and put back after,
 * so a private key logged line by line by a unit is one block to the scanners, and a secret in
 * a code frame is an assignment at the start of its line. A redaction over several lines keeps
 * the first line's prefix.
 *
 * Guarantees:
 * - **Linear time.** See scanners.ts; the engine adds one split and one join per pass.
 * - **Idempotent.** A marker is never matched as a secret again, and the table is run again
 *   until a pass changes nothing, so redacting twice changes nothing more.
 * - **Arrays of lines are one text.** A multi-line secret split over the elements of a string
 *   array (the log tail and journal lines of a bundle) is found because `redactValue` redacts
 *   such arrays as one text; a block that collapses into one marker makes that array shorter.
 */
import { KEY_WORDS, RULES, type PatternRule, type Rule } from './rules.js'
import { basicCredentials, benignValue, highEntropy, marker, MARKER_PREFIX, RUN_SECRETS, type Span } from './scanners.js'
import { isPlainObject } from '../util/object.js'

export interface Redaction {
  kind: string
  count: number
}
export interface RedactResult {
  text: string
  redactions: Redaction[]
  total: number
}

// the engine loops on `exec` and reads `indices`: a rule without `g` would never end
for (const rule of RULES) if ('find' in rule && !(rule.find.global && rule.find.hasIndices)) throw new Error(`redact rule ${rule.kind}: the pattern needs the g and d flags`)

// ---------------------------------------------------------------------------------------------
// Line prefixes

/**
 * What comes before a line's content, tried in order and repeatedly (a journal line can carry a
 * code frame): journalctl's short and short-iso forms, `ident[pid]: ` (the pid tells it from a
 * `key: value`), a Nix code frame's line number, `nix build -L`'s `name> `, a CI timestamp.
 */
const LINE_PREFIXES: RegExp[] = [
  /^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) [\w.-]+ [\w@./:-]+(?:\[\d+\])?: /,
  /^[\w@./:-]+\[\d+\]: /,
  /^[ \t]*\d+\|(?: |$)/,
  /^[\w.+-]+> /,
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z /,
]
/** The prefix of one line ('' for most lines). */
export function linePrefix(line: string): string {
  let n = 0
  for (let round = 0; round < 3; round++) {
    const rest = line.slice(n)
    const re = LINE_PREFIXES.find((p) => p.test(rest))
    if (!re) break
    n += re.exec(rest)![0].length
  }
  return line.slice(0, n)
}

// ---------------------------------------------------------------------------------------------
// Engine

function spansOf(rule: PatternRule, text: string): Span[] {
  const spans: Span[] = []
  const re = rule.find
  re.lastIndex = 0
  for (let m; (m = re.exec(text)); ) {
    const span = rule.pick ? rule.pick(m, text) : defaultPick(m)
    if (span) {
      if (!span.keep) spans.push(span)
      if (span.end > re.lastIndex) re.lastIndex = span.end
    } else if (m[0] === '') re.lastIndex++
  }
  return spans
}
function defaultPick(m: RegExpExecArray): Span {
  const s = m.indices?.groups?.s
  return s ? { start: s[0], end: s[1] } : { start: m.index, end: m.index + m[0].length }
}

/** A span holding nothing but earlier markers (a YAML block around a redacted key) stays as it is. */
const ONLY_MARKERS = /^\s*(?:\[REDACTED:[\w-]+\]\s*)+$/

/** Newlines in text[from, to). */
function newlines(text: string, from: number, to: number): number {
  let n = 0
  for (let i = text.indexOf('\n', from); i >= 0 && i < to; i = text.indexOf('\n', i + 1)) n++
  return n
}

/**
 * One rule over the text. `prefixes` (one per line of text, when lines had prefixes taken off)
 * loses the entries of the lines a redaction swallows, so it stays one per line.
 */
function applyRule(rule: Rule, text: string, tally: Map<string, number>, prefixes?: string[]): string {
  const spans = 'scan' in rule ? rule.scan(text) : spansOf(rule, text)
  if (spans.length === 0) return text
  const parts: string[] = []
  let last = 0
  let n = 0
  let line = 0
  for (const { start, end } of spans) {
    if (start < last || end <= start || text.startsWith(MARKER_PREFIX, start) || ONLY_MARKERS.test(text.slice(start, end))) continue
    if (prefixes) {
      line += newlines(text, last, start)
      const gone = newlines(text, start, end)
      if (gone) prefixes.splice(line + 1, gone)
    }
    parts.push(text.slice(last, start), marker(rule.kind))
    last = end
    n++
  }
  if (n === 0) return text
  parts.push(text.slice(last))
  tally.set(rule.kind, (tally.get(rule.kind) ?? 0) + n)
  return parts.join('')
}

function toRedactions(tally: Map<string, number>): Redaction[] {
  return [...tally].map(([kind, count]) => ({ kind, count })).sort((a, b) => b.count - a.count || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0))
}

/**
 * All rules, again until nothing changes: a redaction can create a word boundary a pattern needs
 * (`AKIA…ghp_…` glued together: `ghp_` only starts a token once the key id before it is a
 * marker). Markers are never redacted again, so each pass that changes something leaves fewer
 * unredacted characters; a clean text takes one pass, a text with secrets usually two.
 */
const MAX_PASSES = 4
function redactInto(text: string, tally: Map<string, number>): string {
  const lines = text.split('\n')
  const prefixes = lines.map(linePrefix)
  const prefixed = prefixes.some((p) => p !== '')
  let view = prefixed ? lines.map((l, i) => l.slice(prefixes[i]!.length)).join('\n') : text
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const before = view
    for (const rule of RULES) view = applyRule(rule, view, tally, prefixed ? prefixes : undefined)
    if (view === before) break
  }
  if (!prefixed) return view
  return view
    .split('\n')
    .map((l, i) => prefixes[i]! + l)
    .join('\n')
}

/** Redacts secrets in text; each becomes `[REDACTED:<kind>]` (keeping a key name, URL scheme and host, auth scheme where that helps diagnosis). */
export function redactText(text: string): RedactResult {
  const tally = new Map<string, number>()
  const out = redactInto(text, tally)
  const redactions = toRedactions(tally)
  return { text: out, redactions, total: redactions.reduce((n, r) => n + r.count, 0) }
}

const KEY_IS_RUN_SECRETS = new RegExp(`^${RUN_SECRETS}$`)
/** Object keys that name a secret, per kind: the same key words as the text rules, at the END of the key. */
const KEY_KINDS: [RegExp, string][] = [
  [/authorization$/i, 'authorization'],
  [/secret[_-]?access[_-]?key$/i, 'aws-secret-key'],
  ...Object.entries(KEY_WORDS).map(([kind, words]): [RegExp, string] => [new RegExp(`(?:${words})$`, 'i'), kind]),
]
const GENERIC_KEY = /(?:(?<![A-Za-z0-9])(?:key|Key|KEY)|(?<=[a-z0-9])Key)$/
const PUBLIC_KEY = /pub(?:lic)?[_. -]?key$/i

/** The kind a value is redacted as because of its object KEY (`{ "password": "…" }`), if any. */
function kindForKey(key: string, value: string): string | undefined {
  if (benignValue(value)) return undefined
  if (KEY_IS_RUN_SECRETS.test(key)) return 'run-secrets'
  for (const [re, kind] of KEY_KINDS) if (re.test(key)) return kind
  if (/(?:^|[^A-Za-z0-9])auth$/i.test(key) && basicCredentials(value)) return 'docker-auth'
  if (GENERIC_KEY.test(key) && !PUBLIC_KEY.test(key) && highEntropy(value)) return 'secret'
  return undefined
}

function redactDeep(value: unknown, tally: Map<string, number>, key?: string): unknown {
  if (typeof value === 'string') {
    const kind = key === undefined ? undefined : kindForKey(key, value)
    if (kind && !value.startsWith(MARKER_PREFIX)) {
      tally.set(kind, (tally.get(kind) ?? 0) + 1)
      return marker(kind)
    }
    return redactInto(value, tally)
  }
  if (Array.isArray(value)) {
    // lines of one text (a log tail, journal lines): redact them together so a key block or the
    // output after `cat /run/secrets/x` is seen across elements
    if (value.length > 1 && value.every((v) => typeof v === 'string' && !v.includes('\n'))) return redactInto(value.join('\n'), tally).split('\n')
    return value.map((v) => redactDeep(v, tally))
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, tally, k)
    return out
  }
  return value
}

/** Deep: every string in a JSON-able value (keys kept), one combined count. */
export function redactValue<T>(value: T): { value: T; redactions: Redaction[]; total: number } {
  const tally = new Map<string, number>()
  const out = redactDeep(value, tally) as T
  const redactions = toRedactions(tally)
  return { value: out, redactions, total: redactions.reduce((n, r) => n + r.count, 0) }
}

/** One line for the bundle: "12 secrets redacted (3 github-token, 2 password, …)" or "no secrets found". */
export function describeRedactions(r: Redaction[]): string {
  const list = r.filter((x) => x.count > 0)
  const total = list.reduce((n, x) => n + x.count, 0)
  if (total === 0) return 'no secrets found'
  return `${total} secret${total === 1 ? '' : 's'} redacted (${list.map((x) => `${x.count} ${x.kind}`).join(', ')})`
}