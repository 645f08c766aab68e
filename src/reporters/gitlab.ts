/**
 * GitLab Code Quality reporter (`artifacts:reports:codequality`): a JSON array with one issue per
 * check that failed or errored, so a merge request shows the failing line and tells new problems
 * from fixed ones. GitLab's rules, from gitlabhq:
 * - each entry is validated against `app/validators/json_schemas/codeclimate.json` (description,
 *   fingerprint, severity strings and a location object required; `location.lines.begin` an
 *   integer), and the parser (`lib/gitlab/ci/parsers/codequality/code_climate.rb`) STOPS at the
 *   first invalid entry: every entry must be valid or the rest are lost;
 * - it builds a link from `location.path` and the line, so the path must always be a string,
 *   relative to the repository root (`doc/ci/testing/code_quality.md`, "Implement a custom tool");
 * - entries are keyed by `fingerprint` (`lib/gitlab/ci/reports/codequality_reports.rb`) and a
 *   branch is compared with its target by fingerprint (`codequality_reports_comparer.rb`): equal
 *   fingerprints collapse, and a fingerprint that changes between runs reads as "fixed + new";
 * - no byte order mark.
 * The file sink writes it atomically (temp file + rename).
 */
import { createHash } from 'node:crypto'
import { annotationTarget } from '../report/location.js'
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport } from '../report/types.js'
import { brokenChecks, hostName } from './fleet.js'
import { displayName, oneLineMessage, toWellFormed } from './sanitize.js'
import type { ReporterFactory } from './types.js'

/** GitLab's severities, most severe first (its `SEVERITY_PRIORITIES`). */
export type CodeQualitySeverity = 'blocker' | 'critical' | 'major' | 'minor' | 'info'

export interface CodeQualityIssue {
  /** Code Climate's issue type; GitLab ignores it, Code Climate consumers require it */
  type: 'issue'
  check_name: string
  description: string
  /** Code Climate's content: the description as Markdown text (GitLab renders it in the diff view) */
  content: { body: string }
  categories: string[]
  engine_name: 'nbs'
  fingerprint: string
  severity: CodeQualitySeverity
  location: { path: string; lines: { begin: number } }
}

/** The description shows in the MR widget: one line, a sentence or so; the JUnit/JSON report has the rest. */
export const DESCRIPTION_MAX_BYTES = 1024

/** Where a check lives when it has no file in the repository (nbs's built-ins, the `reachable` step). */
export const FALLBACK_PATH = 'flake.nix'

/**
 * A failed or errored check that fails the run (exit 1) is `major`; a failed warning the run
 * tolerates (no `--fail-on warning`) is `minor`, as linters' error/warning map to GitLab's.
 */
export const severityOf = (r: CheckResult, report: Pick<RunReport, 'failOn'>): CodeQualitySeverity => (failsRun(r, report.failOn) ? 'major' : 'minor')

/** The Nix error position when it is a repository path, else the check's own file at line 1, else the flake. */
export function locationOf(r: CheckResult): { path: string; line: number } {
  const at = annotationTarget(r)
  return { path: at?.file ?? FALLBACK_PATH, line: at?.line ?? 1 }
}

/**
 * Stable across runs for the same problem: host, check id and file, nothing that changes from run to
 * run (no time, no output, no line: an edit above the error must not make it "new").
 */
export function fingerprintOf(host: string, id: string, path: string, occurrence = 1): string {
  const key = JSON.stringify(occurrence > 1 ? [host, id, path, occurrence] : [host, id, path])
  return createHash('sha256').update(toWellFormed(key)).digest('hex')
}

/**
 * Untrusted text as literal Markdown: the characters that start markup in GitLab Flavored Markdown
 * (emphasis, code, links and images, HTML, headings, tables, strikethrough, `@user`, `#123`, `~label`,
 * `$math$`, `:emoji:`, `{+ +}`, entities) are backslash-escaped, which CommonMark allows for any ASCII
 * punctuation. The text stays readable when shown raw.
 */
export const markdownText = (s: string): string => s.replace(/[\\`*_[\]<>#!|~@$&:%{}]/g, '\\$&')

/** The issues of a run, what fails the run first; a passed run has none. */
export function codeQualityIssues(report: RunReport): CodeQualityIssue[] {
  const broken = brokenChecks(report)
  const seen = new Map<string, number>()
  return broken.map((r) => {
    const { path, line } = locationOf(r)
    const id = displayName(r.id)
    // GitLab keeps one entry per fingerprint: the same check twice (a duplicate id) stays two issues
    const key = JSON.stringify([r.host, r.id, path])
    const occurrence = (seen.get(key) ?? 0) + 1
    seen.set(key, occurrence)
    const description = oneLineMessage(r.message, DESCRIPTION_MAX_BYTES) || `check ${r.status}`
    return {
      type: 'issue',
      check_name: report.fleet ? `${hostName(r.host)}: ${id}` : id,
      description,
      content: { body: markdownText(description) },
      categories: ['Bug Risk'],
      engine_name: 'nbs',
      fingerprint: fingerprintOf(r.host, r.id, path, occurrence),
      severity: severityOf(r, report),
      location: { path, lines: { begin: line } },
    }
  })
}

/** The report file: a JSON array, newline-terminated, no BOM (`[]` for a passed run). */
export const renderCodeQuality = (report: RunReport): string => `${JSON.stringify(codeQualityIssues(report), null, 2)}\n`

export const gitlabReporter: ReporterFactory = Object.assign(
  ({ sink }: Parameters<ReporterFactory>[0]) => ({
    onRunEnd(report: RunReport) {
      sink.write(renderCodeQuality(report))
    },
  }),
  { output: { fileRequired: true, example: 'gitlab:gl-code-quality-report.json' } },
)
