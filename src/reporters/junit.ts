/**
 * JUnit XML reporter, "portable" profile (report-formats.md §3.5): valid under both the Ant XSD and
 * the Jenkins xUnit junit-10.xsd, so every CI consumer we know of accepts it.
 */
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport } from '../report/types.js'
import { displayName, oneLineMessage, sanitizeOutput, sanitizeText, truncateMiddle } from './sanitize.js'
import type { ReporterFactory } from './types.js'

/** libxml2 rejects text nodes over 10 MB and GitLab caps files at 30 MB: stay under this. */
export const JUNIT_MAX_BYTES = 10 * 1024 * 1024

interface Limits {
  /** bytes of escaped body text per testcase */
  body: number
  /** bytes of name / message attributes before escaping */
  attr: number
}

/** `&<>"` only; every other character is already a legal XML Char after sanitizing. */
export const xmlEscape = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'))

const attr = (s: string, max = 1024): string => xmlEscape(truncateMiddle(displayName(s, ''), max))

/** Escaped text of at most `max` bytes (escaping can grow `&` fivefold, so measure afterwards). */
function cappedText(text: string, max: number): string {
  if (max <= 0) return ''
  let out = xmlEscape(truncateMiddle(text, max))
  for (let cap = max; Buffer.byteLength(out) > max && cap > 0; ) {
    cap = Math.floor((cap * max) / Buffer.byteLength(out) / 1.05)
    out = xmlEscape(truncateMiddle(text, cap))
  }
  return out
}

/** Seconds with exactly 3 decimals: xs:decimal for Ant, ≤ 3 decimals for junit-10, no exponent. */
export const seconds = (ms: number): string =>
  Number.isFinite(ms) ? Math.min(Math.max(0, ms / 1000), 1e12).toFixed(3) : '0.000'

/** `YYYY-MM-DDTHH:MM:SS` in UTC: the Ant XSD allows neither a zone nor a fraction. */
export function timestamp(...candidates: (string | undefined)[]): string {
  for (const c of candidates) {
    const t = c === undefined ? NaN : Date.parse(c)
    if (Number.isFinite(t)) return new Date(t).toISOString().slice(0, 19)
  }
  return '1970-01-01T00:00:00'
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x), 2) ?? String(v)
  } catch {
    return String(v)
  }
}

/** Body = message, details, then output: GitLab shows only the element text, not attributes. */
function body(r: CheckResult, limits: Limits): string {
  const part = Math.min(64 * 1024, limits.body)
  const parts = [sanitizeText(truncateMiddle(r.message ?? '', part))]
  if (r.kind) parts.push(`kind: ${r.kind}`)
  if (r.details !== undefined) parts.push(`details: ${sanitizeOutput(safeJson(r.details), part)}`)
  if (r.stdout?.text) parts.push(`--- stdout ---\n${sanitizeOutput(r.stdout.text, part)}`)
  if (r.stderr?.text) parts.push(`--- stderr ---\n${sanitizeOutput(r.stderr.text, part)}`)
  return cappedText(parts.filter((p) => p !== '').join('\n'), limits.body)
}

function outcome(r: CheckResult, report: RunReport, limits: Limits): string {
  if (r.status === 'passed') return ''
  const message = attr(oneLineMessage(r.message, limits.attr), limits.attr)
  if (r.status === 'skipped') return `<skipped message="${message || 'skipped'}"/>`
  // A warning that does not fail the run is still shown, but typed so it is recognisable.
  const type = failsRun(r, report.failOn) ? (r.kind ?? 'CheckFailed') : 'Warning'
  const tag = r.status === 'failed' ? 'failure' : 'error'
  return `<${tag} type="${type}" message="${message || `check ${r.status}`}">${body(r, limits)}</${tag}>`
}

/** Unique `name` per classname: GitLab keeps only the first of duplicates, mikepenz merges them. */
function uniqueName(seen: Set<string>, classname: string, name: string): string {
  let candidate = name
  for (let n = 2; seen.has(`${classname}\0${candidate}`); n++) candidate = `${name} [${n}]`
  seen.add(`${classname}\0${candidate}`)
  return candidate
}

function render(report: RunReport, limits: Limits): string {
  const host = attr(displayName(report.host, 'localhost'))
  const props = [['nbs.version', report.tool.version], ['nbs.status', report.status]]
  if (report.flake) props.push(['nbs.flake', report.flake])
  if (report.status === 'interrupted') {
    props.push(['nbs.interrupted', 'true'], ['nbs.signal', report.interrupted?.signal ?? 'SIGINT'])
  }
  const properties = props.map(([k, v]) => `      <property name="${k}" value="${attr(v ?? '', 4096)}"/>`)
  let phases = report.phases.filter((p) => p.checks.length > 0)
  const placeholder = phases.length === 0
  if (placeholder) phases = [{ name: 'nbs', checks: [] }]
  const seen = new Set<string>()
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites>']
  phases.forEach((phase, id) => {
    const phaseName = displayName(phase.name, '(unnamed phase)')
    const classname = attr(placeholder ? 'nbs' : `nbs.${phaseName}`)
    const cases = phase.checks.map((r) => {
      const title = displayName(r.title, '')
      const label = title === '' || title === displayName(r.id) ? displayName(r.id) : `${displayName(r.id)}: ${title}`
      const name = uniqueName(seen, classname, attr(label, limits.attr))
      const inner = outcome(r, report, limits)
      const open = `      <testcase classname="${classname}" name="${name}" time="${seconds(r.durationMs)}"`
      return inner === '' ? `${open}/>` : `${open}>\n        ${inner}\n      </testcase>`
    })
    if (placeholder) {
      cases.push(`      <testcase classname="${classname}" name="no checks selected" time="0.000">`
        + `\n        <skipped message="no checks selected"/>\n      </testcase>`)
    }
    const count = (s: CheckResult['status']) => phase.checks.filter((c) => c.status === s).length
    const time = phase.checks.reduce((t, c) => t + (Number.isFinite(c.durationMs) ? Math.max(0, c.durationMs) : 0), 0)
    const started = phase.checks.find((c) => c.startedAt)?.startedAt
    out.push(
      `  <testsuite package="nbs" id="${id}" name="${attr(phaseName)}" hostname="${host}"` +
        ` timestamp="${timestamp(started, report.startedAt)}" tests="${cases.length}"` +
        ` failures="${count('failed')}" errors="${count('errored')}"` +
        ` skipped="${count('skipped') + (placeholder ? 1 : 0)}" time="${seconds(time)}">`,
      '    <properties>',
      ...properties,
      '    </properties>',
      ...cases,
      '    <system-out></system-out>',
      '    <system-err></system-err>',
      '  </testsuite>',
    )
  })
  out.push('</testsuites>')
  return `${out.join('\n')}\n`
}

/** The JUnit document; per-check text shrinks with the number of checks to keep the file ≤ 10 MB. */
export function renderJunit(report: RunReport): string {
  const n = Math.max(1, report.phases.reduce((t, p) => t + p.checks.length, 0))
  const roomy = Math.floor((8 * 1024 * 1024) / n) - 4096
  const xml = render(report, { body: Math.min(256 * 1024, Math.max(512, roomy)), attr: 1024 })
  if (Buffer.byteLength(xml) <= JUNIT_MAX_BYTES) return xml
  return render(report, { body: 0, attr: 128 }) // thousands of checks: keep names and statuses only
}

export const junitReporter: ReporterFactory = ({ sink }) => ({
  onRunEnd(report) {
    sink.write(renderJunit(report))
  },
})
