import { z } from 'zod'
import type { Exec } from '../checks/types.js'
import { buildRecordSchema, defaultUser, type BuildRecord } from '../records/schema.js'
import { DEFAULT_LOG_DIR } from '../records/paths.js'
import { readHistoryOn } from '../records/store.js'
import { localMachine } from '../machine/local.js'
import { hostLocality, type Locality } from '../machine/locality.js'
import type { Machine } from '../machine/types.js'
import { evalToplevelCached } from './eval-cache.js'
import { nixOptionArgs } from '../nix/flake.js'
import { VERSION } from '../version.js'
import { getCurrentGeneration, rebootNeeded, type CurrentGeneration } from './generation.js'
import { getCurrentCommit, getCurrentNixpkgsRev } from './git.js'
import { envStateHome, getHomeManagerState } from './home-manager.js'
import { checkJournalErrors } from './journal.js'
import { journalAccess } from './journal-access.js'
import { getLastBuildStatus } from '../records/last-build.js'
import { readNixosVersion } from './nixos-version.js'
import { compareRevision } from './revision.js'
import { systemdIsPid1 } from './systemd.js'
import { checkFailedUnits } from './units.js'

const located = z.object({
  path: z.string(),
  generation: z.number().optional(),
  specialisation: z.string().optional().describe('the specialisation of that generation, when one runs'),
  toplevel: z.string().optional().describe("the generation's own toplevel (the parent of a specialisation)"),
})

/**
 * The seed's status report (`version`, `timestamp`, `hostname`, `generation`, `failedUnits`,
 * `journalErrors`, `lastBuild`, `commit`, `nixpkgsRev`) plus `overallStatus` and the facts behind
 * it: the generation state, the flake revision, reboot, Home Manager, the journal verdict. Built
 * from the same probes as the built-in checks.
 */
export const statusReportSchema = z.object({
  version: z.string().describe('nbs version that wrote the report'),
  timestamp: z.string(),
  hostname: z.string().describe("the machine's host name"),
  host: z.object({ name: z.string(), local: z.boolean(), reason: z.string() }).describe('the configuration compared with, and whether it is this machine'),
  generation: z
    .object({
      generation: z.string().nullable().describe('what the system profile points to, g42'),
      generationRaw: z.string().nullable(),
      state: z.enum(['in-sync', 'rolled-back', 'pending', 'drifted', 'unknown']),
      message: z.string(),
      profile: z.object({ link: z.string(), number: z.number(), path: z.string() }).nullable(),
      running: z.number().nullable().describe('the generation /run/current-system is (or belongs to, for a specialisation)'),
      runningSpecialisation: z.string().nullable(),
      newest: z.number().nullable(),
      currentSystem: z.string().nullable(),
      activatedAt: z.string().nullable().describe('when /run/current-system was last linked'),
      bootedSystem: z.string().nullable(),
      booted: located.nullable(),
      inSync: z.boolean().describe('running what the profile points to (in-sync or rolled-back)'),
      isNixOS: z.boolean(),
      reason: z.string().optional(),
    })
    .describe('NixOS generations'),
  revision: z
    .object({ status: z.enum(['equal', 'differs', 'unknown']), reason: z.string(), message: z.string(), notes: z.array(z.string()) })
    .describe('the running system against the flake'),
  failedUnits: z.array(z.string()),
  failedUnitDetails: z.array(z.object({ unit: z.string(), description: z.string(), journal: z.array(z.string()) })),
  systemState: z.string().nullable().describe('systemctl is-system-running, or null when systemd is not PID 1'),
  journalErrors: z.number().int().nonnegative(),
  journalRead: z.boolean().describe('false when the journal could not be read (no systemd, no journal files): journalErrors is then 0'),
  journal: z.object({ read: z.boolean(), reason: z.string().optional(), since: z.string(), maxErrors: z.number(), ok: z.boolean() }),
  journalTop: z.array(z.object({ unit: z.string(), message: z.string(), count: z.number() })),
  lastBuild: buildRecordSchema.nullable(),
  failedBuild: z
    .object({ buildEnd: z.string(), action: z.string(), exitCode: z.number(), errors: z.string() })
    .nullable()
    .describe('the newest os build of this machine, when it failed after the running system was activated'),
  commit: z.string().nullable(),
  commitDirty: z.boolean().nullable(),
  nixpkgsRev: z.string().nullable(),
  nixosVersion: z.string().nullable(),
  nixosLabel: z.string().nullable().describe("the toplevel's nixos-version file: system.nixos.label"),
  configurationRevision: z.string().nullable(),
  rebootNeeded: z.object({ needed: z.boolean(), differs: z.array(z.string()) }),
  homeManager: z
    .object({
      mode: z.enum(['standalone', 'nixos-module']),
      user: z.string(),
      generation: z.string().nullable(),
      number: z.number().nullable(),
      path: z.string().nullable(),
      unit: z.string().optional(),
      staleLinks: z.object({ newest: z.number(), path: z.string() }).optional(),
    })
    .nullable(),
  overallStatus: z.enum(['success', 'out-of-sync', 'build-errors', 'degraded']),
  reasons: z.array(z.string()).describe('what made overallStatus what it is, worst first'),
  notes: z.array(z.string()).describe('probes that could not answer, and why'),
})

