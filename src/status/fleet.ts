import { availableParallelism } from 'node:os'
import type { Exec } from '../checks/types.js'
import { boundMachine } from '../machine/bound.js'
import { quickLocality } from '../machine/locality.js'
import { limiter } from '../runner/limiter.js'
import type { HostTarget } from '../runner/targets.js'
import { VERSION } from '../version.js'
import { createStatusReport, statusExitCode, type OverallStatus, type StatusOptions, type StatusReport } from './report.js'

/** One host of `nbs status --on`: its full report, or why there is none. */
export interface FleetStatusRow {
  name: string
  /** how it was reached: `ssh root@web1`, `this machine` */
  target: string
  /**
   * `reported`: read (see `report`); `unreachable`: ssh could not connect, the connection failed
   * while reading, or the host did not answer in time (`reason` says which); `not-reached`: no
   * targetHost and not this machine; `interrupted`: Ctrl-C came first
   */
  state: 'reported' | 'unreachable' | 'not-reached' | 'interrupted'
  reason?: string
  report?: StatusReport
}

export interface FleetStatus {
  version: string
  timestamp: string
  /** the `--on` selection */
  on: string
  hosts: FleetStatusRow[]
  /**
   * the worst host's status; `unreachable` when a host could not be read and nothing is worse;
   * `unknown` when a host that answered is not NixOS
   */
  overallStatus: OverallStatus | 'unreachable' | 'unknown'
}

/** A host that answered but is not a NixOS machine: nothing it reports says it runs the flake. */
const notNixOS = (h: FleetStatusRow) => h.report !== undefined && !h.report.generation.isNixOS

/**
 * Exit code of a fleet: the worst host's (2 build errors, 1 out of sync). A host nbs could not
 * read, or that is not NixOS, is 1: nbs cannot say it runs what the flake says (an unreachable
 * one is 0 with `--allow-unreachable`). A host without a target that is not this machine is
 * listed and does not count, as its checks are skipped.
 */
export function fleetExitCode(f: FleetStatus, allowUnreachable = false): 0 | 1 | 2 {
  let worst: 0 | 1 | 2 = 0
  for (const h of f.hosts) {
    const code = notNixOS(h) ? 1 : h.report ? statusExitCode(h.report.overallStatus) : h.state === 'unreachable' && !allowUnreachable ? 1 : 0
    if (code > worst) worst = code
  }
  return worst
}

const RANK: Record<FleetStatus['overallStatus'], number> = { success: 0, degraded: 1, unknown: 2, unreachable: 3, 'out-of-sync': 4, 'build-errors': 5 }

/** How long one host may take to answer every probe. */
export const HOST_DEADLINE_MS = 120_000

export interface FleetStatusOptions {
  on: string
  targets: HostTarget[]
  base: StatusOptions
  parallel: number
  hostname: string | null
  /** Ctrl-C: hosts not done are reported `interrupted` */
  signal?: AbortSignal
  hostDeadlineMs?: number
}

/** Every selected host's status, `parallel` at once; a host that cannot be read never holds back the others. */
export async function createFleetStatus(opts: FleetStatusOptions): Promise<FleetStatus> {
  const slots = limiter(opts.parallel)
  // `--eval` of many hosts: evaluations share the CPUs, as a fleet check's local checks do
  const cpus = limiter(Math.max(1, availableParallelism()))
  const exec: Exec = (file, args, o) => (file === 'nix' ? cpus.run(() => opts.base.exec(file, args, o)) : opts.base.exec(file, args, o))
  const base = { ...opts.base, exec }
  const interrupted = opts.signal ?? new AbortController().signal
  const hosts = await Promise.all(
    opts.targets.map((t) =>
      slots.run(async (): Promise<FleetStatusRow> => {
        const row = { name: t.host.name, target: t.target }
        if (interrupted.aborted) return { ...row, state: 'interrupted' }
        if (t.remote) return remoteRow(t.remote, row, { ...base, host: t.host.name }, interrupted, opts.hostDeadlineMs ?? HOST_DEADLINE_MS)
        const here = quickLocality({ host: t.host.name, hostname: opts.hostname, configLocal: t.host.local })
        if (!here) return { ...row, state: 'not-reached', reason: `${t.host.name} has no targetHost and is not this machine (${opts.hostname ?? 'unknown host name'}); give it a targetHost, or mark it local: true` }
        return { ...row, state: 'reported', report: await createStatusReport({ ...base, host: t.host.name, hostLocal: t.host.local === true }) }
      }),
    ),
  )
  let overallStatus: FleetStatus['overallStatus'] = 'success'
  for (const h of hosts) {
    const s = notNixOS(h) ? 'unknown' : (h.report?.overallStatus ?? (h.state === 'unreachable' ? 'unreachable' : 'success'))
    if (RANK[s] > RANK[overallStatus]) overallStatus = s
  }
  return { version: VERSION, timestamp: new Date().toISOString(), on: opts.on, hosts, overallStatus }
}

/** An ssh host's row: connected, read within the deadline, and every transport failure said as one. */
async function remoteRow(
  remote: NonNullable<HostTarget['remote']>,
  row: Pick<FleetStatusRow, 'name' | 'target'>,
  options: StatusOptions,
  interrupted: AbortSignal,
  deadlineMs: number,
): Promise<FleetStatusRow> {
  const deadline = AbortSignal.timeout(deadlineMs)
  const signal = AbortSignal.any([interrupted, deadline])
  let lost: string | undefined
  const stopped = new Promise<'stopped'>((done) => signal.addEventListener('abort', () => done('stopped'), { once: true }))
  try {
    const reach = await remote.connect(signal)
    if (interrupted.aborted) return { ...row, state: 'interrupted' }
    if (!reach.ok) return { ...row, state: 'unreachable', reason: deadline.aborted ? `no answer within ${deadlineMs / 1000} s` : reach.reason }
    // every program it runs there dies at the deadline; a failed transport is this row's verdict
    const machine = boundMachine(remote, signal, (why) => (lost ??= why))
    const report = await Promise.race([createStatusReport({ ...options, machine }), stopped])
    if (interrupted.aborted) return { ...row, state: 'interrupted' }
    if (report === 'stopped') return { ...row, state: 'unreachable', reason: `no answer within ${deadlineMs / 1000} s` }
    if (lost !== undefined) return { ...row, state: 'unreachable', reason: lost }
    return { ...row, state: 'reported', report }
  } finally {
    await remote.close()
  }
}
