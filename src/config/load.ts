import { existsSync } from 'node:fs'
import { cpus, homedir, hostname } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { NbsError, describeZodError } from '../errors.js'
import { importDefault } from '../discovery/import-module.js'
import { parseDuration } from '../checks/duration.js'
import { parseFlakeRef } from '../nix/flake.js'
import { rootHostnameSync } from '../machine/root-path.js'
import type { PluginEntry } from '../plugins/load.js'
import { assertTrustedFile } from '../plugins/permissions.js'
import { CHECK_FILE_EXTENSIONS, DEFAULT_INCLUDE, DEFAULT_PHASES, configSchema, type HostConfig, type NbsConfig } from './schema.js'
import { isDirectory, isFile } from '../fs/stat.js'

export const CONFIG_NAMES = CHECK_FILE_EXTENSIONS.map((ext) => `nbs.config.${ext}`)
/** The machine's config (the NixOS module's `programs.nbs.settings`); NBS_SYSTEM_CONFIG names another file. */
export const SYSTEM_CONFIG = '/etc/nbs/nbs.config.json'
export const DEFAULT_TIMEOUT_MS = 5 * 60_000
/** what a plugin hook or reporter gets per event, and for its backlog at the end of the run */
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000
/** hosts checked at once in a fleet run when the config does not say */
export const DEFAULT_PARALLEL = 10

export interface LoadedConfig {
  config: NbsConfig
  /** absolute path of the config file, when there is one */
  file?: string
  /** the project directory: the config file's folder, else the working directory */
  projectRoot: string
}

/** How messages name a config: relative inside the working directory; the user's or the machine's config by its full path. */
export function configLabel(cwd: string, file: string): string {
  const rel = relative(cwd, file)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file
}

/**
 * Where a config is looked for when `--config` is not given, first found wins (no merging): the
 * project's `nbs.config.*` in the working directory, the user's `nbs.config.*` in
 * `$XDG_CONFIG_HOME/nbs` (Home Manager's `programs.nbs.settings`), then the machine's
 * `/etc/nbs/nbs.config.json` (`NBS_SYSTEM_CONFIG` overrides the path).
 */
export function configCandidates(cwd: string, env: NodeJS.ProcessEnv = process.env): string[] {
  // the XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored
  const xdg = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config')
  return [...CONFIG_NAMES.map((name) => resolve(cwd, name)), ...CONFIG_NAMES.map((name) => join(xdg, 'nbs', name)), resolve(env.NBS_SYSTEM_CONFIG || SYSTEM_CONFIG)]
}

/**
 * Takes (`--config`) or finds (configCandidates) the config file, loads and validates it. A config
 * found in the user's or the machine's folder makes that folder the project root, as any config
 * file does: its relative paths, checks/ and plugins/ are its own.
 */
export async function loadConfig(cwd: string, configFlag?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let file: string | undefined
  if (configFlag) {
    file = resolve(cwd, configFlag)
    if (!existsSync(file)) throw new NbsError(`--config ${configFlag}: no such file`)
  } else {
    file = configCandidates(cwd, env).find((f) => isFile(f))
  }
  if (!file) return { config: {}, projectRoot: cwd }
  const label = configLabel(cwd, file)
  assertTrustedFile(file, `config ${label}`)
  const value = await importDefault(file, label)
  const parsed = configSchema.safeParse(value)
  if (!parsed.success) throw new NbsError(`${label}: ${describeZodError(parsed.error)}`)
  return { config: parsed.data, file, projectRoot: dirname(file) }
}

/** A reporter as the config names it. */
export type ReporterEntry = string | [spec: string, options: Record<string, unknown>]

/** Command-line values that override the config. */
export interface SettingsFlags {
  /** where relative flag paths start (default: the working directory) */
  cwd?: string
  flake?: string
  host?: string
  root?: string
  concurrency?: number
  failOn?: 'error' | 'warning'
  /** false: reports keep secrets (`--no-redact`) */
  redact?: boolean
}