export type StatusReport = Omit<z.output<typeof statusReportSchema>, 'lastBuild'> & { lastBuild: BuildRecord | null }
export type OverallStatus = StatusReport['overallStatus']

export interface StatusOptions {
  exec: Exec
  root?: string
  flake: string
  host: string
  /** the config marks the host as this machine */
  hostLocal?: boolean
  /** the config gives the host a targetHost (`nbs status --on NAME` reads it over ssh) */
  hostHasTarget?: boolean
  /** the system profile: `system` or `system-profiles/NAME` */
  profile?: string
  /** evaluate the flake to compare toplevels (`nbs status --eval`) */
  eval?: boolean
  logDir?: string
  /** the admins' group, named in the fix when a record cannot be read */
  logGroup?: string
  nixOptions?: Record<string, string>
  journal?: { since?: string; maxErrors?: number; ignore?: string[] }
  units?: { ignore?: string[] }
  env?: NodeJS.ProcessEnv
  /**
   * a fleet host reached over ssh: every probe reads it, its own build records (in the default
   * log directory there) count, and it is the machine the flake's host is compared with
   */
  machine?: Machine
}

/**
 * The one table of states, worst first (README, DESIGN.md): 2 `build-errors` (failed units, or a
 * failed os build newer than the running activation), 1 `out-of-sync` (pending, drifted, revision
 * differs), 0 `degraded` (journal over maxErrors, reboot needed, systemd not running), 0 `success`.
 */
export function statusExitCode(status: OverallStatus): 0 | 1 | 2 {
  return status === 'build-errors' ? 2 : status === 'out-of-sync' ? 1 : 0
}

const EVAL_TIMEOUT_MS = 10 * 60_000

const settle = <T>(p: Promise<T>, notes: string[], what: string): Promise<T | null> =>
  p.catch((e: Error) => {
    notes.push(`${what}: ${e.message.split('\n')[0]}`)
    return null
  })

/**
 * The newest `os` build of this machine, when it failed after the running system was activated. A
 * record is this machine's when it was built there (its host name, on the live machine) or started
 * from the system that runs here (a build under `--root`); an admin machine's own builds never
 * count against a mounted image.
 */
function failedBuildSinceActivation(records: readonly BuildRecord[], machine: Machine, hostname: string | null, host: string, gen: CurrentGeneration): BuildRecord | null {
  const running = gen.current?.path
  // a CI runner building another host's configuration (`--host web1`) built it for web1; an
  // activation (switch/test/boot) that ran here changed this machine, whatever it was called
  const forThisHost = (r: BuildRecord) => r.host === undefined || r.host === host || ['switch', 'test', 'boot'].includes(r.action)
  const ours = (r: BuildRecord) => forThisHost(r) && ((machine.live && r.hostname === hostname) || (running !== undefined && r.preGeneration.currentSystem === running))
  // a build stopped by an interrupt has no result (one interrupted during activation does)
  const decided = (r: BuildRecord) => !r.interrupted || r.activation !== undefined
  const newest = records.find((r) => r.target === 'os' && ours(r) && decided(r))
  if (!newest || newest.success) return null
  const activated = gen.activatedAt === null ? 0 : Date.parse(gen.activatedAt)
  if (Date.parse(newest.buildEnd) <= activated) return null
  // a generation added since (a plain `nixos-rebuild boot` after a failed `nbs build os boot`) clears it too
  const after = newest.postGeneration.generationRaw === null ? NaN : Number(newest.postGeneration.generationRaw)
  if (gen.profile && Number.isInteger(after) && gen.profile.number > after) return null
  return newest
}

