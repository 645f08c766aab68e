/**
 * A real build of a derivation (the `build` check): Nix's internal-json stream read as it comes
 * through BuildLogParser, so a failure names the derivation, the builder's exit code and its last
 * log lines (Nix leaves those out of errors in JSON mode, reference/nix.md §1.9), whatever the
 * size of the log. A derivation this machine cannot build (another platform, a missing system
 * feature, local builds disabled) is a configuration problem, reported apart from failed builds.
 */
import { readFile } from 'node:fs/promises'
import { BuildLogParser } from './build-log.js'
import type { NixError } from './errors.js'
import { NIX_FLAKE_ARGS } from './flake.js'
import { runNix, runNixParsed, type NixCallOptions } from './run.js'

export interface FailedDerivation {
  drv: string
  /** Nix's reason: `builder failed with exit code 3`, `builder failed due to signal 9 (Killed)`, a hash mismatch… */
  reason: string
  /** the builder's exit code, when it exited */
  exitCode?: number
  /** its last log lines (at most `tailLines`) */
  logTail: string[]
}

export type BuildResult =
  | { ok: true; outPaths: string[]; /** derivations built by this call (0 when all were there) */ built: number }
  /** nothing failed to build, but something cannot be built here: why, in Nix's words */
  | { ok: false; unsupported: string; errors: NixError[] }
  | { ok: false; failed: FailedDerivation[]; errors: NixError[]; stderr: string }
  | { ok: false; notFound: true }

export interface BuildDerivationOptions extends NixCallOptions {
  drvPath: string
  /** log lines kept per build (default 25, as Nix ≥ 2.20 quotes) */
  tailLines?: number
}

/**
 * Builds a `.drv`'s outputs with `--keep-going` (every failure is found in one run) and no GC root.
 * `nix-store --realise` is the one spelling of "the outputs of this .drv" that every Nix from 2.8
 * on accepts: `nix build` wants the bare `.drv` on 2.8 (which rejects `drv^*`) and `drv^*` on
 * recent versions (which deprecate the bare path). Same reason as dryBuild; same store code.
 */
export async function buildDerivation(opts: BuildDerivationOptions): Promise<BuildResult> {
  const parser = new BuildLogParser({ tailLines: opts.tailLines ?? 25 })
  const args = ['--realise', '--keep-going', '--log-format', 'internal-json', ...(opts.extraArgs ?? []), opts.drvPath]
  const result = await runNixParsed(opts, args, 'nix-store', parser)
  if ('ok' in result) {
    if ('notFound' in result) return result
    return classifyFailure(result.errors, result.stderr)
  }
  const outPaths = result.stdout.text.split('\n').filter((l) => l.startsWith('/'))
  return { ok: true, outPaths, built: parser.progress.builds.done }
}

/** A failed build's errors: the derivations whose builders failed, or only what cannot be built here. */
export function classifyFailure(errors: NixError[], stderr = ''): BuildResult {
  const failed: FailedDerivation[] = []
  const unsupported: string[] = []
  let other = false
  for (const e of errors) {
    const why = unsupportedReason(e)
    if (why) unsupported.push(why)
    else if ((e.kind === 'build' || e.kind === 'hash-mismatch') && e.drv && e.reason) {
      if (failed.some((f) => f.drv === e.drv)) continue
      const reason = e.kind === 'hash-mismatch' ? `hash mismatch in fixed-output derivation: ${e.reason}` : e.reason
      failed.push({ drv: e.drv, reason, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}), logTail: e.logTail ?? [] })
    }
    // a dependency failure, or the `--keep-going` summary (`build of 'a', 'b' failed`), follows from the others
    else if (e.kind !== 'dependency' && !(e.kind === 'build' && !e.reason)) other = true
  }
  if (unsupported.length && !failed.length && !other) return { ok: false, unsupported: [...new Set(unsupported)].join('; '), errors }
  return { ok: false, failed, errors, stderr }
}

// How much of a failure goes into a report: failed derivations with their tails, and in the message.
const MAX_DETAILED = 20
const MAX_NAMED = 5
const MAX_TAILS = 3
const TAIL_LINES = 10

/**
 * A failed build for humans and reports: the message names the failed derivations with their
 * builders' exit codes, then the last log lines of the first few; details carry them structured
 * (bounded: a run with 500 failures does not make a 50 MB report).
 */
export function describeBuildFailure(result: { failed: FailedDerivation[]; errors: NixError[] }, drvPath: string): { message: string; details: Record<string, unknown> } {
  const { failed } = result
  // builder failures are in `failed`; the rest (dependencies, other errors) without log tails
  const errors = result.errors
    .filter((e) => e.kind === 'dependency' || !failed.some((f) => f.drv === e.drv))
    .slice(0, MAX_DETAILED)
    .map(({ logTail: _, ...e }) => e)
  if (!failed.length) return { message: result.errors[0]?.message ?? 'the build failed', details: { drvPath, errors } }
  const name = (f: FailedDerivation) => `${f.drv} (${f.exitCode === undefined ? f.reason : `exit code ${f.exitCode}`})`
  const head =
    failed.length === 1
      ? `${failed[0]!.drv}: ${failed[0]!.reason}`
      : `${failed.length} derivations failed to build: ${failed.slice(0, MAX_NAMED).map(name).join(', ')}${failed.length > MAX_NAMED ? ', …' : ''}`
  const tails = failed
    .slice(0, MAX_TAILS)
    .flatMap((f) => (f.logTail.length ? [...(failed.length > 1 ? [`${f.drv}:`] : []), ...f.logTail.slice(-TAIL_LINES).map((l) => `  > ${l}`)] : []))
  return { message: [head, ...tails].join('\n'), details: { drvPath, failedCount: failed.length, failed: failed.slice(0, MAX_DETAILED), errors } }
}

