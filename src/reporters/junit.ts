/**
 * JUnit XML reporter, "portable" profile (report-formats.md §3.5): valid under both the Ant XSD and
 * the Jenkins xUnit junit-10.xsd, so every CI consumer we know of accepts it. Fleet runs get one suite
 * per host and phase (see `suites`).
 */
import { z } from 'zod'
import { annotationTarget } from '../report/location.js'
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport } from '../report/types.js'
import { groupByHost, hostName } from './fleet.js'
import { displayName, oneLineMessage, safeJson, sanitizeOutput, sanitizeText, truncateMiddle } from './sanitize.js'
import type { ReporterFactory } from './types.js'

/** libxml2 rejects text nodes over 10 MB and GitLab caps files at 30 MB: stay under this. */
export const JUNIT_MAX_BYTES = 10 * 1024 * 1024

export interface JunitOptions {
  /**
   * `file` and `line` on each testcase (where the check points: see `annotationTarget`), as vitest's
   * and jest-junit's `addFileAttribute`: mikepenz, EnricoMi and GitLab annotate that line. Off by
   * default: neither JUnit XSD allows them, and the default report is valid under both.
   */
  fileAttributes?: boolean
}

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

/** Body = message, details, then output: GitLab shows only the element text, not attributes. */
function body(r: CheckResult, limits: Limits): string {
  const part = Math.min(64 * 1024, limits.body)
  const parts = [sanitizeText(truncateMiddle(r.message ?? '', part))]
  if (r.kind) parts.push(`kind: ${r.kind}`)
  if (r.details !== undefined) parts.push(`details: ${sanitizeOutput(safeJson(r.details, 2), part)}`)
  if (r.stdout?.text) parts.push(`--- stdout ---\n${sanitizeOutput(r.stdout.text, part)}`)
  if (r.stderr?.text) parts.push(`--- stderr ---\n${sanitizeOutput(r.stderr.text, part)}`)
  return cappedText(parts.filter((p) => p !== '').join('\n'), limits.body)
}

type Tag = 'failure' | 'error' | 'skipped'

interface Outcome {
  /** the element the testcase holds; none for a passed case (and a tolerated warning) */
  tag?: Tag
  xml: string
}

/**
 * What a testcase holds. A failed or errored warning the run tolerates (no `--fail-on warning`) is a
 * passed testcase: every JUnit consumer counts a `<failure>` as a red run, and nbs exits 0. It stays
 * visible in the suite's `<system-out>` and the run's `nbs.warnings` property (see `warningLog`).
 */
function outcome(r: CheckResult, report: RunReport, limits: Limits): Outcome {
  if (r.status === 'passed') return { xml: '' }
  const message = attr(oneLineMessage(r.message, limits.attr), limits.attr)
  if (r.status === 'skipped') return { tag: 'skipped', xml: `<skipped message="${message || 'skipped'}"/>` }
  if (!failsRun(r, report.failOn)) return { xml: '' }
  const tag = r.status === 'failed' ? 'failure' : 'error'
  return { tag, xml: `<${tag} type="${r.kind ?? 'CheckFailed'}" message="${message || `check ${r.status}`}">${body(r, limits)}</${tag}>` }
}

/** A failed check of severity warning that the verdict does not count (nbs exits 0 for it). */
const toleratedWarning = (r: CheckResult, report: RunReport): boolean =>
  (r.status === 'failed' || r.status === 'errored') && !failsRun(r, report.failOn)

/**
 * The suite's `<system-out>` text: one line per tolerated warning (its case name, status and
 * message), then its message, details and output indented. Neither XSD allows `<system-out>` in an
 * Ant `<testcase>`, so the suite is where a warning stays visible without failing the suite.
 */
