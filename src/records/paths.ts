/**
 * Where build records go: `NBS_LOG_DIR`, else the config's `logDir`, else `/var/log/nixos-builds`
 * (the seed's place); when that cannot be written, `$XDG_STATE_HOME/nbs/builds`.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { NbsError } from '../errors.js'

export const DEFAULT_LOG_DIR = '/var/log/nixos-builds'

export interface LogDirCandidates {
  primary: string
  source: 'env' | 'config' | 'default'
  fallback: string
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path === '~' || path.startsWith('~/') ? join(env.HOME || homedir(), path.slice(1)) : path
}

/** The directory asked for and the per-user fallback, without touching the filesystem (readers use both). */
export function logDirCandidates(opts: { configured?: string; env?: NodeJS.ProcessEnv } = {}): LogDirCandidates {
  const env = opts.env ?? process.env
  // The XDG spec says a relative XDG_STATE_HOME is invalid and must be ignored.
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local/state')
  const fallback = join(state, 'nbs/builds')
  if (env.NBS_LOG_DIR) return { primary: resolve(expandHome(env.NBS_LOG_DIR, env)), source: 'env', fallback }
  if (opts.configured) return { primary: resolve(expandHome(opts.configured, env)), source: 'config', fallback }
  return { primary: DEFAULT_LOG_DIR, source: 'default', fallback }
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a parent is not a directory',
  EEXIST: 'exists and is not a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
}

/**
 * Creates `dir` (0755 for every directory it makes, whatever the umask: the JSON records in it are
 * for every user to read; the logs stay 0640) and proves it writable by creating and removing a
 * probe file: access(2) lies on read-only mounts and for root. Returns
 * why it is unusable, or null.
 */
export async function prepareLogDir(dir: string): Promise<string | null> {
  try {
    const first = await mkdir(dir, { recursive: true, mode: 0o755 })
    if (first !== undefined) {
      // chmod each directory mkdir made, from the first one down to `dir`
      for (let d = dir; ; d = dirname(d)) {
        await chmod(d, 0o755)
        if (d === first || relative(first, d).startsWith('..') || d === dirname(d)) break
      }
    }
    if (!(await stat(dir)).isDirectory()) return REASONS.EEXIST!
    const probe = join(dir, `.nbs-probe-${process.pid}-${randomBytes(4).toString('hex')}`)
    await writeFile(probe, '', { flag: 'wx' })
    await rm(probe, { force: true })
    return null
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    return (err.code && REASONS[err.code]) ?? err.message
  }
}

/**
 * The directory to write records to, created 0755. Falls back to the XDG state directory with a
 * one-line notice; a non-root user falling back from the default is the designed case and gets
 * none (it would repeat on every home build). Throws when neither is usable.
 */
export async function resolveLogDir(opts: { configured?: string; env?: NodeJS.ProcessEnv }): Promise<{ dir: string; notice?: string }> {
  const c = logDirCandidates(opts)
  const why = await prepareLogDir(c.primary)
  if (why === null) return { dir: c.primary }
  if (c.primary === c.fallback) throw new NbsError(`cannot write build records to ${c.primary}: ${why}`, 3)
  const whyFallback = await prepareLogDir(c.fallback)
  if (whyFallback !== null) {
    throw new NbsError(`cannot write build records to ${c.primary} (${why}) nor to ${c.fallback} (${whyFallback})`, 3)
  }
  const label = c.source === 'env' ? 'NBS_LOG_DIR ' : c.source === 'config' ? 'logDir ' : ''
  const silent = c.source === 'default' && process.getuid?.() !== 0
  return silent ? { dir: c.fallback } : { dir: c.fallback, notice: `${label}${c.primary} is not writable (${why}); build records go to ${c.fallback}` }
}
