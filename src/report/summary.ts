import type { CheckResult, HostSummary, RunStatus, RunSummary, Severity } from './types.js'

/** A failed or errored check fails the run unless it is a warning and warnings are tolerated. */
export function failsRun(result: Pick<CheckResult, 'status' | 'severity'>, failOn: Severity): boolean {
  if (result.status !== 'failed' && result.status !== 'errored') return false
  return result.severity === 'error' || failOn === 'warning'
}

export function summarize(results: readonly CheckResult[]): RunSummary {
  const summary: RunSummary = { total: results.length, passed: 0, failed: 0, errored: 0, skipped: 0, warnings: 0, notThisMachine: 0, unreachable: 0 }
  for (const r of results) {
    summary[r.status]++
    if (r.severity === 'warning' && (r.status === 'failed' || r.status === 'errored')) summary.warnings++
    if (r.skip === 'not-this-machine') summary.notThisMachine++
    if (r.skip === 'unreachable') summary.unreachable++
  }
  return summary
}

export function runStatus(results: readonly CheckResult[], failOn: Severity, interrupted: boolean): RunStatus {
  if (interrupted) return 'interrupted'
  return results.some((r) => failsRun(r, failOn)) ? 'failed' : 'passed'
}

/** One host's line of the report: its counts, status and slowest check. */
export function hostSummary(
  host: Pick<HostSummary, 'name' | 'target' | 'reachable' | 'unreachableReason'>,
  results: readonly CheckResult[],
  failOn: Severity,
  interrupted: boolean,
): HostSummary {
  const own = results.filter((r) => r.host === host.name)
  let slowest: HostSummary['slowest']
  for (const r of own) if (r.attempts.length && (!slowest || r.durationMs > slowest.durationMs)) slowest = { id: r.id, durationMs: r.durationMs }
  return {
    name: host.name,
    target: host.target,
    ...(host.reachable ? { reachable: host.reachable } : {}),
    ...(host.unreachableReason ? { unreachableReason: host.unreachableReason } : {}),
    status: runStatus(own, failOn, interrupted),
    summary: summarize(own),
    ...(slowest ? { slowest } : {}),
  }
}
