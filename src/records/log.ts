/**
 * One log per build: `builds/<time>-<target>-<action>.log` in the records folder, opened at the
 * start and appended with synchronous writes while the build runs (`tail -f` follows it, a killed
 * nbs leaves what it had, memory stays flat whatever the build prints). `last-build.log` is a
 * symlink to the newest, so the seed's path keeps working.
 */
import { closeSync, fchmodSync, fchownSync, fsync, openSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs'
import { promisify } from 'node:util'
import { chmod, mkdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { tempPathFor } from '../fs/atomic-write.js'

export const LAST_BUILD_LOG = 'last-build.log'
export const LOGS_DIR = 'builds'
/** Build logs may quote secrets a build printed: owner and group only. */
export const LOG_MODE = 0o640
/** `20261130T083000Z-os-switch.log` (with `-2`, `-3` … when two start in the same second). */
export const LOG_NAME = /^\d{8}T\d{6}Z-[a-z]+-[a-z-]+(?:-\d+)?\.log$/

export interface BuildLog {
  /** the build's own log (what its record's buildLogPath names) */
  path: string
  /** appends; after the first error (a full disk) writes are dropped, never thrown */
  write(chunk: string | Uint8Array): void
  /** fsync and close; rejects with the first write error, if any */
  close(): Promise<void>
  /** set when the log could not be created at all: writes go nowhere, and this says why */
  notice?: string
}

/** `20261130T083000Z`: sortable, no colons. */
export function logStamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')
}

/** `DIR/builds`, made with the records folder's own mode (setgid and group carry over). */
export async function logsDir(dir: string): Promise<string> {
  const logs = join(dir, LOGS_DIR)
  const made = await mkdir(logs).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') return false
    throw e
  })
  if (made) await chmod(logs, (await stat(dir)).mode & 0o7777).catch(() => {})
  return logs
}

/** Points `DIR/last-build.log` at `log` atomically: a symlink under a temp name, renamed over. */
export async function linkLastLog(dir: string, log: string): Promise<void> {
  linkLastLogSync(dir, log)
}

function linkLastLogSync(dir: string, log: string): void {
  const link = join(dir, LAST_BUILD_LOG)
  const tmp = tempPathFor(link)
  symlinkSync(join(LOGS_DIR, basename(log)), tmp)
  try {
    renameSync(tmp, link)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

const fsyncAsync = promisify(fsync)
/** what one write(2) of the log carries at most */
const COALESCE_BYTES = 64 * 1024

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message

/**
 * Creates this build's log (0640, group `gid` when given and allowed). What arrives in one turn of
 * the event loop is written with one write(2) (at most 64 KiB held): a real Nix writes one record
 * per write, and a write(2) per record cost a real build 30 % more wall time; a reader still sees
 * every line a turn after the tool printed it, and memory stays flat. last-build.log is pointed at it once its first bytes are written (or at close, for
 * a build that printed nothing): a log a full disk left empty never replaces the previous one.
 * Never throws: when the log cannot be created, `notice` says so and writes go nowhere.
 */
export async function openBuildLog(dir: string, opts: { target: string; action: string; start: Date; gid?: number | null }): Promise<BuildLog> {
  const base = `${logStamp(opts.start)}-${opts.target}-${opts.action}`
  let fd = -1
  let path = join(dir, LOGS_DIR, `${base}.log`)
  try {
    const logs = await logsDir(dir)
    for (let n = 1; fd < 0; n++) {
      path = join(logs, `${base}${n === 1 ? '' : `-${n}`}.log`)
      try {
        fd = openSync(path, 'wx', LOG_MODE)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 1000) throw e
      }
    }
    fchmodSync(fd, LOG_MODE) // umask-proof
  } catch (e) {
    if (fd >= 0) closeSync(fd)
    return {
      path,
      write() {},
      async close() {},
      notice: `could not create the build log ${path} (${why(e)}); this build runs without a log`,
    }
  }
  if (opts.gid !== undefined && opts.gid !== null) {
    try {
      fchownSync(fd, -1, opts.gid) // root, or a member; a setgid folder has set it already
    } catch {
      // not ours to give: the folder's group stays
    }
  }
  let failure: unknown
  let closed = false
  let linked = false
  let linkFailure: unknown
  const link = () => {
    linked = true
    try {
      linkLastLogSync(dir, path)
    } catch (e) {
      linkFailure = e // the log itself goes on
    }
  }
  const pending = Buffer.allocUnsafe(COALESCE_BYTES)
  let used = 0
  let scheduled = false
  const writeAll = (b: Uint8Array, length: number) => {
    if (failure || length === 0) return
    try {
      for (let off = 0; off < length; ) off += writeSync(fd, b, off, length - off)
    } catch (e) {
      failure = e // a full disk stops the log, never the build
      return
    }
    if (!linked) link()
  }
  const flush = () => {
    scheduled = false
    writeAll(pending, used)
    used = 0
  }
  return {
    path,
    write(chunk) {
      if (closed || failure) return
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (used + b.byteLength > COALESCE_BYTES) flush()
      if (b.byteLength >= COALESCE_BYTES) return writeAll(b, b.byteLength)
      pending.set(b, used) // a copy: the caller may reuse its chunk
      used += b.byteLength
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    async close() {
      if (closed) return
      flush()
      closed = true
      try {
        await fsyncAsync(fd) // on the thread pool: the after-snapshot's reads go on meanwhile
      } catch (e) {
        failure ??= e
      }
      closeSync(fd)
      if (!linked && !failure) link()
      if (failure) throw new Error(`${why(failure)}; the log stopped there${linked ? '' : `, and ${LAST_BUILD_LOG} still names the previous build's log`}`)
      if (linkFailure) throw new Error(`the log is complete, but ${join(dir, LAST_BUILD_LOG)} could not be pointed at it (${why(linkFailure)})`)
    },
  }
}
