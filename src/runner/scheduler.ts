import { failsRun } from '../report/summary.js'
import type { CheckResult, PlannedCheck, Severity } from '../report/types.js'
import { plannedCheck, type Plan, type PlanNode } from './graph.js'
import { runCheck, skippedResult, type CheckEnv, type DependencyOutcome } from './run-check.js'

export interface ScheduleOptions {
  concurrency: number
  bail: boolean
  failOn: Severity
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
  let stopReason: string | undefined

  return new Promise((resolveAll) => {
    const enqueue = (node: PlanNode) => {
      // keep the queue in plan order, so earlier phases start first
      const at = ready.findIndex((r) => order.get(r.id)! > order.get(node.id)!)
      ready.splice(at < 0 ? ready.length : at, 0, node)
    }

    const finish = (node: PlanNode, result: CheckResult, data?: unknown) => {
      results.push(result)
      outcomes.set(node.id, { status: result.status, message: result.message, data })
      opts.onCheckEnd?.(result)
      if (opts.bail && !stopReason && failsRun(result, opts.failOn)) stopReason = `bail: ${node.id} ${result.status}`
      for (const next of dependents.get(node.id) ?? []) {
        const left = remaining.get(next.id)! - 1
        remaining.set(next.id, left)
        if (left === 0) release(next)
      }
    }

    /** All needs are done: run it, or skip it with the reason. */
    const release = (node: PlanNode) => {
      if (stopReason) return finish(node, skippedResult(node, stopReason))
      if (node.excluded) return finish(node, skippedResult(node, node.excluded))
      const blocker = node.needs.find((dep) => outcomes.get(dep)!.status !== 'passed')
      if (blocker) return finish(node, skippedResult(node, `dependency ${blocker} ${outcomes.get(blocker)!.status}`))
      enqueue(node)
    }

    const start = (node: PlanNode) => {
      running++
      opts.onCheckStart?.(plannedCheck(node))
      const deps = Object.fromEntries(waitsFor(node).map((dep) => [dep, outcomes.get(dep)!]))
      runCheck(node, env, deps).then(({ result, data }) => {
        running--
        finish(node, result, data)
        pump()
      })
    }

    const pump = () => {
      if (env.signal.aborted) stopReason ??= 'interrupted'
      while (stopReason && ready.length) {
        const node = ready.shift()!
        finish(node, skippedResult(node, stopReason))
      }
      while (!stopReason && running < opts.concurrency && ready.length) start(ready.shift()!)
      if (running === 0 && results.length === plan.nodes.length) {
        env.signal.removeEventListener('abort', pump)
        resolveAll(results)
      }
    }

    env.signal.addEventListener('abort', pump, { once: true })
    for (const n of plan.nodes) if (waitsFor(n).length === 0) release(n)
    pump()
  })
}
