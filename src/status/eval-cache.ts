/**
 * `nbs status --eval` caches the evaluated toplevel: evaluating a NixOS configuration takes seconds
 * and its answer changes only when what Nix reads changes. The key is everything that decides the
 * answer and can be read without running Nix:
 *
 * - the flake reference and the host (and the extra `nix` arguments, e.g. `nixOptions`),
 * - `NIX_CONFIG` (it can change evaluation settings),
 * - flake.lock's content (the pinned inputs),
 * - the source Nix copies: for a git flake, HEAD plus a hash of `git diff HEAD` (tracked changes,
 *   staged or not; untracked files are invisible to Nix and so to the key); for a path: flake,
 *   a hash of every file's name, mode and content under the flake folder except `.git` (Nix copies
 *   them all). A path: flake larger than PATH_FLAKE_MAX_BYTES, a remote flake, or a checkout git
 *   cannot read is evaluated every time.
 *
 * Entries live in `$XDG_CACHE_HOME/nbs/eval/<sha256 of the key>.json` (`~/.cache/nbs/eval`), one
 * per key, written atomically, only for successful evaluations. A corrupt or unreadable entry is a
 * miss; failing to write one is not an error either.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, readlink, lstat, rm, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { isPrivate, readPrivate } from '../fs/private.js'
import { atomicWrite } from '../fs/atomic-write.js'
import { evalToplevel, type EvalToplevelOptions, type EvalToplevelResult, type EvaluatedToplevel } from '../nix/eval.js'
import { localFlakeDir } from '../nix/flake.js'
import { gitProbe, readHead } from './git.js'

/** Bump when the key or the entry changes meaning: old entries then simply miss. */
const FORMAT = 1
/** Beyond this a path: flake is not hashed (a stray build output or data folder): no caching. */
export const PATH_FLAKE_MAX_BYTES = 64 << 20
/** Entries kept; the oldest beyond this are removed after a write. */
const MAX_ENTRIES = 64

export interface CachedEvalOptions extends EvalToplevelOptions {
  /** where entries live (default: evalCacheDir()) */
  cacheDir?: string
  /** the environment NIX_CONFIG is read from (default: process.env) */
  processEnv?: NodeJS.ProcessEnv
}

export type CachedEvalResult = EvalToplevelResult & { cached?: boolean }

const entrySchema = z.object({
  format: z.literal(FORMAT),
  key: z.string(),
  createdAt: z.string(),
  result: z.object({
    ok: z.literal(true),
    drvPath: z.string().endsWith('.drv'),
    outPath: z.string().optional(),
    system: z.string().optional(),
    hostName: z.string().optional(),
  }),
})

/** `$XDG_CACHE_HOME/nbs/eval`, else `~/.cache/nbs/eval`. */
export function evalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache')
  return join(base, 'nbs', 'eval')
}

/** `evalToplevel`, answered from the cache when nothing it depends on has changed since. */
export async function evalToplevelCached(opts: CachedEvalOptions): Promise<CachedEvalResult> {
  const key = await evalCacheKey(opts).catch(() => undefined)
  if (key === undefined) return evalToplevel(opts)
  const dir = opts.cacheDir ?? evalCacheDir(opts.processEnv)
  const file = join(dir, `${sha256(key)}.json`)
  const hit = await readEntry(dir, file, key)
  if (hit) return { ...hit, cached: true }
  const result = await evalToplevel(opts)
  if (result.ok) await writeEntry(dir, file, key, result).catch(() => {})
  return result
}

/**
 * The cache key as text (hashed for the file name, kept in the entry so a hash collision cannot
 * return another key's answer), or undefined when this flake cannot be cached.
 */
export async function evalCacheKey(opts: CachedEvalOptions): Promise<string | undefined> {
  const local = localFlakeDir(opts.flake)
  if ('error' in local) return undefined
  const lock = await readFile(join(local.dir, 'flake.lock')).then(sha256, (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? 'none' : undefined))
  if (lock === undefined) return undefined
  const source = await sourceFingerprint(opts, local)
  if (source === undefined) return undefined
  const env = opts.processEnv ?? process.env
  return JSON.stringify({
    format: FORMAT,
    flake: opts.flake,
    dir: local.dir,
    host: opts.host,
    extraArgs: opts.extraArgs ?? [],
    nixConfig: opts.env?.NIX_CONFIG ?? env.NIX_CONFIG ?? null,
    lock,
    source,
  })
}

