import { VERSION } from '../version.js'
import { limiter } from '../runner/limiter.js'
import type { HostTarget } from '../runner/targets.js'
import { quickLocality } from '../machine/locality.js'
import { createStatusReport, statusExitCode, type OverallStatus, type StatusOptions, type StatusReport } from './report.js'

/** One host of `nbs status --on`: its full report, or why there is none. */
export interface FleetStatusRow {
  name: string
  /** how it was reached: `ssh root@web1`, `this machine` */
  target: string
  /** `unreachable`: ssh could not connect (`reason` says why); `not-reached`: no targetHost and not this machine */
  state: 'reported' | 'unreachable' | 'not-reached'
  reason?: string
  report?: StatusReport
}

export interface FleetStatus {
  version: string
  timestamp: string
  /** the `--on` selection */
  on: string
  hosts: FleetStatusRow[]
  /** the worst host's status; `unreachable` when a host could not be reached and nothing is worse */
  overallStatus: OverallStatus | 'unreachable'
}

/**
 * Exit code of a fleet: the worst host's (2 build errors, 1 out of sync). A host ssh cannot reach
 * is 1: nbs cannot say it runs what the flake says (0 with `--allow-unreachable`). A host without
 * a target that is not this machine is listed and does not count, as its checks are skipped.
 */
export function fleetExitCode(f: FleetStatus, allowUnreachable = false): 0 | 1 | 2 {
  let worst: 0 | 1 | 2 = 0
  for (const h of f.hosts) {
    const code = h.report ? statusExitCode(h.report.overallStatus) : h.state === 'unreachable' && !allowUnreachable ? 1 : 0
    if (code > worst) worst = code
  }
  return worst
}

const RANK: Record<FleetStatus['overallStatus'], number> = { success: 0, degraded: 1, unreachable: 2, 'out-of-sync': 3, 'build-errors': 4 }

/** Every selected host's status, `parallel` at once; a host that cannot be reached never holds back the others. */
export async function createFleetStatus(opts: { on: string; targets: HostTarget[]; base: StatusOptions; parallel: number; hostname: string | null }): Promise<FleetStatus> {
  const slots = limiter(opts.parallel)
  const hosts = await Promise.all(
    opts.targets.map((t) =>
      slots.run(async (): Promise<FleetStatusRow> => {
        const row = { name: t.host.name, target: t.target }
        if (t.remote) {
          try {
            const reach = await t.remote.connect()
            if (!reach.ok) return { ...row, state: 'unreachable', reason: reach.reason }
            return { ...row, state: 'reported', report: await createStatusReport({ ...opts.base, host: t.host.name, machine: t.remote }) }
          } finally {
            await t.remote.close()
          }
        }
        const here = quickLocality({ host: t.host.name, hostname: opts.hostname, configLocal: t.host.local })
        if (!here) return { ...row, state: 'not-reached', reason: `${t.host.name} has no targetHost and is not this machine (${opts.hostname ?? 'unknown host name'}); give it a targetHost, or mark it local: true` }
        return { ...row, state: 'reported', report: await createStatusReport({ ...opts.base, host: t.host.name, hostLocal: t.host.local === true }) }
      }),
    ),
  )
  let overallStatus: FleetStatus['overallStatus'] = 'success'
  for (const h of hosts) {
    const s = h.report?.overallStatus ?? (h.state === 'unreachable' ? 'unreachable' : 'success')
    if (RANK[s] > RANK[overallStatus]) overallStatus = s
  }
  return { version: VERSION, timestamp: new Date().toISOString(), on: opts.on, hosts, overallStatus }
}
