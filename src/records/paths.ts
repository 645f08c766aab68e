/**
 * Where build records go. Two folders: the system one (`NBS_LOG_DIR`, else the config's `logDir`,
 * else `/var/log/nixos-builds`, the seed's place) for `os` builds, and the user's own
 * (`$XDG_STATE_HOME/nbs/builds`) for `home` builds and for `os` builds when the system folder
 * cannot be written by this user. Readers read both.
 */
import { randomBytes } from 'node:crypto'
import { chmod, chown, lstat, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { currentUserName } from '../machine/users.js'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { NbsError } from '../errors.js'
import { groupId, logGroupName } from './groups.js'

export const DEFAULT_LOG_DIR = '/var/log/nixos-builds'
/** The system folder when nbs (as root) creates it: group-writable and setgid for the admins' group. */
export const SYSTEM_DIR_MODE = 0o2775

export interface LogDirCandidates {
  /** the system folder */
  primary: string
  source: 'env' | 'config' | 'default'
  /** the user's own folder */
  fallback: string
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path === '~' || path.startsWith('~/') ? join(env.HOME || homedir(), path.slice(1)) : path
}

/** The system folder and the user's folder, without touching the filesystem (readers use both). */
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

const isRoot = () => process.getuid?.() === 0

/**
 * Creates `dir` and proves it writable by creating and removing a probe file (access(2) lies on
 * read-only mounts and for root). Parents nbs makes are 0755; `dir` itself gets `mode` (and `gid`)
 * whatever the umask. Returns why it is unusable, or null.
 */
export async function prepareLogDir(dir: string, opts: { mode?: number; gid?: number | null } = {}): Promise<string | null> {
  try {
    const first = await mkdir(dir, { recursive: true, mode: 0o755 })
    if (first !== undefined) {
      // chmod each directory mkdir made, from the first one down to `dir`
      for (let d = dir; ; d = dirname(d)) {
        await chmod(d, 0o755)
        if (d === first || relative(first, d).startsWith('..') || d === dirname(d)) break
      }
      if (opts.gid !== undefined && opts.gid !== null) await chown(dir, 0, opts.gid)
      if (opts.mode !== undefined) await chmod(dir, opts.mode) // after chown, which clears setgid
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

/** Modes of a root:root system folder nbs repairs: the seed's 0750 and the 0755 nbs makes when the group is missing. */
export const REPAIRED_MODES = [0o750, 0o755]

/**
 * As root: a system folder left `root:root` 0750 (the seed) or 0755 (made when the group did not
 * exist) becomes 2775 root:GROUP, with `builds/` likewise and its root:root files given to GROUP
 * (JSON records 0644, as nbs writes them). A folder with another owner, another group or another
 * mode was set by someone on purpose and is left alone. Returns what was done, or null.
 */
async function repairSystemDir(dir: string, group: { name: string; gid: number }): Promise<string | null> {
  const st = await stat(dir)
  const mode = st.mode & 0o7777
  // setgid alone does not make it deliberate: chmod 0750 keeps a folder's setgid bit
  if (st.uid !== 0 || st.gid !== 0 || !REPAIRED_MODES.includes(mode & ~0o2000)) return null
  const fixDir = async (d: string) => {
    await chown(d, 0, group.gid)
    await chmod(d, SYSTEM_DIR_MODE) // after chown, which clears setgid
  }
  const fixFiles = async (d: string) => {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const p = join(d, name)
      const f = await lstat(p).catch(() => null)
      if (!f?.isFile() || f.uid !== 0 || f.gid !== 0) continue
      await chown(p, 0, group.gid).catch(() => {})
      if (name.endsWith('.json')) await chmod(p, 0o644).catch(() => {})
    }
  }
  await fixDir(dir)
  await fixFiles(dir)
  const builds = join(dir, 'builds')
  const b = await stat(builds).catch(() => null)
  if (b?.isDirectory() && b.uid === 0 && b.gid === 0) {
    await fixDir(builds)
    await fixFiles(builds)
  }
  return `repaired ${dir}: it was ${mode.toString(8).padStart(4, '0')} root:root, which keeps group ${group.name} out; it is now 2775 root:${group.name} and its records belong to group ${group.name}`
}

/** The fix for a user refused the system folder: only the steps that apply. */
function fallbackFix(dir: string, group: string, gid: number | null, st: { gid: number; mode: number } | null): string {
  const steps: string[] = []
  if (gid === null) return `create group ${group} (or set logGroup, or NBS_LOG_GROUP, to the admins' group)`
  if (!st) steps.push(`sudo install -d -m 2775 -g ${group} ${dir}`)
  else if (st.gid !== gid) steps.push(`sudo chgrp ${group} ${dir}`)
  if (st && (st.mode & 0o7777) !== SYSTEM_DIR_MODE) steps.push(`sudo chmod 2775 ${dir}`)
  const member = process.getgroups?.().includes(gid) ?? false
  const join_ = member ? [] : [`join group ${group} (sudo usermod -aG ${group} $USER, then log in again)`]
  if (!steps.length && !join_.length) return `${dir} is 2775 root:${group} and you are in group ${group}: check the folders above it, and that the file system is writable`
  return [...(steps.length ? [steps.join(' && ')] : []), ...join_].join(', and ')
}

export interface ResolvedLogDir {
  /** where this build's records and log go */
  dir: string
  /** the admins' group (name, and gid when it exists here) */
  group: { name: string; gid: number | null }
  /** one line for the user: a fallback, or a system folder created without its group */
  notice?: string
}

function whoAmI(env: NodeJS.ProcessEnv): string {
  return currentUserName() ?? (env.USER || `uid ${process.getuid?.() ?? '?'}`)
}

/**
 * The folder a build of `target` writes to. `home`: the user's folder. `os`: the system folder;
 * root creates it 2775 root:GROUP (0755 root when GROUP does not exist here, and says so); a user
 * who cannot write it falls back to the user's folder and is told which, and the fix. Throws (exit
 * 3) when neither is usable.
 */
export async function resolveLogDir(opts: {
  configured?: string
  logGroup?: string
  env?: NodeJS.ProcessEnv
  target?: 'os' | 'home'
}): Promise<ResolvedLogDir> {
  const env = opts.env ?? process.env
  const c = logDirCandidates(opts)
  const name = logGroupName(opts.logGroup, env)
  const group = { name, gid: groupId(name) }
  if (opts.target === 'home') {
    const why = await prepareLogDir(c.fallback)
    if (why !== null) throw new NbsError(`cannot write build records to ${c.fallback}: ${why}`, 3)
    return { dir: c.fallback, group }
  }
  const existed = await stat(c.primary).then(() => true, () => false)
  const root = isRoot()
  const why = await prepareLogDir(c.primary, root && !existed ? { mode: group.gid === null ? 0o755 : SYSTEM_DIR_MODE, gid: group.gid } : {})
  if (why === null) {
    const created = root && !existed && group.gid === null
    const repaired = root && existed && group.gid !== null ? await repairSystemDir(c.primary, { name, gid: group.gid }).catch(() => null) : null
    const notice = created
      ? `created ${c.primary} 0755 root: group ${name} does not exist here, so only root can write build records there (set logGroup, or NBS_LOG_GROUP, to the admins' group)`
      : repaired
    return { dir: c.primary, group, ...(notice && { notice }) }
  }
  if (c.primary === c.fallback) throw new NbsError(`cannot write build records to ${c.primary}: ${why}`, 3)
  const whyFallback = await prepareLogDir(c.fallback)
  if (whyFallback !== null) {
    throw new NbsError(`cannot write build records to ${c.primary} (${why}) nor to ${c.fallback} (${whyFallback})`, 3)
  }
  const label = c.source === 'env' ? 'NBS_LOG_DIR ' : c.source === 'config' ? 'logDir ' : ''
  return {
    dir: c.fallback,
    group,
    notice: `${label}${c.primary} is not writable by ${whoAmI(env)} (${why}); this build's records go to ${c.fallback}; fix: ${
      why === REASONS.EACCES || why === REASONS.EPERM
        ? fallbackFix(c.primary, name, group.gid, await stat(c.primary).catch(() => null))
        : `make ${c.primary} a folder nbs can write, or set ${label ? label.trim() : 'logDir'} to one`
    }`,
  }
}
