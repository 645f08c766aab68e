import { redactResult } from '../report/redact.js'
import { failsRun } from '../report/summary.js'
import type { CheckResult, PlannedCheck, Severity } from '../report/types.js'
import { plannedCheck, type Plan, type PlanNode } from './graph.js'
import { REACHABLE_ID } from './host-plan.js'
import type { Limiter } from './limiter.js'
import { erroredResult, runCheck, skippedResult, type CheckEnv, type DependencyOutcome } from './run-check.js'

export interface ScheduleOptions {
  concurrency: number
  bail: boolean
  /**
   * shared by the hosts of a fleet run: a bail on one host stops starting checks on every host
   * (set by the first failure; read before each start)
   */
  stop?: { reason?: string }
  /** shared slots for `runsOn: 'local'` checks across hosts, bar network steps (default: only `concurrency` limits them) */
  localSlots?: Limiter
  failOn: Severity
  /** secrets in results are redacted before anyone sees them (`--no-redact` turns it off) */
  redact?: boolean
  /** applied to each result before redaction (run-checks maps Nix store paths back to the checkout) */
  prepare?(result: CheckResult): CheckResult
  env: CheckEnv
  onCheckStart?(check: PlannedCheck): void
  onCheckEnd?(result: CheckResult): void
}

/**
 * Runs the plan as a DAG: a check starts as soon as everything it needs has passed and a slot is
 * free. Phases only order the queue (earlier phases first); they are not barriers, so an unrelated
 * slow check never holds back later phases. Resolves with the results in completion order.
 */
export function schedule(plan: Plan, opts: ScheduleOptions): Promise<CheckResult[]> {
  const { env } = opts
  const order = new Map(plan.nodes.map((n, i) => [n.id, i]))
  const waitsFor = (n: PlanNode) => [...n.needs, ...n.after]
  const remaining = new Map(plan.nodes.map((n) => [n.id, waitsFor(n).length]))
  const dependents = new Map<string, PlanNode[]>()
  for (const n of plan.nodes) for (const dep of waitsFor(n)) dependents.set(dep, [...(dependents.get(dep) ?? []), n])
  const outcomes = new Map<string, DependencyOutcome>()
  const ready: PlanNode[] = []
  const results: CheckResult[] = []
  let running = 0
  const stop = opts.stop ?? {}

  return new Promise((resolveAll, failAll) => {
    // a listener that throws (a reporter's bug) must not stop the scheduling: the caller's
    // listeners report their own errors, these only keep the run going
    const listen = (call: () => void) => {
      try {
        call()
      } catch {
        // the listener's problem, not the check's
      }
    }

    const enqueue = (node: PlanNode) => {
      // keep the queue in plan order, so earlier phases start first
      const at = ready.findIndex((r) => order.get(r.id)! > order.get(node.id)!)
      ready.splice(at < 0 ? ready.length : at, 0, node)
    }

    const finish = (node: PlanNode, raw: CheckResult, data?: unknown) => {
      // the one place a result becomes visible: reporters, hooks and the run report get it redacted
      const prepared = opts.prepare ? opts.prepare(raw) : raw
      const result = opts.redact ? redactResult(prepared) : prepared
      results.push(result)
      outcomes.set(node.id, { status: result.status, message: result.message, data })
      listen(() => opts.onCheckEnd?.(result))
      if (opts.bail && !stop.reason && failsRun(result, opts.failOn)) stop.reason = `bail: ${opts.stop ? `${node.host} ` : ''}${node.id} ${result.status}`
      for (const next of dependents.get(node.id) ?? []) {
        const left = remaining.get(next.id)! - 1
        remaining.set(next.id, left)
        if (left === 0) release(next)
      }
    }

    /** All needs are done: run it, or skip it with the reason. */
    const release = (node: PlanNode) => {
      if (stop.reason) return finish(node, skippedResult(node, stop.reason))
      if (node.excluded) return finish(node, skippedResult(node, node.excluded))
      const blocker = node.needs.find((dep) => outcomes.get(dep)!.status !== 'passed')
      if (blocker === REACHABLE_ID) {
        const why = outcomes.get(blocker)!
        return finish(node, { ...skippedResult(node, `host unreachable${why.message ? `: ${why.message.replace(/^unreachable \(allowed[^)]*\): /, '')}` : ''}`), skip: 'unreachable' })
      }
      if (blocker) return finish(node, skippedResult(node, `dependency ${blocker} ${outcomes.get(blocker)!.status}`))
      enqueue(node)
    }

    const start = (node: PlanNode) => {
      running++
      const deps = Object.fromEntries(waitsFor(node).map((dep) => [dep, outcomes.get(dep)!]))
      // a local check waiting for a shared slot has not started: its timeout and its start event wait too
      const run = () => {
        listen(() => opts.onCheckStart?.(plannedCheck(node)))
        return runCheck(node, env, deps)
      }
      // any throw on the way (ours, the check's, a transport's) is this check's error, never an
      // unhandled rejection that ends the run without its reports
      Promise.resolve()
        .then(() => (node.runsOn === 'local' && !node.network && opts.localSlots ? opts.localSlots.run(run) : run()))
        .catch((e: unknown) => ({ result: erroredResult(node, e), data: undefined }))
        .then(({ result, data }) => {
          running--
          settle(node, result, data)
        })
    }

    /** finish + pump, guarded: a throw in them fails the run's promise instead of floating */
    const settle = (node: PlanNode, result: CheckResult, data?: unknown) => {
      try {
        finish(node, result, data)
        pump()
      } catch (e) {
        failAll(e)
      }
    }

    const pump = () => {
      if (env.signal.aborted) stop.reason ??= 'interrupted'
      while (stop.reason && ready.length) {
        const node = ready.shift()!
        finish(node, skippedResult(node, stop.reason))
      }
      while (!stop.reason && running < opts.concurrency && ready.length) start(ready.shift()!)
      if (running === 0 && results.length === plan.nodes.length) {
        env.signal.removeEventListener('abort', onAbort)
        resolveAll(results)
      }
    }

    const onAbort = () => {
      try {
        pump()
      } catch (e) {
        failAll(e)
      }
    }
    env.signal.addEventListener('abort', onAbort, { once: true })
    try {
      for (const n of plan.nodes) if (waitsFor(n).length === 0) release(n)
      pump()
    } catch (e) {
      failAll(e)
    }
  })
}
