/**
 * Exclusive lock files holding the owner's pid. The file appears with its content already in it
 * (written to a temp name, then hard-linked into place, which fails with EEXIST like O_EXCL), so
 * a reader never sees an empty lock. A lock whose owner is gone is taken over. The owner is
 * recognised by pid plus boot id and process start time: /var/log survives reboots, and a pid
 * from the last boot may belong to an unrelated process now. Once the build tool runs, its pid
 * is in the lock too (setChild): a tool that outlives a killed nbs still holds the lock.
 *
 * Taking over (Node has no flock): in a sticky folder such as /run/lock only a file's owner may
 * unlink it, so another user's dead lock is taken over by rewriting its content in place (shared
 * locks are created 0666 for that). Two takers are kept apart by a guard file named after the
 * stale content (`<lock>.takeover-<hash>`, created with link(), EEXIST semantics): only the
 * guard's creator compares the lock's content with what it judged stale and rewrites it. A guard
 * whose creator died inside that step leads to the next guard, named after both, so no one ever
 * has to delete another's guard; guards are swept by whoever holds the lock next.
 */
import { createHash, randomBytes } from 'node:crypto'
import { constants as fsc, readFileSync } from 'node:fs'
import { chmod, link, lstat, mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { NbsError } from '../errors.js'
import { tempPathFor } from '../fs/atomic-write.js'
import { pidExists } from '../runner/pid.js'
import { readProcStat } from '../runner/proc-stat.js'

export const BUILD_LOCK = 'build.lock'
/** The system-wide lock folder for `os` builds: /run/lock is 1777 on Debian and NixOS, and emptied at boot. */
export const DEFAULT_LOCK_DIR = '/run/lock/nbs'
/** Locks in a shared (sticky) folder: every user may rewrite them, so any user can take over a dead one. */
export const SHARED_LOCK_MODE = 0o666

export interface Lock {
  path: string
  release(): Promise<void>
  /**
   * Names the build tool nbs started (pid and start time) in the lock: while it runs, the lock
   * counts as held even when nbs itself was killed. Best effort: never throws.
   */
  setChild(pid: number): Promise<void>
}

export interface Owner {
  pid: number
  boot?: string
  start?: string
  token?: string
  /** the build tool nbs started, once it runs */
  child?: number
  childStart?: string
  /** a lock its holder released but could not delete (another user's file in a sticky folder) */
  released?: boolean
}

const bootId = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return undefined
  }
})()

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; undefined off Linux. */
export function startTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime
}

/** This process as a lock or in-progress marker names it: pid, boot id, start time. */
export function selfOwner(): Owner {
  return { pid: process.pid, boot: bootId, start: startTime(process.pid) }
}

/** `owner` with the build tool `pid` added (pid and start time, read now). */
export function withChild(owner: Owner, pid: number): Owner {
  return { ...owner, child: pid, childStart: startTime(pid) }
}

const RELEASED = 'released\n'

function parseOwner(text: string): Owner | null {
  if (text === RELEASED) return { pid: 0, released: true }
  const [first = '', second = ''] = text.split('\n')
  if (!/^\d+$/.test(first.trim())) return null
  const fields = Object.fromEntries(second.split(' ').map((kv) => kv.split('=', 2) as [string, string]))
  const child = /^\d+$/.test(fields.child ?? '') ? Number(fields.child) : undefined
  return { pid: Number(first.trim()), boot: fields.boot, start: fields.start, token: fields.token, ...(child && { child, childStart: fields.childstart }) }
}

function formatOwner(o: Owner): string {
  const child = o.child ? ` child=${o.child} childstart=${o.childStart ?? ''}` : ''
  return `${o.pid}\nboot=${o.boot ?? ''} start=${o.start ?? ''}${o.token ? ` token=${o.token}` : ''}${child}\n`
}

/** Whether process `pid` (started at `start` in boot `boot`) still runs. EPERM from kill(0): it runs under another user. */
function processAlive(pid: number, start: string | undefined, boot: string | undefined): boolean {
  if (boot && bootId && boot !== bootId) return false
  if (!pidExists(pid)) return false
  if (readProcStat(pid)?.zombie) return false // dead, not yet reaped by its new parent
  const now = start ? startTime(pid) : undefined
  return !(now && start !== now)
}

/** `running`: nbs itself runs; `child`: nbs is gone but the tool it started still runs; `dead`. */
export function ownerState(owner: Owner): 'running' | 'child' | 'dead' {
  if (owner.released) return 'dead'
  if (processAlive(owner.pid, owner.start, owner.boot)) return 'running'
  if (owner.child && processAlive(owner.child, owner.childStart, owner.boot)) return 'child'
  return 'dead'
}

/** Whether the lock's (or marker's) owner, or the build tool it started, still runs. */
export function ownerAlive(owner: Owner): boolean {
  return ownerState(owner) !== 'dead'
}

