/**
 * TAP reporter (report-formats.md §2.6). Version 13 by default because Debian 12's prove (3.44)
 * rejects a `TAP version 14` line; the body only uses what both prove and tap-parser read.
 */
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport, Severity } from '../report/types.js'
import { hostName, resultsInOrder } from './fleet.js'
import { displayName, oneLineMessage, safeJson, sanitizeOutput, sanitizeText, singleLine, truncateMiddle } from './sanitize.js'
import type { ReporterFactory } from './types.js'
import { isPlainObject } from '../util/object.js'

export interface TapOptions {
  version: 13 | 14
}

/**
 * Per-string cap (UTF-8 bytes) inside YAML diagnostics. Perl's YAMLish reader matches a quoted string
 * with `(?:\\.|[^"])*`, which dies past 65,534 (older Perls: 32,766) repetitions: stay below both.
 */
export const TAP_TEXT_CAP = 30_000
const NAME_CAP = 1024
const MAX_DEPTH = 8

/** A trailing `{` makes tap-parser read a node-tap buffered subtest: use a fullwidth brace. */
const neutralizeBrace = (s: string): string => s.replace(/\{$/, '\uFF5B')

/**
 * No `#` ever reaches a description or a directive reason: it becomes `＃` (U+FF03, FULLWIDTH NUMBER
 * SIGN), which reads the same. The TAP14 escape `\#` is not enough: Python's tappy ignores it and
 * reads the directive after the first `#` anywhere on the line, so a title holding ` # SKIP ` or
 * ` # TODO ` changed its verdict (report-formats.md, "Measured consumer behaviour").
 */
export const HASH_REPLACEMENT = '\uFF03'
const noHash = (s: string): string => s.replaceAll('#', HASH_REPLACEMENT)

/** `\\` stays the TAP escape for a backslash (tap-parser reads it back); `#` is replaced, see above. */
export const tapEscape = (s: string): string => noHash(s).replace(/\\/g, '\\\\')

/**
 * The unescaped test point description: what tap-parser reports as the result's name, with every
 * `#` already replaced (see `HASH_REPLACEMENT`). A fleet run
 * puts the host first (`web1 failed-units - no systemd unit has failed`): one point per host and check.
 */
export function checkLabel(r: Pick<CheckResult, 'id' | 'title'> & { host?: string }, fleet = false): string {
  const id = displayName(r.id)
  const title = singleLine(r.title ?? '').trim()
  const label = title === '' || title === id ? id : `${id} - ${title}`
  return neutralizeBrace(noHash(truncateMiddle(fleet ? `${hostName(r.host)} ${label}` : label, NAME_CAP)))
}

/** A reason after `# SKIP` / `# TODO`, made single-line and escaped. */
const reason = (s: string): string => tapEscape(neutralizeBrace(oneLineMessage(s)))

// --- YAML diagnostics in the subset both Perl's YAMLish reader and YAML 1.2 parse identically ---

const QUOTED: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t' }

/**
 * A single-line double-quoted scalar; after sanitizing only TAB and LF remain to escape. U+2028/2029
 * become LF: JS regexes (tap-parser) end lines there and YAMLish knows no `\L`/`\P` escapes.
 */
export function yamlString(s: string): string {
  return `"${sanitizeText(s).replace(/[\u2028\u2029]/g, '\n').replace(/[\\"\n\t]/g, (c) => QUOTED[c]!)}"`
}

/** Untrusted text as a capped scalar (sanitised first: control pictures take 3 bytes). */
const yamlText = (s: string): string => yamlString(truncateMiddle(sanitizeText(s), TAP_TEXT_CAP))

function yamlScalar(v: unknown): string | undefined {
  if (v === null) return '~'
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '~'
  if (typeof v === 'bigint') return yamlString(String(v))
  if (typeof v === 'string') return yamlText(v)
  return undefined
}

// Keys must be plain words YAMLish reads as keys and YAML 1.2 does not coerce to bool/null.
const SAFE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
const COERCED_KEY = /^(?:true|false|null|yes|no|on|off|y|n)$/i

/** Block lines for a non-empty mapping or list, or undefined when the subset cannot express it. */
function yamlBlock(value: unknown, indent: string, depth: number): string[] | undefined {
  if (depth > MAX_DEPTH) return undefined
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined
    const out: string[] = []
    for (const item of value) {
      const s = yamlScalar(item)
      if (s !== undefined) {
        // Perl's YAMLish reads `- "a: b"` as a mapping inside the list and dies on the quote:
        // a colon in a listed string is written `\x3a`, which both readers decode
        out.push(`${indent}- ${s.startsWith('"') ? s.replaceAll(':', '\\x3a') : s}`)
        continue
      }
      if (!isPlainObject(item)) return undefined // lists of lists are not in the subset
      const inner = yamlBlock(item, `${indent}  `, depth + 1)
      if (!inner) return undefined
      out.push(`${indent}- ${inner[0]!.trimStart()}`, ...inner.slice(1))
    }
    return out
  }
  if (!isPlainObject(value)) return undefined
  const entries = Object.entries(value).filter(([, v]) => v !== undefined)
  if (entries.length === 0) return undefined // `{}` is flow syntax
  const out: string[] = []
  for (const [key, v] of entries) {
    if (!SAFE_KEY.test(key) || COERCED_KEY.test(key)) return undefined
    const s = yamlScalar(v)
    if (s !== undefined) {
      out.push(`${indent}${key}: ${s}`)
      continue
    }
    const inner = yamlBlock(v, `${indent}  `, depth + 1)
    if (!inner) return undefined
    out.push(`${indent}${key}:`, ...inner)
  }
  return out
}