/** Everything a run needs, with flags over config over defaults resolved once. */
export interface Settings {
  projectRoot: string
  configFile?: string
  flake: string
  host: string
  root: string
  /** the system profile: `system` or `system-profiles/NAME` */
  profile: string
  /** the config marks the host as this machine */
  hostLocal: boolean
  phases: string[]
  include: string[]
  exclude: string[]
  builtins: boolean
  disable: string[]
  /** opt-in checks the config turns on */
  enable: string[]
  plugins: PluginEntry[]
  options: Record<string, Record<string, unknown>>
  nixOptions: Record<string, string>
  logDir?: string
  /** the admins' group of the system records (config logGroup; NBS_LOG_GROUP overrides it where read) */
  logGroup?: string
  llmCommand?: string[]
  /** `NAME[:PATH]`, or `[NAME[:PATH], options]` */
  reporters: ReporterEntry[]
  concurrency: number
  /** hosts at once in a fleet run (0 = all) */
  parallel: number
  /** a fleet run passes even when a host cannot be reached */
  allowUnreachable: boolean
  /** the config's `hosts` record as written (the inventory's highest-precedence source) */
  hosts: Record<string, HostConfig>
  timeoutMs: number
  /** config `hookTimeout`: per event for a plugin hook or reporter, then once more at the end */
  hookTimeoutMs: number
  failOn: 'error' | 'warning'
  /** secrets in check results are redacted before reporters see them (default true) */
  redact: boolean
}

export function resolveSettings(loaded: LoadedConfig, flags: SettingsFlags, env: NodeJS.ProcessEnv = process.env): Settings {
  const c = loaded.config
  // flags are relative to where the user typed them; config values to the config file
  const cwd = flags.cwd ?? process.cwd()
  const ref = flags.flake !== undefined ? resolveFlakeRef(cwd, flags.flake) : c.flake ? resolveFlakeRef(loaded.projectRoot, c.flake) : defaultFlake(env)
  // `--flake /etc/nixos#web` names the host, as nixos-rebuild and nh read it
  const { flake, host: fragmentHost } = parseFlakeRef(ref)
  if (flags.root !== undefined && !isDirectory(resolve(cwd, flags.root))) throw new NbsError(`--root ${flags.root}: not a directory; give the root of a mounted system, or / (the default)`)
  const root = flags.root !== undefined ? resolve(cwd, flags.root) : resolve(loaded.projectRoot, c.root ?? '/')
  // the machine being read names the host: a mounted image's own /etc/hostname, not this machine's
  const host = flags.host ?? fragmentHost ?? c.host ?? (root === '/' ? undefined : rootHostnameSync(root)) ?? hostname()
  return {
    projectRoot: loaded.projectRoot,
    configFile: loaded.file,
    flake,
    host,
    profile: c.profile ?? 'system',
    hostLocal: c.hosts?.[host]?.local === true,
    root,
    phases: c.phases ?? [...DEFAULT_PHASES],
    include: c.include ?? DEFAULT_INCLUDE,
    exclude: c.exclude ?? [],
    builtins: c.builtins ?? true,
    disable: c.disable ?? [],
    enable: c.enable ?? [],
    plugins: (c.plugins ?? []) as PluginEntry[],
    options: c.options ?? {},
    nixOptions: c.nixOptions ?? {},
    logDir: c.logDir === undefined || c.logDir.startsWith('~') ? c.logDir : resolve(loaded.projectRoot, c.logDir),
    logGroup: c.logGroup,
    llmCommand: c.debug?.llm?.command,
    reporters: c.reporters ?? [],
    concurrency: flags.concurrency ?? c.concurrency ?? Math.max(1, cpus().length * 2),
    parallel: c.parallel ?? DEFAULT_PARALLEL,
    allowUnreachable: c.allowUnreachable ?? false,
    hosts: (c.hosts ?? {}) as Record<string, HostConfig>,
    timeoutMs: c.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(c.timeout)!,
    hookTimeoutMs: c.hookTimeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(c.hookTimeout)!,
    failOn: flags.failOn ?? c.failOn ?? 'error',
    redact: flags.redact ?? c.redact ?? true,
  }
}

/**
 * The flake when neither `--flake` nor the config names one: the variable most specific to the
 * build wins. nh's per-target NH_OS_FLAKE (for `nbs build home`, NH_HOME_FLAKE in its place), then
 * nbs's own NBS_FLAKE (the NixOS module's `programs.nbs.flake`), then nh's general NH_FLAKE.
 */
export function defaultFlake(env: NodeJS.ProcessEnv): string {
  return env.NH_OS_FLAKE || env.NBS_FLAKE || env.NH_FLAKE || '/etc/nixos'
}

/** A relative path flake in the config is relative to the config file, as users of nix expect. */
export function resolveFlakeRef(base: string, ref: string): string {
  const { flake, host } = parseFlakeRef(ref)
  const path = flake.startsWith('./') || flake.startsWith('../') || flake === '.' ? resolve(base, flake) : flake
  return host ? `${path}#${host}` : path
}
