/**
 * The process table where Linux has one: `/proc/<pid>/stat`. Elsewhere (macOS) every read says
 * "cannot tell" (undefined), never a throw; callers fall back to what signals alone can do.
 */
import { readFileSync } from 'node:fs'

/**
 * Where the process table is read: `/proc`, or `NBS_PROC_ROOT` (tests point it at a folder that
 * does not exist to run as on macOS, which has no /proc). Read on every call, so a test can set it.
 */
export function procRoot(): string {
  return process.env.NBS_PROC_ROOT || '/proc'
}

/** What nbs needs from /proc/<pid>/stat. */
export interface ProcStat {
  pid: number
  /** field 3: R, S, D, Z, T, … */
  state: string
  ppid: number
  pgid: number
  sid: number
  /** exited, not yet reaped (Z), or dead (X) */
  zombie: boolean
  /** field 22: start time in clock ticks since boot, as text (with the boot id, names one process) */
  startTime: string | undefined
}

/** The stat of `pid`, or undefined when it is gone, not ours to read, or there is no /proc. */
export function readProcStat(pid: number): ProcStat | undefined {
  let raw: string
  try {
    raw = readFileSync(`${procRoot()}/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // comm (field 2) may contain spaces and parentheses: the fields after it start after the LAST ')'
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ')
  const state = f[0] ?? ''
  return { pid, state, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), zombie: state === 'Z' || state === 'X', startTime: f[19] }
}