/**
 * Opens a lock file itself, never what a symlink planted in a shared folder points at (root's nbs
 * would otherwise read and rewrite any file), and only a regular file.
 */
async function openLockFile(path: string, write: boolean) {
  const handle = await open(path, (write ? fsc.O_RDWR : fsc.O_RDONLY) | fsc.O_NOFOLLOW)
  if (!(await handle.stat()).isFile()) {
    await handle.close()
    throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ELOOP' })
  }
  return handle
}

async function readLockFile(path: string): Promise<string> {
  const handle = await openLockFile(path, false)
  try {
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

async function readOwner(path: string): Promise<{ owner: Owner | null; text: string } | null> {
  try {
    const text = await readLockFile(path)
    return { owner: parseOwner(text), text }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    if (code === 'ELOOP') throw new NbsError(`${path} is not a lock file nbs made (a symlink, or not a regular file); nbs never follows it: remove it: sudo rm ${path}`)
    throw e
  }
}

/** Creates `path` holding `content` with `mode` (umask-proof), or returns false when it exists. */
async function createExclusive(path: string, content: string, mode = 0o640): Promise<boolean> {
  const tmp = tempPathFor(path)
  await writeTemp(tmp, content, mode)
  try {
    await link(tmp, path)
    return true
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e
    // No hard links on this filesystem: O_EXCL, with the short empty window handled by readers.
    const handle = await open(path, 'wx', mode).catch((e2: NodeJS.ErrnoException) => {
      if (e2.code === 'EEXIST') return null
      throw e2
    })
    if (!handle) return false
    await handle.chmod(mode)
    await handle.writeFile(content)
    await handle.close()
    return true
  } finally {
    await rm(tmp, { force: true })
  }
}

async function writeTemp(tmp: string, content: string, mode: number): Promise<void> {
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.chmod(mode) // umask-proof
    await handle.writeFile(content)
  } finally {
    await handle.close()
  }
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16)
const denied = (e: unknown) => ['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '')

type Swap = 'taken' | 'removed' | 'busy' | 'impossible'

/**
 * Replaces the lock's content `expected` with `content`, in place (compare-and-write under the
 * caller's guard). Where the file cannot be written (another user's 0640/0644 lock) it is
 * unlinked instead, which a non-sticky folder allows; `impossible` when neither is allowed.
 */
async function swapContent(path: string, expected: string, content: string | null): Promise<Swap> {
  let handle
  try {
    handle = await openLockFile(path, true)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'removed'
    if (!denied(e)) throw e
    if ((await readLockFile(path).catch(() => null)) !== expected) return 'busy'
    try {
      await unlink(path)
      return 'removed'
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') return 'removed'
      if (denied(e2)) return 'impossible'
      throw e2
    }
  }
  try {
    if ((await handle.readFile('utf8')) !== expected) return 'busy'
    if (content === null) {
      // a release: our own file is deleted; another user's (sticky folder) is marked released
      if (await unlink(path).then(() => true, () => false)) return 'removed'
      content = RELEASED
    }
    await handle.write(content, 0)
    await handle.truncate(Buffer.byteLength(content))
    // written through a name someone unlinked meanwhile? then it is not the lock
    const [mine, now] = await Promise.all([handle.stat(), stat(path).catch(() => null)])
    return now && now.ino === mine.ino && now.dev === mine.dev ? 'taken' : 'busy'
  } finally {
    await handle.close()
  }
}

/** Takes over the lock at `path` that held `staleText` (its owner is gone), guarded against other takers. */
async function takeOver(path: string, staleText: string, content: string): Promise<Swap> {
  let key = staleText
  for (let depth = 0; depth < 16; depth++) {
    const guard = `${path}.takeover-${hash(key)}`
    if (await createExclusive(guard, formatOwner(selfOwner()), 0o644)) {
      try {
        return await swapContent(path, staleText, content)
      } finally {
        await rm(guard, { force: true })
      }
    }
    const g = await readOwner(guard)
    if (g === null || g.owner === null || ownerAlive(g.owner)) return 'busy' // another taker is at work
    key += g.text // its taker died inside the guarded step: the next guard in the chain
  }
  return 'impossible'
}

/** Guards of earlier takeovers: they name contents the lock will never hold again, so the holder may delete them. */
async function sweepGuards(path: string): Promise<void> {
  const prefix = `${basename(path)}.takeover`
  for (const name of await readdir(dirname(path)).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(join(dirname(path), name), { force: true }).catch(() => {})
  }
}

function stuck(path: string, owner: Owner | null): NbsError {
  return new NbsError(
    `${path} was left by ${owner?.pid ? `pid ${owner.pid}` : 'a build'}, which no longer runs, and belongs to another user, so nbs cannot take it over; remove it: sudo rm ${path}`,
    3,
  )
}

/**
 * Takes the lock at `path`, waiting up to `waitMs` for a live owner. `held(owner)` builds the error
 * when it stays held. An unreadable (empty) lock older than 5 s is a crash before its pid was
 * written. `mode`: the lock file's mode (SHARED_LOCK_MODE in a folder every user shares).
 */
export async function acquireLock(
  path: string,
  opts: { waitMs?: number; held?: (owner: Owner | null) => Error; mode?: number } = {},
): Promise<Lock> {
  const token = randomBytes(8).toString('hex')
  const self: Owner = { ...selfOwner(), token }
  let content = formatOwner(self)
  const deadline = Date.now() + (opts.waitMs ?? 0)
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(path, content, opts.mode ?? 0o640)) break
    const current = await readOwner(path)
    if (current === null) continue // released meanwhile
    const { owner, text } = current
    const stale = owner ? !ownerAlive(owner) : Date.now() - (await stat(path).then((s) => s.mtimeMs, () => 0)) > 5000
    if (stale) {
      const r = await takeOver(path, text, content)
      if (r === 'taken') break
      if (r === 'impossible') throw stuck(path, owner)
      if (r === 'removed') continue
      if (attempt >= 200) throw stuck(path, owner)
    } else if (Date.now() >= deadline && !(owner === null && attempt < 20)) {
      throw opts.held?.(owner) ?? new NbsError(`${path} is held by pid ${owner?.pid ?? 'unknown'}`)
    }
    await sleep(Math.min(50, 5 * (attempt + 1)))
  }
  await sweepGuards(path)
  let released = false
  return {
    path,
    async setChild(pid) {
      if (released) return
      const next = formatOwner(withChild(self, pid))
      if ((await swapContent(path, content, next).catch(() => 'busy' as const)) === 'taken') content = next
    },
    async release() {
      if (released) return
      released = true
      // Only our own: if someone took it over (we were presumed dead), leave theirs alone.
      await swapContent(path, content, null).catch(() => {})
    },
  }
}

