/**
 * GitHub Actions reporter (report-formats.md, "CI outputs: GitHub workflow commands…"): one
 * `::error`/`::warning` workflow command per failed check, written to stdout after the run, and a
 * Markdown summary appended to `$GITHUB_STEP_SUMMARY`. Every value from a check is escaped the way
 * the toolkit's `@actions/core` escapes it, so a message can never end the command or start another.
 */
import { appendFile, stat } from 'node:fs/promises'
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport } from '../report/types.js'
import { annotationTarget, formatLocation, resultLocation } from '../report/location.js'
import { brokenChecks, hostName } from './fleet.js'
import { displayName, oneLineMessage, sanitizeText, truncateMiddle } from './sanitize.js'
import type { ReporterFactory, ReportSink } from './types.js'

/** Command data: `%`, CR and LF (the toolkit's `escapeData`); `%` first so nothing is escaped twice. */
export const escapeData = (s: string): string => s.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A')

/** Property values: as data, plus `:` and `,`, which end a value (the toolkit's `escapeProperty`). */
export const escapeProperty = (s: string): string => escapeData(s).replaceAll(':', '%3A').replaceAll(',', '%2C')

/** GitHub shows 10 error and 10 warning annotations per step, 50 per job: more is only noise. */
export const ANNOTATIONS_PER_KIND = 50
/** The step summary upload fails above 1 MiB per step (the file, not just what nbs appends). */
export const STEP_SUMMARY_MAX_BYTES = 1024 * 1024
/** Message data per annotation: the annotation shows the start; the rest is in the logs. */
const MESSAGE_CAP = 4096

export type AnnotationKind = 'error' | 'warning' | 'notice'

/** One workflow command line, without the newline. Properties are written only when set. */
export function workflowCommand(kind: AnnotationKind, props: Record<string, string | number | undefined>, message: string): string {
  const list = Object.entries(props)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
  return `::${kind}${list.length ? ` ${list.join(',')}` : ''}::${escapeData(message)}`
}

/** `title`: the check id (the host first in a fleet run), one line. */
const titleOf = (r: CheckResult, fleet: boolean): string => (fleet ? `${hostName(r.host)}: ${displayName(r.id)}` : displayName(r.id))

function annotationFor(r: CheckResult, kind: 'error' | 'warning', fleet: boolean): string {
  const loc = annotationTarget(r)
  const text = sanitizeText(r.message?.trim() || r.status).trim()
  const message = truncateMiddle(text === '' ? r.status : text, MESSAGE_CAP)
  const props = { file: loc?.file, line: loc?.line, col: loc?.col, title: titleOf(r, fleet) }
  return workflowCommand(kind, props, message)
}

/**
 * The annotation lines of a run: every check that fails the run as `::error`, then every failed
 * warning that does not as `::warning`; errors first because GitHub keeps only the first few.
 */
export function renderAnnotations(report: RunReport, perKind = ANNOTATIONS_PER_KIND): string[] {
  const broken = brokenChecks(report)
  const errors = broken.filter((r) => failsRun(r, report.failOn))
  const warnings = broken.filter((r) => !failsRun(r, report.failOn))
  const out: string[] = []
  for (const [kind, list] of [['error', errors], ['warning', warnings]] as const) {
    out.push(...list.slice(0, perKind).map((r) => annotationFor(r, kind, report.fleet)))
    const more = list.length - perKind
    if (more > 0) out.push(workflowCommand('notice', {}, `${more} more ${kind === 'error' ? 'failed checks' : 'failed warnings'}: see the step summary`))
  }
  return out
}

// --- the step summary -------------------------------------------------------------------------

