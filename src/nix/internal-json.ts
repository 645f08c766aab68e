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
const SYSLOG_PRIORITY = /^<[0-7]>$/
// A key position in compact JSON always follows `{` or `,`; inside a string the quote is escaped,
// so this cannot touch text that merely mentions "id":1.
const ID_NUMBER = /(?<=[{,])"(id|parent)":(-?\d+)/g
/** Removes ANSI escape sequences (Node's own stripper, the one the reporters use too). */
export function stripAnsi(text: string): string {
  return text.includes('\u001b') || text.includes('\u009b') ? stripVTControlCharacters(text) : text
}

/** Decodes one stderr line; `undefined` for anything that is not a well-formed `@nix` record. */
export function parseNixLine(line: string): NixRecord | undefined {
  const start = line.indexOf(PREFIX)
  // Tolerate a leading carriage return or colour reset a wrapper may put before the prefix, and the
  // `<3>` syslog priority Nix ≤ 2.26 and Lix add when IN_SYSTEMD=1 (a service: nbs on a timer).
  if (start < 0 || (start > 0 && !SYSLOG_PRIORITY.test(line.slice(0, start)) && stripAnsi(line.slice(0, start)).trim() !== '')) return undefined
  const json = line.slice(start + PREFIX.length).trimEnd().replace(ID_NUMBER, '"$1":"$2"')
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const record = value as Record<string, unknown>
  if (typeof record.action !== 'string') return undefined
  return record as unknown as NixRecord
}

/** Whether a stderr line is an `@nix` record (cheaper than parsing it). */
export function isNixLine(line: string): boolean {
  return line.startsWith(PREFIX) || stripAnsi(line).trimStart().startsWith(PREFIX) || /^<[0-7]>@nix /.test(line)
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
    } else if (!isNixLine(line)) plain.push(line.replace(/\r$/, ''))
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
