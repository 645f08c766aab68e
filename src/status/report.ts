import { existsSync } from 'node:fs'
import { hostname as osHostname } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import type { Exec } from '../checks/types.js'
import { buildRecordSchema, defaultUser, type BuildRecord } from '../build/record.js'
import { nixOptionArgs } from '../nix/flake.js'
import { VERSION } from '../version.js'
import { getCurrentGeneration, readNixosVersion, rebootNeeded } from './generation.js'
import { evalToplevelCached } from './eval-cache.js'
import { compareRevision, getCurrentCommit, getCurrentNixpkgsRev } from './git.js'
import { getHomeManagerGeneration } from './home-manager.js'
import { checkJournalErrors } from './journal.js'
import { getLastBuildStatus } from './last-build.js'
import { systemdIsPid1 } from './systemd.js'
import { checkFailedUnits } from './units.js'

/**
 * The seed's status report (`version`, `timestamp`, `hostname`, `generation`, `failedUnits`,
 * `journalErrors`, `lastBuild`, `commit`, `nixpkgsRev`) plus `overallStatus`, `rebootNeeded`,
 * `homeManager` and the details behind them. Built from the same probes as the built-in checks.
 */
export const statusReportSchema = z.object({
  version: z.string().describe('nbs version that wrote the report'),
  timestamp: z.string(),
  hostname: z.string(),
  generation: z
    .object({
      generation: z.string().nullable().describe('the profile generation, g42'),
      generationRaw: z.string().nullable(),
      running: z.number().nullable().describe('the generation /run/current-system is, when it is one'),
      newest: z.number().nullable(),
      currentSystem: z.string().nullable(),
      bootedSystem: z.string().nullable(),
      inSync: z.boolean().describe('running the newest generation'),
      isNixOS: z.boolean(),
      reason: z.string().optional(),
    })
    .describe('NixOS generations'),
  sync: z.object({ status: z.enum(['in-sync', 'out-of-sync', 'unknown']), reason: z.string(), message: z.string() }).describe('running system against the flake checkout'),
  failedUnits: z.array(z.string()),
  failedUnitDetails: z.array(z.object({ unit: z.string(), description: z.string(), journal: z.array(z.string()) })),
  systemState: z.string().nullable().describe('systemctl is-system-running, or null when systemd is not PID 1'),
  journalErrors: z.number().int().nonnegative(),
  journalRead: z.boolean().describe('false when the journal could not be read (no systemd, no journal files): journalErrors is then 0'),
  journalTop: z.array(z.object({ unit: z.string(), message: z.string(), count: z.number() })),
  lastBuild: buildRecordSchema.nullable(),
  commit: z.string().nullable(),
  commitDirty: z.boolean().nullable(),
  nixpkgsRev: z.string().nullable(),
  nixosVersion: z.string().nullable(),
  rebootNeeded: z.object({ needed: z.boolean(), differs: z.array(z.string()) }),
  homeManager: z.object({ generation: z.string(), number: z.number(), path: z.string() }).nullable(),
  overallStatus: z.enum(['success', 'out-of-sync', 'build-errors', 'degraded']),
  notes: z.array(z.string()).describe('probes that could not answer, and why'),
})

export type StatusReport = Omit<z.output<typeof statusReportSchema>, 'lastBuild'> & { lastBuild: BuildRecord | null }
export type OverallStatus = StatusReport['overallStatus']

export interface StatusOptions {
  exec: Exec
  root?: string
  flake: string
  host: string
  /** evaluate the flake (cached) to compare toplevels when no revision is recorded; default: never evaluate */
  eval?: boolean
  logDir?: string
  nixOptions?: Record<string, string>
  journal?: { since?: string; maxErrors?: number; ignore?: string[] }
  units?: { ignore?: string[] }
  env?: NodeJS.ProcessEnv
}

/** The seed's exit codes: 0 healthy and in sync, 1 out of sync, 2 build errors (last build failed, failed units). */
export function statusExitCode(status: OverallStatus): 0 | 1 | 2 {
  return status === 'build-errors' ? 2 : status === 'out-of-sync' ? 1 : 0
}

const settle = <T>(p: Promise<T>, notes: string[], what: string): Promise<T | null> =>
  p.catch((e: Error) => {
    notes.push(`${what}: ${e.message.split('\n')[0]}`)
    return null
  })

