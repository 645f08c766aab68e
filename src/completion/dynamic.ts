/**
 * The values a completion script asks nbs for at TAB time (`nbs __complete KIND`): check ids,
 * phases and tags from check discovery (no Nix), host names from the config and the names of
 * `nixosConfigurations`. Never a NixOS configuration evaluated: the host names come from the
 * inventory's one `nix eval` of names and literals (flake-hosts.ts), with a short timeout, and are
 * kept for a few minutes so repeated TABs do not run Nix again.
 */
import { createHash } from 'node:crypto'
import { mkdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import type { Exec } from '../checks/types.js'
import { loadConfig, resolveSettings } from '../config/load.js'
import { atomicWrite } from '../fs/atomic-write.js'
import { isPrivate, readPrivate } from '../fs/private.js'
import { readFlakeHosts } from '../hosts/flake-hosts.js'
import { listChecks } from '../list-checks.js'
import { localFlakeDir, notAFlakeReason } from '../nix/flake.js'
import { evalCacheDir } from '../status/eval-cache.js'
import type { DynamicKind } from './spec.js'

/** How long a TAB may wait for Nix to list the hosts; a slower flake completes the config's hosts only. */
export const HOSTS_EVAL_TIMEOUT_MS = 5_000
/** How long listed host names are reused. */
export const HOSTS_CACHE_TTL_MS = 5 * 60_000
/**
 * How long a failed or timed-out listing is remembered: without it every TAB in a flake whose
 * inputs cannot be fetched (offline) would freeze the prompt for the whole timeout again.
 */
export const HOSTS_FAILURE_TTL_MS = 60_000

export interface CompletionValuesOptions {
  cwd: string
  config?: string
  flake?: string
  /** runs nix (probeExec with HOSTS_EVAL_TIMEOUT_MS in the CLI) */
  exec: Exec
  /** where host names are kept (default: `$XDG_CACHE_HOME/nbs/complete`) */
  cacheDir?: string
  env?: NodeJS.ProcessEnv
  now?: () => number
}

/** The values of one kind, each once, in a stable order. */
export async function completionValues(kind: DynamicKind, opts: CompletionValuesOptions): Promise<string[]> {
  if (kind === 'hosts') return hostValues(opts)
  const list = await listChecks({ cwd: opts.cwd, ...(opts.config !== undefined ? { config: opts.config } : {}), ...(opts.flake !== undefined ? { flake: opts.flake } : {}) })
  if (kind === 'phases') return list.phases
  if (kind === 'tags') return unique(list.checks.flatMap((c) => c.tags)).sort()
  return unique(list.checks.map((c) => c.id))
}

/** Host names (the config's, then the flake's) and `@tag` for the config's tags, for `--host` and `--on`. */
async function hostValues(opts: CompletionValuesOptions): Promise<string[]> {
  const settings = resolveSettings(await loadConfig(opts.cwd, opts.config), { cwd: opts.cwd, ...(opts.flake !== undefined ? { flake: opts.flake } : {}) })
  const configured = Object.keys(settings.hosts)
  const tags = Object.values(settings.hosts).flatMap((h) => (h.tags ?? []).map((t) => `@${t}`))
  const flake = await flakeHostNames(settings.flake, settings.nixOptions, opts)
  return unique([...[...configured, ...flake].sort(), ...unique(tags).sort()])
}

const cacheEntry = z.object({ key: z.string(), at: z.number(), names: z.array(z.string()), failed: z.boolean().optional() })

async function flakeHostNames(flake: string, nixOptions: Record<string, string>, opts: CompletionValuesOptions): Promise<string[]> {
  if (notAFlakeReason(flake, opts.cwd)) return []
  const env = opts.env ?? process.env
  const now = (opts.now ?? Date.now)()
  const local = localFlakeDir(flake, opts.cwd)
  // what would change the names without time passing: the flake's own files, and Nix's settings
  const mtimes = 'error' in local ? [] : await Promise.all(['flake.nix', 'flake.lock'].map((f) => stat(join(local.dir, f)).then((s) => s.mtimeMs, () => 0)))
  const key = JSON.stringify({ flake, dir: 'error' in local ? null : local.dir, mtimes, nixOptions, nixConfig: env.NIX_CONFIG ?? null })
  const dir = opts.cacheDir ?? join(dirname(evalCacheDir(env)), 'complete')
  const file = join(dir, `hosts-${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`)
  const cached = await readPrivate(dir, file).then((t) => (t === undefined ? undefined : cacheEntry.safeParse(JSON.parse(t))), () => undefined)
  if (cached?.success && cached.data.key === key && cached.data.at <= now) {
    if (now - cached.data.at < (cached.data.failed ? HOSTS_FAILURE_TTL_MS : HOSTS_CACHE_TTL_MS)) return cached.data.names
  }
  // one deadline for the whole listing: readFlakeHosts may run nix twice (its colmena retry)
  const read = await readFlakeHosts({ flake, exec: opts.exec, nixOptions, cwd: opts.cwd, signal: AbortSignal.timeout(HOSTS_EVAL_TIMEOUT_MS) })
  if (!read.ok && 'notFound' in read) return []
  const names = read.ok ? (read.value.nixosConfigurations ?? []) : []
  const failed = !read.ok
  // private, as the eval cache: names another user could write would be offered to this user (root)
  await mkdir(dir, { recursive: true, mode: 0o700 })
    .then(async () => {
      if (await isPrivate(dir)) await atomicWrite(file, JSON.stringify({ key, at: now, names, ...(failed ? { failed } : {}) }), 0o600, { syncDir: false })
    })
    .catch(() => {}) // a cache that cannot be written only costs the next TAB an evaluation
  return names
}

function unique(values: string[]): string[] {
  return [...new Set(values)]
}
