import type { CheckDefinition } from '../checks/types.js'
import { NbsError } from '../errors.js'
import type { Machine } from '../machine/types.js'
import type { Plan, PlanNode } from './graph.js'

/** The implicit first step of a host reached over ssh; its machine checks need it. */
export const REACHABLE_ID = 'reachable'

/** What `connect` answers: the host answered, or ssh's own reason why not. */
export type Reach = { ok: true } | { ok: false; reason: string }

/** A host's machine that must be connected before its machine checks run (an ssh host). */
export interface ConnectableMachine extends Machine {
  connect(signal?: AbortSignal): Promise<Reach>
  close(): Promise<void>
}

/** run() throws this when the host cannot be reached: reported as errored, kind `Unreachable`. */
export class UnreachableError extends Error {
  override name = 'UnreachableError'
}

/** run() throws this when an unreachable host is allowed (`--allow-unreachable`): reported as skipped. */
export class AllowedUnreachable extends Error {
  override name = 'AllowedUnreachable'
}

export interface HostPlanOptions {
  /** the host these nodes run for */
  host: string
  /** set for a host reached over ssh: the reachable step connects it */
  remote?: { machine: ConnectableMachine; allowUnreachable: boolean; connectTimeoutMs: number }
}

/**
 * The host's own copy of the check graph: every node carries the host, and a host reached over
 * ssh gets a `reachable` step (in the phase of its first machine check) that its machine checks
 * need, so an unreachable host skips them with ssh's reason instead of failing each one.
 */
export function hostPlan(plan: Plan, opts: HostPlanOptions): Plan {
  const nodes: PlanNode[] = plan.nodes.map((n) => ({ ...n, host: opts.host, needs: [...n.needs], after: [...n.after] }))
  const remote = opts.remote
  const machineNodes = nodes.filter((n) => n.runsOn === 'machine')
  if (!remote || machineNodes.length === 0) return { ...plan, nodes }
  const clash = nodes.find((n) => n.id === REACHABLE_ID)
  if (clash) throw new NbsError(`${clash.source}: check id "${REACHABLE_ID}" is taken by nbs's own step for hosts reached over ssh; rename the check`)
  const first = machineNodes.reduce((a, b) => (b.phaseIndex < a.phaseIndex ? b : a))
  const def: CheckDefinition = {
    id: REACHABLE_ID,
    async run(ctx) {
      const reach = await remote.machine.connect(ctx.signal)
      if (reach.ok) return
      if (remote.allowUnreachable) throw new AllowedUnreachable(`unreachable (allowed by --allow-unreachable): ${reach.reason}`)
      throw new UnreachableError(reach.reason)
    },
  }
  const reachable: PlanNode = {
    id: REACHABLE_ID,
    host: opts.host,
    title: `${remote.machine.description} answers`,
    phase: first.phase,
    phaseIndex: first.phaseIndex,
    severity: 'error',
    tags: ['ssh'],
    needs: [],
    after: [],
    runsOn: 'local',
    // connecting is waiting on ssh, not an evaluation: all hosts --parallel allows connect at once
    network: true,
    source: 'nbs:reachable',
    def,
    file: '',
    timeoutMs: remote.connectTimeoutMs,
    retries: 0,
    retryDelayMs: 0,
    options: undefined,
    // excluded machine checks need nothing: an unused connection is still tested when some run
    ...(machineNodes.every((n) => n.excluded) ? { excluded: 'no machine check runs' } : {}),
  }
  for (const n of machineNodes) n.needs.unshift(REACHABLE_ID)
  const at = nodes.indexOf(first)
  nodes.splice(at, 0, reachable)
  return { ...plan, nodes }
}