/** Runs every probe concurrently and composes the report; a probe that fails becomes a note, not a crash. */
export async function createStatusReport(opts: StatusOptions): Promise<StatusReport> {
  const root = opts.root ?? '/'
  const notes: string[] = []
  const pid1 = root === '/' ? await systemdIsPid1({ root }) : ({ ok: false, reason: 'offline root' } as const)
  const journalDir = join(root, 'var/log/journal')
  const journalReadable = pid1.ok || (root !== '/' && existsSync(journalDir))
  if (root !== '/' && !journalReadable) notes.push(`no journal at ${journalDir}`)
  const user = defaultUser(opts.env)
  const [gen, version, commit, nixpkgs, reboot, hm, units, journal, state, last] = await Promise.all([
    getCurrentGeneration({ root }),
    readNixosVersion({ root, exec: opts.exec }).catch(() => null),
    getCurrentCommit({ exec: opts.exec, flake: opts.flake }),
    getCurrentNixpkgsRev({ flake: opts.flake }),
    rebootNeeded({ root }),
    user ? settle(getHomeManagerGeneration({ root, user }), notes, 'home manager') : null,
    pid1.ok ? settle(checkFailedUnits({ exec: opts.exec, ignore: opts.units?.ignore }), notes, 'failed units') : null,
    journalReadable ? settle(checkJournalErrors({ exec: opts.exec, root, ...opts.journal }), notes, 'journal') : null,
    pid1.ok ? opts.exec('systemctl', ['is-system-running']).then((r) => r.stdout.text.trim() || null) : null,
    getLastBuildStatus({ configured: opts.logDir, env: opts.env }),
  ])
  if (!pid1.ok && root === '/') notes.push(pid1.reason)
  if (last.warning) notes.push(last.warning)
  // without a recorded revision, the flake's evaluated toplevel is the only way to compare
  let evaluated: string | undefined
  if (opts.eval && gen.current && !version?.configurationRevision) {
    const r = await evalToplevelCached({ exec: opts.exec, flake: opts.flake, host: opts.host, extraArgs: nixOptionArgs(opts.nixOptions), processEnv: opts.env })
    if (r.ok) evaluated = r.outPath
    else notes.push(`flake evaluation: ${'notFound' in r ? 'nix is not on PATH' : (r.errors[0]?.message ?? 'failed')}`)
  }
  const sync = gen.current ? compareRevision({ configurationRevision: version?.configurationRevision, commit, currentPath: gen.current.path, evaluatedToplevel: evaluated }) : { status: 'unknown' as const, reason: 'no-current-system', message: gen.reason ?? 'no /run/current-system' }
  const failed = units?.units ?? []
  const outOfSync = (gen.isNixOS && gen.current !== null && !gen.inSync) || sync.status === 'out-of-sync'
  // worst first: build errors (exit 2), out of sync (1), then what is only worth a look
  const buildFailed = last.record !== null && !last.record.success && !last.record.interrupted
  const overallStatus: OverallStatus =
    buildFailed || failed.length > 0
      ? 'build-errors'
      : outOfSync
        ? 'out-of-sync'
        : (journal?.count ?? 0) > 0 || reboot.needed || (state !== null && state !== 'running')
          ? 'degraded'
          : 'success'
  return {
    version: VERSION,
    timestamp: new Date().toISOString(),
    hostname: osHostname(),
    generation: {
      generation: gen.generation,
      generationRaw: gen.generationRaw,
      running: gen.current?.number ?? null,
      newest: gen.newest?.number ?? null,
      currentSystem: gen.current?.path ?? null,
      bootedSystem: gen.booted,
      inSync: gen.inSync,
      isNixOS: gen.isNixOS,
      ...(gen.reason ? { reason: gen.reason } : {}),
    },
    sync: { status: sync.status, reason: sync.reason, message: sync.message },
    failedUnits: failed.map((u) => u.unit),
    failedUnitDetails: failed.map((u) => ({ unit: u.unit, description: u.description, journal: u.journal })),
    systemState: state,
    journalErrors: journal?.count ?? 0,
    journalRead: journal !== null,
    journalTop: journal?.top ?? [],
    lastBuild: last.record,
    commit: 'error' in commit ? null : commit.shortRev,
    commitDirty: 'error' in commit ? null : commit.dirty,
    nixpkgsRev: 'error' in nixpkgs ? null : nixpkgs.rev,
    nixosVersion: version?.nixosVersion ?? null,
    rebootNeeded: { needed: reboot.needed, differs: reboot.differs },
    homeManager: hm ? { generation: hm.generation, number: hm.number, path: hm.path } : null,
    overallStatus,
    notes,
  }
}