/**
 * Where the build lock of `target` lives. `os`: system-wide under /run (NBS_LOCK_DIR overrides), one
 * per system root the build reads (a build into a mounted image does not hold the machine's); when
 * /run/lock is missing, the records folder's `build.lock`, as before. `home`: the user's own
 * records folder, so each user has one.
 */
export async function buildLockPath(opts: { target: 'os' | 'home'; logDir: string; env?: NodeJS.ProcessEnv; root?: string }): Promise<string> {
  const fallback = join(opts.logDir, BUILD_LOCK)
  if (opts.target === 'home') return fallback
  const env = opts.env ?? process.env
  const dir = env.NBS_LOCK_DIR ? resolve(env.NBS_LOCK_DIR) : DEFAULT_LOCK_DIR
  const root = resolve(opts.root ?? '/')
  const name = root === '/' ? 'os-build.lock' : `os-build-${createHash('sha256').update(root).digest('hex').slice(0, 12)}.lock`
  // the parent must exist already (/run/lock): nbs never makes /run's layout up
  if (!(await stat(dirname(dir)).then((s) => s.isDirectory(), () => false))) return fallback
  try {
    const made = await mkdir(dir, { recursive: false }).then(() => true, (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return false
      throw e
    })
    // like /run/lock itself: every user may take the lock, only its owner may remove it
    if (made) await chmod(dir, 0o1777)
    // a folder another user made (before root's first build of this boot) is theirs to fill with
    // symlinks and fake owners: only root's or our own, sticky, real folder is shared
    const st = await lstat(dir)
    const uid = process.geteuid?.() ?? -1
    if (!st.isDirectory() || (st.uid !== 0 && st.uid !== uid) || (st.mode & 0o1000) === 0) return fallback
    return join(dir, name)
  } catch {
    return fallback
  }
}

/** The lock every `nbs build` takes (buildLockPath): a second concurrent build is refused. */
export async function acquireBuildLock(opts: { target: 'os' | 'home'; logDir: string; env?: NodeJS.ProcessEnv; root?: string }): Promise<Lock> {
  const lockPath = await buildLockPath(opts)
  const shared = opts.target === 'os' && lockPath !== join(opts.logDir, BUILD_LOCK)
  return acquireLock(lockPath, {
    // readable by every user (another user's build names the holder); in the shared folder also
    // writable, so any user can take over a dead build's lock (the sticky bit stops unlinking it)
    mode: shared ? SHARED_LOCK_MODE : 0o644,
    held: (owner) => heldError(lockPath, owner),
  })
}

/** Why a build is refused: another nbs runs, or a killed nbs's tool still does. */
function heldError(lockPath: string, owner: Owner | null): NbsError {
  if (owner && owner.child && ownerState(owner) === 'child') {
    return new NbsError(
      `a build started by pid ${owner.pid} (nbs killed) is still running: pid ${owner.child}; wait for it to end (nbs then records it as interrupted) or stop it: kill ${owner.child}`,
      3,
    )
  }
  return new NbsError(`another nbs build is running (pid ${owner?.pid ?? 'unknown'}); wait for it or remove ${lockPath} if it is gone`, 3)
}
