import type { Exec } from '../runner/process.js'

/** What `stat` tells about a path on a machine. */
export interface PathStat {
  type: 'file' | 'directory' | 'symlink' | 'other'
  size: number
  /** permission bits and file type, as st_mode */
  mode: number
  uid: number
  gid: number
  mtimeMs: number
}

/**
 * A machine whose state nbs reads: the one nbs runs on (optionally a mounted root, `--root`) or,
 * later, one reached over SSH. Every probe of machine state (profiles and their links,
 * `/run/current-system`, units, journal, nixos-version, Home Manager) goes through one of these,
 * so a probe never knows which transport it uses. Paths are as seen on the machine (inside the
 * root). Reads answer `null` for what does not exist and throw a `MachineError` for what exists
 * but cannot be read (EACCES), so "missing" and "not allowed" are never confused.
 */
export interface Machine {
  /** how messages name it: `this machine`, `root /mnt`, `root@web1` */
  readonly description: string
  /**
   * Its programs can run and its systemd is the one to ask: false for an offline root (a mounted
   * image), whose files are read but whose programs must not run.
   */
  readonly live: boolean
  /** reached over the network (ssh): not the machine nbs runs on, whatever its names say */
  readonly remote?: boolean
  /** Runs a program on the machine (argv, never a shell). For an offline root it runs here. */
  exec: Exec
  /** readlink(2) of the last component, its parents resolved on the machine; null when missing or not a link */
  readLink(path: string): Promise<string | null>
  /** realpath(3) on the machine; null when the path does not resolve (missing, dangling, loop) */
  realPath(path: string): Promise<string | null>
  /** the text of a file (links followed), at most `maxBytes` (default 4 MiB); null when missing */
  readFile(path: string, opts?: { maxBytes?: number }): Promise<string | null>
  /** the names in a folder; null when missing */
  readDir(path: string): Promise<string[] | null>
  /** stat(2), or lstat(2) with `follow: false`; null when missing */
  stat(path: string, opts?: { follow?: boolean }): Promise<PathStat | null>
  /** its host name: the kernel's for a live machine, `/etc/hostname` for an offline root */
  hostname(): Promise<string | null>
  /**
   * For an offline root only: the path on the machine running nbs of a path inside the root, for
   * the few readers that take a directory instead (`journalctl -D`).
   */
  hostPath?(path: string): string
}

/** A read that found the path but was refused (EACCES, EPERM, EIO…): the code says which. */
export class MachineError extends Error {
  override name = 'MachineError'
  constructor(
    message: string,
    readonly code: string,
    readonly path: string,
  ) {
    super(message)
  }
}

/** Codes that mean "there is nothing there": a read answers null for them. */
export const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP'])
