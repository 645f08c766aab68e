/**
 * Exclusive lock files holding the owner's pid. The file appears with its content already in it
 * (written to a temp name, then hard-linked into place, which fails with EEXIST like O_EXCL), so
 * a reader never sees an empty lock. A lock whose owner is gone is taken over. The owner is
 * recognised by pid plus boot id and process start time: /var/log survives reboots, and a pid
 * from the last boot may belong to an unrelated process now.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { chmod, link, mkdir, open, readFile, rm, stat, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { NbsError } from '../errors.js'
import { tempPathFor } from '../fs/atomic-write.js'

export const BUILD_LOCK = 'build.lock'
/** The system-wide lock folder for `os` builds: /run/lock is 1777 on Debian and NixOS, and emptied at boot. */
export const DEFAULT_LOCK_DIR = '/run/lock/nbs'

export interface Lock {
  path: string
  release(): Promise<void>
}

export interface Owner {
  pid: number
  boot?: string
  start?: string
  token?: string
}

const bootId = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return undefined
  }
})()

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; undefined off Linux. */
function startTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** This process as a lock or in-progress marker names it: pid, boot id, start time. */
export function selfOwner(): Owner {
  return { pid: process.pid, boot: bootId, start: startTime(process.pid) }
}

function parseOwner(text: string): Owner | null {
  const [first = '', second = ''] = text.split('\n')
  if (!/^\d+$/.test(first.trim())) return null
  const fields = Object.fromEntries(second.split(' ').map((kv) => kv.split('=', 2) as [string, string]))
  return { pid: Number(first.trim()), boot: fields.boot, start: fields.start, token: fields.token }
}

/** Whether the lock's owner still runs. EPERM from kill(0) means it exists under another user. */
export function ownerAlive(owner: Owner): boolean {
  if (owner.boot && bootId && owner.boot !== bootId) return false
  try {
    process.kill(owner.pid, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  const now = owner.start ? startTime(owner.pid) : undefined
  return !(now && owner.start !== now)
}

async function readOwner(path: string): Promise<{ owner: Owner | null; text: string } | null> {
  try {
    const text = await readFile(path, 'utf8')
    return { owner: parseOwner(text), text }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw e
  }
}

/** Creates `path` holding `content`, or returns false when it exists. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const tmp = tempPathFor(path)
  await writeTemp(tmp, content)
  try {
    await link(tmp, path)
    return true
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e
    // No hard links on this filesystem: O_EXCL, with the short empty window handled by readers.
    const handle = await open(path, 'wx', 0o640).catch((e2: NodeJS.ErrnoException) => {
      if (e2.code === 'EEXIST') return null
      throw e2
    })
    if (!handle) return false
    await handle.chmod(0o640)
    await handle.writeFile(content)
    await handle.close()
    return true
  } finally {
    await rm(tmp, { force: true })
  }
}

async function writeTemp(tmp: string, content: string): Promise<void> {
  const handle = await open(tmp, 'wx', 0o640)
  try {
    await handle.chmod(0o640) // umask-proof
    await handle.writeFile(content)
  } finally {
    await handle.close()
  }
}

/**
 * Removes the lock at `path` if it still holds `staleText`. A guard lock makes check-and-remove
 * one step: two processes taking over the same stale lock must not delete each other's new one.
 */
async function removeStale(path: string, staleText: string): Promise<void> {
  const guard = `${path}.takeover`
  const me = `${process.pid}\nboot=${bootId ?? ''} start=${startTime(process.pid) ?? ''}\n`
  if (!(await createExclusive(guard, me))) {
    const g = await readOwner(guard)
    // A guard left by a process that died inside this tiny critical section: clear it and retry.
    if (g?.owner && !ownerAlive(g.owner)) await rm(guard, { force: true })
    return
  }
  try {
    const now = await readOwner(path)
    if (now?.text === staleText) await unlink(path).catch(() => {})
  } finally {
    await rm(guard, { force: true })
  }
}

/**
 * Takes the lock at `path`, waiting up to `waitMs` for a live owner. `held(pid)` builds the error
 * when it stays held. An unreadable (empty) lock older than 5 s is a crash before its pid was written.
 */
export async function acquireLock(
  path: string,
  opts: { waitMs?: number; held?: (pid: number | null) => Error; mode?: number } = {},
): Promise<Lock> {
  const token = randomBytes(8).toString('hex')
  const content = `${process.pid}\nboot=${bootId ?? ''} start=${startTime(process.pid) ?? ''} token=${token}\n`
  const deadline = Date.now() + (opts.waitMs ?? 0)
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(path, content)) break
    const current = await readOwner(path)
    if (current === null) continue // released meanwhile
    const { owner, text } = current
    const stale = owner ? !ownerAlive(owner) : Date.now() - (await stat(path).then((s) => s.mtimeMs, () => 0)) > 5000
    if (stale && attempt >= 100) throw new NbsError(`cannot take over the stale lock ${path}; remove it by hand`)
    if (stale) await removeStale(path, text)
    else if (Date.now() >= deadline && !(owner === null && attempt < 20)) {
      throw opts.held?.(owner?.pid ?? null) ?? new NbsError(`${path} is held by pid ${owner?.pid ?? 'unknown'}`)
    }
    await sleep(Math.min(50, 5 * (attempt + 1)))
  }
  await chmod(path, opts.mode ?? 0o640).catch(() => {})
  // A takeover guard whose owner was killed after removing the stale lock would otherwise stay forever.
  const guard = await readOwner(`${path}.takeover`).catch(() => null)
  if (guard?.owner && !ownerAlive(guard.owner)) await rm(`${path}.takeover`, { force: true })
  let released = false
  return {
    path,
    async release() {
      if (released) return
      released = true
      // Only our own: if someone took it over (we were presumed dead), leave theirs alone.
      const now = await readOwner(path).catch(() => null)
      if (now?.owner?.token === token) await unlink(path).catch(() => {})
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
    return join(dir, name)
  } catch {
    return fallback
  }
}

/** The lock every `nbs build` takes (buildLockPath): a second concurrent build is refused. */
export async function acquireBuildLock(opts: { target: 'os' | 'home'; logDir: string; env?: NodeJS.ProcessEnv; root?: string }): Promise<Lock> {
  const lockPath = await buildLockPath(opts)
  return acquireLock(lockPath, {
    // readable by every user: another user's build must be able to name the holder
    mode: 0o644,
    held: (pid) =>
      new NbsError(`another nbs build is running (pid ${pid ?? 'unknown'}); wait for it or remove ${lockPath} if it is gone`, 3),
  })
}
