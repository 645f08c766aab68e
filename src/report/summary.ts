import type { CheckResult, RunStatus, RunSummary, Severity } from './types.js'

/** A failed or errored check fails the run unless it is a warning and warnings are tolerated. */
export function failsRun(result: Pick<CheckResult, 'status' | 'severity'>, failOn: Severity): boolean {
  if (result.status !== 'failed' && result.status !== 'errored') return false
  return result.severity === 'error' || failOn === 'warning'
}

export function summarize(results: readonly CheckResult[]): RunSummary {
  const summary: RunSummary = { total: results.length, passed: 0, failed: 0, errored: 0, skipped: 0, warnings: 0, notThisMachine: 0 }
  for (const r of results) {
    summary[r.status]++
    if (r.severity === 'warning' && (r.status === 'failed' || r.status === 'errored')) summary.warnings++
    if (r.skip === 'not-this-machine') summary.notThisMachine++
  }
  return summary
}

export function runStatus(results: readonly CheckResult[], failOn: Severity, interrupted: boolean): RunStatus {
  if (interrupted) return 'interrupted'
  return results.some((r) => failsRun(r, failOn)) ? 'failed' : 'passed'
}