/** The newest record of the builds a remote host ran itself, from its default log directory. */
async function lastBuildOn(machine: Machine): Promise<{ dir: string; record: BuildRecord | null; warning?: string; records: BuildRecord[] }> {
  const { records, warnings } = await readHistoryOn(machine, DEFAULT_LOG_DIR)
  return { dir: DEFAULT_LOG_DIR, record: records[0] ?? null, records, ...(warnings.length ? { warning: warnings.join('; ') } : {}) }
}

/** Runs every probe concurrently and composes the report; a probe that fails becomes a note, not a crash. */
export async function createStatusReport(opts: StatusOptions): Promise<StatusReport> {
  const root = opts.root ?? '/'
  const remote = opts.machine !== undefined
  const machine: Machine = opts.machine ?? localMachine({ root, exec: opts.exec })
  const notes: string[] = []
  // one answer each, reused by every probe: is systemd running there, may this reader see its journal
  const [pid1, access] = await Promise.all([
    machine.live ? systemdIsPid1(machine) : ({ ok: false, reason: `systemd is not running as PID 1 (${machine.description} is not the running system)` } as const),
    journalAccess(machine).catch((e: Error) => ({ ok: false as const, reason: e.message })),
  ])
  const journalReason = access.ok ? undefined : access.reason
  // whose Home Manager: the user running nbs, on this machine; a remote login is not a person
  const user = remote ? undefined : defaultUser(opts.env)
  const [hostname, gen, version, commit, nixpkgs, hm, units, journal, state, last] = await Promise.all([
    machine.hostname().catch(() => null),
    getCurrentGeneration({ machine, profile: opts.profile }),
    settle(readNixosVersion({ machine }), notes, 'nixos-version'),
    getCurrentCommit({ exec: opts.exec, flake: opts.flake }),
    getCurrentNixpkgsRev({ flake: opts.flake }),
    user ? settle(getHomeManagerState({ machine, user, stateHome: envStateHome(user, root, opts.env) }), notes, 'home manager') : null,
    pid1.ok ? settle(checkFailedUnits({ machine, ignore: opts.units?.ignore }), notes, 'failed units') : null,
    access.ok ? settle(checkJournalErrors({ machine, access, ...opts.journal }), notes, 'journal') : null,
    pid1.ok ? machine.exec('systemctl', ['is-system-running']).then((r) => r.stdout.text.trim() || null, () => null) : null,
    remote ? lastBuildOn(machine) : getLastBuildStatus({ configured: opts.logDir, logGroup: opts.logGroup, env: opts.env }),
  ])
  if (!pid1.ok && machine.live) notes.push(pid1.reason)
  if (last.warning) notes.push(last.warning)
  // a checkout git refuses (another owner: safe.directory) says so with the fix, not as "unknown"
  if ('error' in commit && commit.error.includes('safe.directory')) notes.push(`flake checkout: ${commit.error}`)
  const [reboot, failedBuild] = await Promise.all([
    rebootNeeded({ machine, profile: opts.profile, ...(gen.bootedSystem?.specialisation ? { bootedSpecialisation: gen.bootedSystem.specialisation } : {}) }),
    failedBuildSinceActivation(last.records, machine, hostname, opts.host, gen),
  ])

  // only a host that is this machine can be compared with what this machine runs
  const localityInputs = { host: opts.host, hostname, configLocal: opts.hostLocal, hasTarget: opts.hostHasTarget }
  let where: Locality = remote
    ? { local: true, why: `${opts.host} is reached over ssh (${machine.description})` }
    : hostLocality({ ...localityInputs, unavailable: 'not evaluated; nbs status --eval reads its networking.hostName' })
  let evaluated: string | undefined
  if (opts.eval && gen.current) {
    // an evaluation may fetch inputs: it gets flake-eval's 10 minutes, not the probes' one
    const exec: Exec = (file, args, o) => opts.exec(file, args, { timeoutMs: EVAL_TIMEOUT_MS, ...o })
    const r = await evalToplevelCached({ exec, flake: opts.flake, host: opts.host, extraArgs: nixOptionArgs(opts.nixOptions) })
    if (r.ok) {
      evaluated = r.outPath
      if (!where.local) where = hostLocality({ ...localityInputs, ...(r.hostName ? { evaluatedHostName: r.hostName } : { unavailable: 'it sets no networking.hostName' }) })
    } else {
      const why = 'notFound' in r ? 'nix is not on PATH' : (r.errors[0]?.message ?? 'failed')
      notes.push(`flake evaluation: ${why}`)
      if (!where.local) where = hostLocality({ ...localityInputs, unavailable: `its evaluation failed: ${why}` })
    }
  }
  const revision = !where.local
    ? { status: 'unknown' as const, reason: 'not-this-machine', message: where.reason, notes: [] }
    : gen.current
      ? compareRevision({ configurationRevision: version?.configurationRevision, commit, runningToplevel: gen.current.toplevel ?? gen.current.path, evaluatedToplevel: evaluated })
      : { status: 'unknown' as const, reason: 'no-current-system', message: gen.reason ?? 'no /run/current-system', notes: [] }

  const failed = units?.units ?? []
  const maxErrors = opts.journal?.maxErrors ?? 0
  const journalOk = journal === null || journal.count <= maxErrors
  // worst first; each reason names its state
  const buildErrors = [
    ...(failed.length ? [`${failed.length} failed unit${failed.length === 1 ? '' : 's'}: ${failed.map((u) => u.unit).join(', ')}`] : []),
    ...(failedBuild ? [`os ${failedBuild.action} failed at ${failedBuild.buildEnd} (exit ${failedBuild.exitCode}), after the running system was activated`] : []),
  ]
  const outOfSync = [
    ...(gen.state === 'pending' || gen.state === 'drifted' ? [`${gen.state}: ${gen.message}`] : []),
    ...(revision.status === 'differs' ? [`revision differs: ${revision.message}`] : []),
  ]
  const degraded = [
    ...(!journalOk ? [`${journal!.count} journal errors (max ${maxErrors})`] : []),
    ...(reboot.needed ? [`reboot needed: ${reboot.differs.join(', ')} differ from the booted system`] : []),
    ...(state !== null && state !== 'running' && failed.length === 0 ? [`systemd is ${state}`] : []),
  ]
  const overallStatus: OverallStatus = buildErrors.length ? 'build-errors' : outOfSync.length ? 'out-of-sync' : degraded.length ? 'degraded' : 'success'
  if (revision.status === 'unknown') notes.push(`revision unknown: ${revision.message}`)
  return {
    version: VERSION,
    timestamp: new Date().toISOString(),
    hostname: hostname ?? 'unknown',
    host: { name: opts.host, local: where.local, reason: where.local ? where.why : where.reason },
    generation: {
      generation: gen.generation,
      generationRaw: gen.generationRaw,
      state: gen.state,
      message: gen.message,
      profile: gen.profile,
      running: gen.current?.generation ?? null,
      runningSpecialisation: gen.current?.specialisation ?? null,
      newest: gen.newest?.number ?? null,
      currentSystem: gen.current?.path ?? null,
      activatedAt: gen.activatedAt,
      bootedSystem: gen.booted,
      booted: gen.bootedSystem,
      inSync: gen.inSync,
      isNixOS: gen.isNixOS,
      ...(gen.reason ? { reason: gen.reason } : {}),
    },
    revision,
    failedUnits: failed.map((u) => u.unit),
    failedUnitDetails: failed.map((u) => ({ unit: u.unit, description: u.description, journal: u.journal })),
    systemState: state,
    journalErrors: journal?.count ?? 0,
    journalRead: journal !== null,
    journal: { read: journal !== null, ...(journalReason ? { reason: journalReason } : {}), since: opts.journal?.since ?? 'boot', maxErrors, ok: journalOk },
    journalTop: journal?.top ?? [],
    lastBuild: last.record,
    failedBuild: failedBuild ? { buildEnd: failedBuild.buildEnd, action: failedBuild.action, exitCode: failedBuild.exitCode, errors: failedBuild.errors } : null,
    commit: 'error' in commit ? null : commit.shortRev,
    commitDirty: 'error' in commit ? null : commit.dirty,
    nixpkgsRev: 'error' in nixpkgs ? null : nixpkgs.rev,
    nixosVersion: version?.nixosVersion ?? null,
    nixosLabel: version?.label ?? null,
    configurationRevision: version?.configurationRevision ?? null,
    rebootNeeded: { needed: reboot.needed, differs: reboot.differs },
    homeManager: hm
      ? hm.mode === 'standalone'
        ? { mode: hm.mode, user: hm.user, generation: hm.generation.generation, number: hm.generation.active ?? hm.generation.number, path: hm.generation.path }
        : { mode: hm.mode, user: hm.user, generation: null, number: null, path: hm.path, unit: hm.unit, ...(hm.staleLinks ? { staleLinks: hm.staleLinks } : {}) }
      : null,
    overallStatus,
    reasons: [...buildErrors, ...outOfSync, ...degraded],
    notes,
  }
}