/** Why an error means "cannot be built here" (kind `unsupported`), in Nix's words; undefined for any other error. */
export function unsupportedReason(e: NixError): string | undefined {
  if (e.kind !== 'unsupported') return undefined
  // ≥ 2.30 `Cannot build '…drv'.` + `Reason: …` + the systems (≥ 2.34 also the features) it names
  if (!e.reason) return e.message
  const field = (name: string, label: string) => {
    const value = new RegExp(`^\\s*${name}: (.+)$`, 'm').exec(e.raw)?.[1]?.trim()
    return value && `${label}: ${value}`
  }
  return [
    `${e.drv ?? 'a derivation'}: ${e.reason}`,
    field('Required system', 'required'),
    field('Current system', 'this machine'),
    field('Required features', 'required features'),
    field('Available features', 'available features'),
  ]
    .filter(Boolean)
    .join('; ')
}

/** What this machine's Nix can build: its own platform, `extra-platforms`, and its remote builders. */
export interface BuildPlatforms {
  system: string
  extraPlatforms: string[]
  /** platforms of the configured remote builders (`builders`, `@file` read) */
  builderSystems: string[]
  /** true when a builder is configured whose platforms are not known (it may build anything) */
  builderUnknown: boolean
  maxJobs?: number
}

export interface BuildPlatformsOptions extends NixCallOptions {
  /** reads a `builders = @file` machines file: null when missing, throws when unreadable; default: this machine's file system */
  readFile?: (path: string) => Promise<string | null>
}

/**
 * Nix's own configuration, with the user's `--option`s (`extraArgs`) applied: `nix config show
 * --json` (Nix ≥ 2.20), else `nix show-config --json` (2.8 … 2.19, which does not know `config`).
 * `system` there is builtins.currentSystem. Undefined when Nix does not tell.
 */
export async function buildPlatforms(opts: BuildPlatformsOptions): Promise<BuildPlatforms | undefined> {
  let config: Record<string, unknown> | undefined
  for (const command of [['config', 'show'], ['show-config']]) {
    const result = await runNix(opts, [...NIX_FLAKE_ARGS, ...command, '--json', ...(opts.extraArgs ?? [])])
    if ('ok' in result) {
      if ('notFound' in result) return undefined
      continue
    }
    try {
      config = JSON.parse(result.stdout.text) as Record<string, unknown>
      break
    } catch {
      return undefined
    }
  }
  if (!config) return undefined
  // each setting is `{ value, defaultValue, description… }`; accept a bare value too
  const get = (name: string): unknown => {
    const v = config[name]
    return v && typeof v === 'object' && !Array.isArray(v) && 'value' in v ? (v as { value: unknown }).value : v
  }
  const system = get('system')
  if (typeof system !== 'string' || !system) return undefined
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : [])
  const builders = await readBuilders(typeof get('builders') === 'string' ? (get('builders') as string) : '', system, opts.readFile ?? readLocalFile)
  const maxJobs = get('max-jobs')
  return {
    system,
    extraPlatforms: list(get('extra-platforms')),
    builderSystems: builders.systems,
    builderUnknown: builders.unknown,
    ...(typeof maxJobs === 'number' ? { maxJobs } : {}),
  }
}

/** Why `platform` cannot be built here, or undefined when it can (or may). */
export function unbuildableReason(platform: string, p: BuildPlatforms): string | undefined {
  const local = platform === p.system || platform === 'builtin' || p.extraPlatforms.includes(platform)
  const byBuilder = p.builderSystems.includes(platform) || p.builderUnknown
  if (byBuilder || (local && p.maxJobs !== 0)) return undefined
  if (local) return `local builds are disabled (max-jobs = 0) and no remote builder is configured; set max-jobs or builders in nix.conf (or nixOptions)`
  const also = [...p.extraPlatforms.slice(0, 3), ...(p.extraPlatforms.length > 3 ? ['…'] : [])]
  const builds = `${p.system}${also.length ? ` (and ${also.join(', ')})` : ''}`
  const remote = p.builderSystems.length ? `its builders take ${[...new Set(p.builderSystems)].join(', ')}` : 'no builder is configured'
  return `cannot build ${platform} here: Nix builds ${builds}, ${remote}; add ${platform} to extra-platforms (binfmt emulation) or builders`
}

/**
 * The platforms of Nix's `builders` setting: `;`- or newline-separated machine lines, or `@file`
 * for a machines file (nix.conf's default is `@/etc/nix/machines`, usually absent). A machine line
 * is `uri systems key max-jobs …`; systems `-` or left out means this machine's own.
 */
async function readBuilders(spec: string, system: string, read: (path: string) => Promise<string | null>, depth = 0): Promise<{ systems: string[]; unknown: boolean }> {
  const systems: string[] = []
  let unknown = false
  for (const entry of spec.split(/[;\n]/)) {
    const line = entry.replace(/#.*/, '').trim()
    if (!line) continue
    if (line.startsWith('@')) {
      let text: string | null
      try {
        text = depth < 4 ? await read(line.slice(1)) : null
      } catch {
        unknown = true // there, but unreadable: its builders may build anything
        continue
      }
      if (text === null) continue // no machines file: no builders
      const inner = await readBuilders(text, system, read, depth + 1)
      systems.push(...inner.systems)
      unknown ||= inner.unknown
      continue
    }
    const field = line.split(/\s+/)[1]
    if (field === undefined || field === '-') systems.push(system)
    else systems.push(...field.split(',').filter(Boolean))
  }
  return { systems, unknown }
}

/** A missing file is null; one that exists but cannot be read throws. */
async function readLocalFile(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null
    throw e
  }
}