/** `details` as nested YAML when the subset allows, else one JSON string (both round-trip). */
function detailsLines(details: unknown, indent: string): string[] {
  const scalar = yamlScalar(details)
  if (scalar !== undefined) return [`${indent}details: ${scalar}`]
  const block = yamlBlock(details, `${indent}  `, 1)
  if (block) return [`${indent}details:`, ...block]
  return [`${indent}details: ${yamlText(safeJson(details))}`]
}

function diagnostics(r: CheckResult, phase: string, fleet: boolean): string[] {
  const i = '  '
  const lines = [`${i}---`]
  const field = (key: string, value: string) => lines.push(`${i}${key}: ${value}`)
  if (r.message !== undefined) field('message', yamlText(r.message))
  field('severity', yamlString(r.severity))
  field('status', yamlString(r.status))
  if (r.kind !== undefined) field('kind', yamlString(r.kind))
  if (fleet) field('host', yamlText(r.host))
  field('phase', yamlText(phase))
  field('id', yamlText(r.id))
  if (r.source) field('source', yamlText(r.source))
  field('attempts', String(r.attempts.length))
  field('duration_ms', yamlScalar(r.durationMs) ?? '~')
  if (r.details !== undefined) lines.push(...detailsLines(r.details, i))
  if (r.stdout) field('stdout', yamlString(sanitizeOutput(r.stdout.text, TAP_TEXT_CAP)))
  if (r.stderr) field('stderr', yamlString(sanitizeOutput(r.stderr.text, TAP_TEXT_CAP)))
  lines.push(`${i}...`)
  return lines
}

function testPoint(r: CheckResult, n: number, phase: string, failOn: Severity, fleet: boolean): string[] {
  const desc = tapEscape(checkLabel(r, fleet))
  if (r.status === 'passed') return [`ok ${n} - ${desc}`]
  if (r.status === 'skipped') return [`ok ${n} - ${desc} # SKIP ${reason(r.message ?? '') || 'skipped'}`]
  // A failed warning that does not fail the run is a TODO: readers then do not count it as a failure.
  const todo = failsRun(r, failOn) ? '' : ` # TODO ${reason(`warning: ${oneLineMessage(r.message) || r.status}`)}`
  return [`not ok ${n} - ${desc}${todo}`, ...diagnostics(r, phase, fleet)]
}

/** Version and plan; with no checks the plan waits for the end (see `ending`). */
const header = (version: 13 | 14, total: number) => [`TAP version ${version}`, ...(total === 0 ? [] : [`1..${total}`])]

/**
 * After the last point. An interrupted run exits 130/143, so its TAP must not read as passed when
 * every point so far is `ok`: `Bail out!` after the last point (the plan still matches, every result
 * stays readable) makes prove, tap-parser and tappy all call the run failed. With no checks the plan
 * comes last: `1..0 # SKIP` normally, but tap-parser and tappy stop reading at a skip-all plan, so an
 * interrupted empty run is one failed point instead.
 */
function ending(report: Pick<RunReport, 'status' | 'interrupted'>, total: number): string[] {
  const signal = report.interrupted?.signal ?? 'SIGINT'
  if (report.status !== 'interrupted') return total === 0 ? ['1..0 # SKIP no checks selected'] : []
  if (total === 0) return [`not ok 1 - run interrupted by ${signal} before any check ran`, '1..1', `# interrupted by ${signal}`]
  return [`# interrupted by ${signal}`, `Bail out! interrupted by ${signal}`]
}
const text = (lines: string[]) => (lines.length ? `${lines.join('\n')}\n` : '')

/**
 * The whole TAP document from a finished report: version, plan first, checks in report order (host
 * by host in a fleet run).
 */
export function renderTap(report: RunReport, opts: TapOptions): string {
  const checks = resultsInOrder(report)
  const lines = header(opts.version, checks.length)
  checks.forEach(({ check, phase }, i) => lines.push(...testPoint(check, i + 1, phase, report.failOn, report.fleet)))
  return text([...lines, ...ending(report, checks.length)])
}

/**
 * Streams: the plan is known at the start (one result per planned check), so each test point is
 * written as its check finishes, in completion order, and a harness reading stdout sees progress.
 */
const streamingTap =
  (version: 13 | 14): ReporterFactory =>
  ({ sink }) => {
    let n = 0
    let total = 0
    let failOn: Severity = 'error'
    let fleet = false
    return {
      onRunStart(run) {
        failOn = run.failOn
        fleet = run.fleet
        total = run.total
        sink.write(text(header(version, run.total)))
      },
      onCheckEnd(result) {
        // hosts finish interleaved: numbers stay sequential, the host prefix says whose check it is
        sink.write(text(testPoint(result, ++n, result.phase, failOn, fleet)))
      },
      onRunEnd(report) {
        sink.write(text(ending(report, total)))
      },
    }
  }

export const tapReporter = streamingTap(13)
export const tap14Reporter = streamingTap(14)
