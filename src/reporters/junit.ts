/**
 * JUnit XML reporter, "portable" profile (report-formats.md §3.5): valid under both the Ant XSD and
 * the Jenkins xUnit junit-10.xsd, so every CI consumer we know of accepts it. Fleet runs get one suite
 * per host and phase (see `suites`).
 */
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport } from '../report/types.js'
import { groupByHost, hostName } from './fleet.js'
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

interface Suite {
  name: string
  classname: string
  hostname: string
  checks: CheckResult[]
  /** per-suite properties, after the run's */
  props: string[][]
}

/**
 * Single-host runs: one suite per phase named after it, classname `nbs.<phase>` (names CI history is
 * keyed on). Fleet runs: one suite per host and phase, `<host>/<phase>` with `hostname` the host and
 * classname `nbs.<host>.<phase>`: Jenkins splits the classname at its last dot, so it shows package
 * `nbs.<host>` with a class per phase, GitLab shows the classname as the suite, and the phase stays
 * the last segment as it is today.
 */
function suites(report: RunReport): Suite[] {
  if (!report.fleet) {
    const hostname = displayName(report.host, 'localhost')
    return report.phases
      .filter((p) => p.checks.length > 0)
      .map((p) => {
        const phase = displayName(p.name, '(unnamed phase)')
        return { name: phase, classname: `nbs.${phase}`, hostname, checks: p.checks, props: [] }
      })
  }
  const summaries = new Map(report.hosts.map((h) => [h.name, h]))
  return groupByHost(report).flatMap((g) => {
    const host = hostName(g.host)
    const summary = summaries.get(g.host)
    const props = [['nbs.host', host]]
    if (summary) props.push(['nbs.target', summary.target], ['nbs.host.status', summary.status])
    if (summary?.unreachableReason !== undefined) props.push(['nbs.unreachable', oneLineMessage(summary.unreachableReason)])
    return g.phases.map((p) => {
      const phase = displayName(p.name, '(unnamed phase)')
      return { name: `${host}/${phase}`, classname: `nbs.${host}.${phase}`, hostname: host, checks: p.checks, props }
    })
  })
}

function render(report: RunReport, limits: Limits): string {
  const props = [['nbs.version', report.tool.version], ['nbs.status', report.status]]
  if (report.flake) props.push(['nbs.flake', report.flake])
  if (report.status === 'interrupted') {
    props.push(['nbs.interrupted', 'true'], ['nbs.signal', report.interrupted?.signal ?? 'SIGINT'])
  }
  const property = ([k, v]: string[]) => `      <property name="${k}" value="${attr(v ?? '', 4096)}"/>`
  let list = suites(report)
  const placeholder = list.length === 0
  if (placeholder) list = [{ name: 'nbs', classname: 'nbs', hostname: displayName(report.host, 'localhost'), checks: [], props: [] }]
  const seen = new Set<string>()
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites>']
  list.forEach((suite, id) => {
    const classname = attr(suite.classname)
    const cases = suite.checks.map((r) => {
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
    const count = (s: CheckResult['status']) => suite.checks.filter((c) => c.status === s).length
    const time = suite.checks.reduce((t, c) => t + (Number.isFinite(c.durationMs) ? Math.max(0, c.durationMs) : 0), 0)
    const started = suite.checks.find((c) => c.startedAt)?.startedAt
    out.push(
      `  <testsuite package="nbs" id="${id}" name="${attr(suite.name)}" hostname="${attr(suite.hostname)}"` +
        ` timestamp="${timestamp(started, report.startedAt)}" tests="${cases.length}"` +
        ` failures="${count('failed')}" errors="${count('errored')}"` +
        ` skipped="${count('skipped') + (placeholder ? 1 : 0)}" time="${seconds(time)}">`,
      '    <properties>',
      ...[...props, ...suite.props].map(property),
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
