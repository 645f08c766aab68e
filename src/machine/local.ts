import { lstat, open, readdir, readlink, realpath, stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { hostname as kernelHostname } from 'node:os'
import { posix, resolve } from 'node:path'
import type { Exec } from '../checks/types.js'
import { hostPath, resolveInRoot } from './root-path.js'
import { MachineError, MISSING_CODES, type Machine, type PathStat } from './types.js'

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024

export interface LocalMachineOptions {
  /** `--root`: a mounted system whose files are read as if it were `/` (default `/`, the live system) */
  root?: string
  /** how its programs run: `ctx.exec` in a check, a bounded probe runner in `nbs status` */
  exec: Exec
}

/**
 * The machine nbs runs on, or an offline root mounted on it. With a root, every path is looked
 * up inside it: absolute symlink targets restart at the root (`/run/current-system` →
 * `ROOT/nix/store/…`), as a process chrooted there would see them.
 */
export function localMachine(opts: LocalMachineOptions): Machine {
  const root = resolve(opts.root ?? '/')
  const live = root === '/'

  /** Where `path` is on this host, its links resolved inside the root; null when missing. */
  const locate = async (path: string): Promise<string | null> => {
    try {
      return live ? await realpath(path) : hostPath(root, await resolveInRoot(root, path))
    } catch (e) {
      return missing(e, path)
    }
  }
  /** The host path of `path` itself (its last component not followed). */
  const locateLink = async (path: string): Promise<string | null> => {
    const abs = posix.resolve('/', path)
    if (abs === '/') return locate('/')
    const parent = await locate(posix.dirname(abs))
    return parent === null ? null : posix.join(parent, posix.basename(abs))
  }

  return {
    description: live ? 'this machine' : `root ${root}`,
    live,
    exec: opts.exec,
    async readLink(path) {
      const at = await locateLink(path)
      if (at === null) return null
      return readlink(at).catch((e: NodeJS.ErrnoException) => (e.code === 'EINVAL' ? null : missing(e, path)))
    },
    async realPath(path) {
      if (live) return locate(path)
      try {
        return await resolveInRoot(root, path)
      } catch (e) {
        return missing(e, path)
      }
    },
    async readFile(path, o = {}) {
      const at = await locate(path)
      if (at === null) return null
      try {
        const handle = await open(at, 'r')
        try {
          // read to the end, not by the size stat reports: /proc and /sys files say 0
          const max = o.maxBytes ?? DEFAULT_MAX_BYTES
          const chunks: Buffer[] = []
          let total = 0
          while (total < max) {
            const buf = Buffer.alloc(Math.min(64 * 1024, max - total))
            const { bytesRead } = await handle.read(buf, 0, buf.length, null)
            if (bytesRead === 0) break
            chunks.push(buf.subarray(0, bytesRead))
            total += bytesRead
          }
          return Buffer.concat(chunks).toString('utf8')
        } finally {
          await handle.close()
        }
      } catch (e) {
        return missing(e, path)
      }
    },
    async readDir(path) {
      const at = await locate(path)
      return at === null ? null : readdir(at).catch((e) => missing(e, path))
    },
    async stat(path, o = {}) {
      const at = o.follow === false ? await locateLink(path) : await locate(path)
      if (at === null) return null
      return (o.follow === false ? lstat(at) : stat(at)).then(toPathStat, (e) => missing(e, path))
    },
    async hostname() {
      if (live) return kernelHostname()
      const text = await this.readFile('/etc/hostname').catch(() => null)
      return text?.split('\n')[0]?.trim() || null
    },
    ...(live ? {} : { hostPath: (path: string) => hostPath(root, path) }),
  }
}

/** null for "nothing there"; any other failure is a MachineError naming the path and the code. */
function missing(e: unknown, path: string): null {
  const err = e as NodeJS.ErrnoException
  if (err.code && MISSING_CODES.has(err.code)) return null
  throw new MachineError(`${path}: ${err.code ?? err.message}`, err.code ?? 'EIO', path)
}

function toPathStat(s: Stats): PathStat {
  const type = s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other'
  return { type, size: s.size, mode: s.mode, uid: s.uid, gid: s.gid, mtimeMs: s.mtimeMs }
}