/** Untrusted text in a GFM table cell: one line, no HTML, no cell or code delimiters. */
export function markdownCell(s: string): string {
  return oneLineMessage(s, 500)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replace(/[|\\`*_[\]]/g, (c) => `\\${c}`)
}

const TRUNCATED_NOTE = (n: number) => `\n_… ${n} more failed check${n === 1 ? '' : 's'} not shown: the step summary is limited to 1 MiB; the JUnit or JSON report has them all._\n`

/** The Markdown summary: counts, then a table of the checks that failed or errored, capped at `maxBytes`. */
export function renderSummary(report: RunReport, maxBytes = STEP_SUMMARY_MAX_BYTES): string {
  const s = report.summary
  const verdict = report.status === 'passed' ? '✅ passed' : report.interrupted ? `⚠️ interrupted by ${report.interrupted.signal}` : '❌ failed'
  const head = [
    `## nbs check: ${verdict}`,
    '',
    `Host: ${markdownCell(report.host)}`,
    '',
    '| Total | Passed | Failed | Errored | Skipped | Warnings |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${s.total} | ${s.passed} | ${s.failed} | ${s.errored} | ${s.skipped} | ${s.warnings} |`,
    '',
  ]
  // the same order as the annotations: what fails the run first
  const broken = brokenChecks(report)
  if (broken.length === 0) return `${head.join('\n')}\n`
  head.push('### Failed checks', '', `| | ${report.fleet ? 'Host | ' : ''}Check | Phase | Location | Message |`, `| --- | ${report.fleet ? '--- | ' : ''}--- | --- | --- | --- |`)
  let text = `${head.join('\n')}\n`
  const bytes = (t: string) => Buffer.byteLength(t)
  let size = bytes(text)
  for (let i = 0; i < broken.length; i++) {
    const r = broken[i]!
    const loc = resultLocation(r)
    const where = loc ? markdownCell(formatLocation(loc)) : ''
    const icon = failsRun(r, report.failOn) ? '❌' : '⚠️'
    const row = `| ${icon} | ${report.fleet ? `${markdownCell(hostName(r.host))} | ` : ''}${markdownCell(displayName(r.id))} | ${markdownCell(r.phase)} | ${where} | ${markdownCell(r.message ?? r.status)} |\n`
    const rest = broken.length - i
    // keep room for the note that says what was left out
    if (size + bytes(row) + bytes(TRUNCATED_NOTE(rest)) > maxBytes) return text + TRUNCATED_NOTE(rest)
    text += row
    size += bytes(row)
  }
  return text
}

/** Appends the summary, capped so the step's whole file stays within GitHub's 1 MiB. */
export async function appendStepSummary(path: string, report: RunReport): Promise<void> {
  const existing = await stat(path).then((st) => st.size, () => 0)
  const room = Math.max(0, STEP_SUMMARY_MAX_BYTES - existing)
  if (room < 512) return // nothing useful fits; writing more would fail the upload of the whole file
  await appendFile(path, `${renderSummary(report, room - 1)}\n`)
}

// --- keeping check output from being read as workflow commands -------------------------------------

/**
 * The runner reads a line as a command when, after leading whitespace, it starts with `::` (or
 * `##[`, the old form). Such a line from untrusted text gets a zero-width space after its first
 * character: it reads the same in the log and is no command.
 */
const COMMAND_START = /^([\s\x85]*)(:(?=:)|#(?=#\[))/gmu

export function neutralizeWorkflowCommands(text: string): string {
  return text.replace(COMMAND_START, '$1$2\u200B')
}

/**
 * A stdout sink whose lines can never be workflow commands: every other stdout reporter writes
 * through this under GitHub Actions. Chunks are buffered to whole lines (a command could span two
 * writes); the rest is written when the line ends or on `flush`.
 */
export function commandSafeSink<S extends ReportSink>(sink: S): S & { flush(): void } {
  let pending = ''
  const write = (chunk: string) => {
    const text = pending + chunk
    const cut = text.lastIndexOf('\n') + 1
    pending = text.slice(cut)
    if (cut > 0) sink.write(neutralizeWorkflowCommands(text.slice(0, cut)))
  }
  const flush = () => {
    if (pending) sink.write(neutralizeWorkflowCommands(pending))
    pending = ''
  }
  return Object.assign(Object.create(sink) as S, { write, flush })
}

export interface GithubReporterOptions {
  /** `$GITHUB_STEP_SUMMARY`; no summary when unset */
  summaryPath?: string
}

export const createGithubReporter =
  (opts: GithubReporterOptions): ReporterFactory =>
  ({ sink }) => ({
    async onRunEnd(report) {
      if (opts.summaryPath) await appendStepSummary(opts.summaryPath, report)
      // the other reporters end in the same turn: let their last lines go first, so the
      // annotations close the log (GitHub reads them from anywhere in it)
      await new Promise((resolve) => setImmediate(resolve))
      const lines = renderAnnotations(report)
      if (lines.length) sink.write(`${lines.join('\n')}\n`)
    },
  })

/** The built-in `github` reporter: reads `$GITHUB_STEP_SUMMARY` when the run starts. */
export const githubReporter: ReporterFactory = (ctx) => createGithubReporter({ summaryPath: process.env.GITHUB_STEP_SUMMARY || undefined })(ctx)