function warningLog(entries: { name: string; check: CheckResult }[], limits: Limits): string {
  return entries
    .map(({ name, check }) => {
      const head = `warning ${check.status} (not counted: --fail-on warning would fail the run): ${name}: ${attr(oneLineMessage(check.message, limits.attr), limits.attr) || `check ${check.status}`}`
      const more = body(check, limits)
      return more === '' ? head : `${head}\n${more.replace(/^/gm, '  ')}`
    })
    .join('\n')
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

interface Case {
  /** escaped */
  name: string
  /** ` file="…" line="…"` or '' */
  where: string
  time: string
  outcome: Outcome
  /** set for a tolerated warning: it goes into the suite's system-out */
  warning?: CheckResult
}

/** Exit code 130/143 for an interrupted run: one errored case, so no consumer calls the run passed. */
function interruptedCase(report: RunReport): Case {
  const signal = report.interrupted?.signal ?? 'SIGINT'
  const notRun = report.phases.flatMap((p) => p.checks).filter((c) => c.status === 'skipped' && c.message === 'interrupted').length
  const message = `nbs was stopped by ${signal} before every check had finished (${notRun} not run); it exits ${signal === 'SIGTERM' ? 143 : 130}`
  return { name: `run interrupted by ${signal}`, where: '', time: '0.000', outcome: { tag: 'error', xml: `<error type="Interrupted" message="${xmlEscape(message)}">${xmlEscape(message)}</error>` } }
}

/** The testcase's `file`/`line` attributes (with `fileAttributes`), escaped, with their leading space. */
function fileAttrs(r: CheckResult): string {
  const at = annotationTarget(r)
  if (!at) return ''
  return ` file="${attr(at.file, 4096)}"${at.line ? ` line="${at.line}"` : ''}`
}

function render(report: RunReport, limits: Limits, options: JunitOptions): string {
  const warnings = report.phases.reduce((t, p) => t + p.checks.filter((c) => c.severity === 'warning' && (c.status === 'failed' || c.status === 'errored')).length, 0)
  const props = [['nbs.version', report.tool.version], ['nbs.status', report.status], ['nbs.fail-on', report.failOn], ['nbs.warnings', String(warnings)]]
  if (report.flake) props.push(['nbs.flake', report.flake])
  if (report.status === 'interrupted') {
    props.push(['nbs.interrupted', 'true'], ['nbs.signal', report.interrupted?.signal ?? 'SIGINT'])
  }
  const property = ([k, v]: string[]) => `      <property name="${k}" value="${attr(v ?? '', 4096)}"/>`
  const seen = new Set<string>()
  const list = suites(report).map((suite) => {
    const classname = attr(suite.classname)
    const cases = suite.checks.map((r): Case => {
      const title = displayName(r.title, '')
      const label = title === '' || title === displayName(r.id) ? displayName(r.id) : `${displayName(r.id)}: ${title}`
      const name = uniqueName(seen, classname, attr(label, limits.attr))
      return { name, where: options.fileAttributes ? fileAttrs(r) : '', time: seconds(r.durationMs), outcome: outcome(r, report, limits), ...(toleratedWarning(r, report) ? { warning: r } : {}) }
    })
    return { ...suite, classname, cases }
  })
  // a run-level suite: the interrupt, or a placeholder so that no report is an empty document
  const run = { name: 'nbs', classname: 'nbs', hostname: displayName(report.host, 'localhost'), checks: [], props: [], cases: [] as Case[] }
  if (report.status === 'interrupted') run.cases.push(interruptedCase(report))
  else if (list.length === 0) run.cases.push({ name: 'no checks selected', where: '', time: '0.000', outcome: { tag: 'skipped', xml: '<skipped message="no checks selected"/>' } })
  if (run.cases.length) list.push(run)

  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites>']
  list.forEach((suite, id) => {
    const cases = suite.cases.map(({ name, where, time, outcome: o }) => {
      const open = `      <testcase classname="${suite.classname}" name="${name}"${where} time="${time}"`
      return o.xml === '' ? `${open}/>` : `${open}>\n        ${o.xml}\n      </testcase>`
    })
    // counts come from the elements written, so they can never disagree with the cases
    const count = (tag: Tag) => suite.cases.filter((c) => c.outcome.tag === tag).length
    const time = suite.checks.reduce((t, c) => t + (Number.isFinite(c.durationMs) ? Math.max(0, c.durationMs) : 0), 0)
    const started = suite.checks.find((c) => c.startedAt)?.startedAt
    const log = warningLog(suite.cases.flatMap((c) => (c.warning ? [{ name: c.name, check: c.warning }] : [])), limits)
    out.push(
      `  <testsuite package="nbs" id="${id}" name="${attr(suite.name)}" hostname="${attr(suite.hostname)}"` +
        ` timestamp="${timestamp(started, report.startedAt)}" tests="${cases.length}"` +
        ` failures="${count('failure')}" errors="${count('error')}"` +
        ` skipped="${count('skipped')}" time="${seconds(time)}">`,
      '    <properties>',
      ...[...props, ...suite.props].map(property),
      '    </properties>',
      ...cases,
      `    <system-out>${log}</system-out>`,
      '    <system-err></system-err>',
      '  </testsuite>',
    )
  })
  out.push('</testsuites>')
  return `${out.join('\n')}\n`
}

/** The JUnit document; per-check text shrinks with the number of checks to keep the file ≤ 10 MB. */
export function renderJunit(report: RunReport, options: JunitOptions = {}): string {
  const n = Math.max(1, report.phases.reduce((t, p) => t + p.checks.length, 0))
  const roomy = Math.floor((8 * 1024 * 1024) / n) - 4096
  const xml = render(report, { body: Math.min(256 * 1024, Math.max(512, roomy)), attr: 1024 }, options)
  if (Buffer.byteLength(xml) <= JUNIT_MAX_BYTES) return xml
  return render(report, { body: 0, attr: 128 }, options) // thousands of checks: keep names and statuses only
}

export const junitReporter: ReporterFactory = ({ sink, options }) => ({
  onRunEnd(report) {
    sink.write(renderJunit(report, options as JunitOptions))
  },
})
junitReporter.options = z.object({ fileAttributes: z.boolean().optional() }).strict()
