/**
 * Prometheus reporter: a node_exporter textfile (report-formats.md §6). Gauges only, base units, no
 * sample timestamps (node_exporter drops the whole file if one sample has one), every sample of a
 * metric in one group after its HELP and TYPE. The file sink writes it atomically (temp file in the
 * same folder, fsync, rename) with mode 0644 whatever the umask, so the exporter, which runs as
 * another user, never reads half a file or none.
 *
 * Skipped checks never ran: they get no `nbs_check_success` (a fake 0 would page someone, a fake 1
 * would hide a check that stopped running) and no duration; `nbs_check_skipped` says 1 for them and
 * 0 for every check that ran, so each planned check has a series in every run.
 */
import type { CheckResult, CheckStatus, RunReport } from '../report/types.js'
import { resultsInOrder } from './fleet.js'
import { toWellFormed } from './sanitize.js'
import type { ReporterFactory } from './types.js'

const STATUSES: readonly CheckStatus[] = ['passed', 'failed', 'errored', 'skipped']

/** A label value per the text exposition format: only `\\`, `\"` and `\n` are escapes; valid UTF-8. */
export function escapeLabelValue(s: string): string {
  return toWellFormed(s).replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'))
}

/** A sample value: finite numbers as JS prints them (Go's ParseFloat reads `1e-7` too), else 0. */
const value = (n: number): string => (Number.isFinite(n) ? String(n) : '0')

const seconds = (ms: number): string => value(Math.max(0, ms) / 1000)

const unixSeconds = (iso: string): string => value(Date.parse(iso) / 1000)

interface Metric {
  name: string
  help: string
  samples: { labels?: Record<string, string>; value: string }[]
}

function renderMetric(m: Metric): string {
  const lines = [`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} gauge`]
  for (const s of m.samples) {
    const labels = Object.entries(s.labels ?? {}).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    lines.push(`${m.name}${labels.length ? `{${labels.join(',')}}` : ''} ${s.value}`)
  }
  return lines.join('\n')
}

/** The textfile for one run: newline-terminated, one group per metric, each label set once. */
export function renderPrometheus(report: RunReport): string {
  const seen = new Set<string>()
  const results: { check: CheckResult; labels: Record<string, string> }[] = []
  for (const { check, phase } of resultsInOrder(report)) {
    const labels = { host: check.host, check: check.id, phase }
    // a duplicate series is a parse error that drops the whole file: keep the first
    const key = JSON.stringify([escapeLabelValue(check.host), escapeLabelValue(check.id), escapeLabelValue(phase)])
    if (seen.has(key)) continue
    seen.add(key)
    results.push({ check, labels })
  }
  const ran = results.filter((r) => r.check.status !== 'skipped')
  const metrics: Metric[] = [
    {
      name: 'nbs_check_success',
      help: 'Whether the check passed (1) or failed or errored (0) in the last nbs run; absent for skipped checks.',
      samples: ran.map((r) => ({ labels: r.labels, value: r.check.status === 'passed' ? '1' : '0' })),
    },
    {
      name: 'nbs_check_skipped',
      help: 'Whether the check was skipped (1) or ran (0) in the last nbs run.',
      samples: results.map((r) => ({ labels: r.labels, value: r.check.status === 'skipped' ? '1' : '0' })),
    },
    {
      name: 'nbs_check_duration_seconds',
      help: 'Wall time of the check in the last nbs run, all attempts; absent for skipped checks.',
      samples: ran.map((r) => ({ labels: r.labels, value: seconds(r.check.durationMs) })),
    },
    {
      name: 'nbs_checks',
      help: 'Number of checks per status in the last nbs run.',
      samples: STATUSES.map((status) => ({ labels: { status }, value: String(results.filter((r) => r.check.status === status).length) })),
    },
    {
      name: 'nbs_run_success',
      help: 'Whether the last nbs run passed (1), as its exit code says, or not (0).',
      samples: [{ value: report.status === 'passed' ? '1' : '0' }],
    },
    {
      name: 'nbs_run_duration_seconds',
      help: 'Wall time of the last nbs run.',
      samples: [{ value: seconds(report.durationMs) }],
    },
    {
      name: 'nbs_run_timestamp_seconds',
      help: 'Unix time the last nbs run finished.',
      samples: [{ value: unixSeconds(report.finishedAt) }],
    },
  ]
  return `${metrics.map(renderMetric).join('\n')}\n`
}

export const prometheusReporter: ReporterFactory = Object.assign(
  ({ sink }: Parameters<ReporterFactory>[0]) => ({
    onRunEnd(report: RunReport) {
      sink.write(renderPrometheus(report))
    },
  }),
  { output: { fileRequired: true, fileMode: 0o644, example: 'prometheus:/var/lib/prometheus/node-exporter/nbs.prom' } },
)