/** What Nix copies, fingerprinted: see the module comment. */
async function sourceFingerprint(opts: CachedEvalOptions, local: { dir: string; kind: 'git' | 'path' }): Promise<string | undefined> {
  if (!/^path:/.test(opts.flake)) {
    // git+file:, or a plain path inside a git work tree: Nix reads it through git
    const { insideWorkTree, rev } = await readHead(opts.exec, local.dir)
    if (insideWorkTree && rev) {
      // streamed into the hash: a large diff is not held (nor cut) by the bounded capture
      const hash = createHash('sha256')
      const diff = await gitProbe(opts.exec, local.dir, ['diff', 'HEAD', '--binary', '--no-color', '--no-ext-diff', '--no-textconv'], {
        capture: false,
        onStdout: (chunk) => void hash.update(chunk),
      })
      if (diff.exitCode !== 0 || diff.error) return undefined
      return `git:${rev}:${hash.digest('hex')}`
    }
    if (local.kind === 'git') return undefined // git+file: git cannot read it (not a repository, dubious ownership): no key
  }
  const tree = await hashTree(local.dir)
  return tree === undefined ? undefined : `path:${tree}`
}

/** sha256 over every entry's relative name, type, mode and content (links: their target), `.git` left out. */
async function hashTree(dir: string): Promise<string | undefined> {
  const hash = createHash('sha256')
  let bytes = 0
  const walk = async (rel: string): Promise<boolean> => {
    const names = (await readdir(join(dir, rel))).sort()
    for (const name of names) {
      if (rel === '' && name === '.git') continue
      const path = join(dir, rel, name)
      const relName = rel ? `${rel}/${name}` : name
      const st = await lstat(path)
      if (st.isSymbolicLink()) hash.update(`l\0${relName}\0${await readlink(path)}\0`)
      else if (st.isDirectory()) {
        hash.update(`d\0${relName}\0`)
        if (!(await walk(relName))) return false
      } else if (st.isFile()) {
        bytes += st.size
        if (bytes > PATH_FLAKE_MAX_BYTES) return false
        hash.update(`f\0${relName}\0${st.mode & 0o111 ? 'x' : '-'}\0${st.size}\0`)
        hash.update(await readFile(path))
      }
    }
    return true
  }
  return (await walk('')) ? hash.digest('hex') : undefined
}

async function readEntry(dir: string, file: string, key: string): Promise<EvaluatedToplevel | undefined> {
  try {
    // only an entry this user alone could have written (not one planted under `sudo -E`)
    const text = await readPrivate(dir, file)
    if (text === undefined) return undefined
    const entry = entrySchema.parse(JSON.parse(text))
    return entry.key === key ? entry.result : undefined
  } catch {
    return undefined // missing, unreadable or corrupt: evaluate as if there were no cache
  }
}

async function writeEntry(dir: string, file: string, key: string, result: EvaluatedToplevel): Promise<void> {
  // private: a cache another user could write would decide what counts as "in sync"
  await mkdir(dir, { recursive: true, mode: 0o700 })
  if (!(await isPrivate(dir))) return
  const entry = { format: FORMAT, key, createdAt: new Date().toISOString(), result }
  await atomicWrite(file, `${JSON.stringify(entry, null, 2)}\n`, 0o600, { syncDir: false })
  await prune(dir)
}

/** Keeps the newest MAX_ENTRIES entries (every dirty state of a tree makes one). */
async function prune(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
  if (names.length <= MAX_ENTRIES) return
  const dated = await Promise.all(names.map(async (n) => ({ n, t: await stat(join(dir, n)).then((s) => s.mtimeMs, () => 0) })))
  dated.sort((a, b) => b.t - a.t)
  await Promise.all(dated.slice(MAX_ENTRIES).map(({ n }) => rm(join(dir, n), { force: true })))
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')
