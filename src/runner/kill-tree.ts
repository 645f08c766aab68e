import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { pidExists } from './pid.js'
import { procRoot, readProcStat, type ProcStat } from './proc-stat.js'


/**
 * Every pid, or undefined when there is no process table to read (macOS, a /proc not mounted):
 * "cannot tell", never a throw. Callers fall back to what signals alone can do.
 */
function allPids(): number[] | undefined {
  let names: string[]
  try {
    names = readdirSync(procRoot())
  } catch {
    return undefined
  }
  const pids: number[] = []
  for (const name of names) {
    const n = Number(name)
    if (Number.isInteger(n) && n > 0) pids.push(n)
  }
  return pids
}

function listProcs(): ProcStat[] {
  const out: ProcStat[] = []
  for (const pid of allPids() ?? []) {
    const s = readProcStat(pid)
    if (s) out.push(s)
  }
  return out
}

function treeOf(root: number, procs: ProcStat[]): number[] {
  const children = new Map<number, number[]>()
  for (const p of procs) {
    const list = children.get(p.ppid)
    if (list) list.push(p.pid)
    else children.set(p.ppid, [p.pid])
  }
  const out: number[] = []
  const queue = [root]
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const c of children.get(pid) ?? []) {
      out.push(c)
      queue.push(c)
    }
  }
  return out
}

/**
 * Every live descendant of `pid` by the ppid chain. Snapshot it while the parents are alive:
 * orphans are reparented to init (or a subreaper) and drop out of the tree.
 */
export function descendantsOf(pid: number): number[] {
  return treeOf(pid, listProcs())
}

/** Pids whose environment holds `name=value` (processes we may not read are skipped). */
export function pidsWithEnv(name: string, value: string, prefix = false): number[] {
  const needle = Buffer.from(prefix ? `${name}=${value}` : `${name}=${value}\0`)
  // match at the start or right after a NUL, so FOO_X=... does not match X=...
  const inner = Buffer.concat([Buffer.from([0]), needle])
  const out: number[] = []
  for (const pid of allPids() ?? []) {
    try {
      const env = readFileSync(`${procRoot()}/${pid}/environ`)
      if (env.subarray(0, needle.length).equals(needle) || env.includes(inner)) out.push(pid)
    } catch {
      // gone or not readable
    }
  }
  return out
}

/** Whether the process group `pgid` still has any member (zombies included). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface KillTreeOptions {
  /** time between SIGTERM and SIGKILL */
  graceMs?: number
  /** also kill processes carrying this environment variable (survives reparenting and setsid) */
  envMarker?: { name: string; value: string }
  /** the root already exited and was reaped: its pid may be reused, so neither it nor its ppid tree is signalled */
  rootGone?: boolean
  /** the first signal (default SIGTERM), e.g. SIGINT to forward a Ctrl-C; SIGKILL follows after the grace */
  signal?: NodeJS.Signals
}

/**
 * Everything that belongs to the tree rooted at `pid`, which leads its own session and group:
 * its ppid descendants, members of its group or session (reparented orphans keep those),
 * and processes carrying the env marker (orphans that also called setsid).
 */
function members(pid: number, opts: KillTreeOptions, known: Iterable<number> = []): Set<number> {
  const procs = listProcs()
  const set = new Set<number>(opts.rootGone ? [] : [pid, ...treeOf(pid, procs)])
  for (const p of procs) if (p.pgid === pid || p.sid === pid) set.add(p.pid)
  for (const k of known) {
    set.add(k)
    for (const d of treeOf(k, procs)) set.add(d)
  }
  if (opts.envMarker) for (const p of pidsWithEnv(opts.envMarker.name, opts.envMarker.value)) set.add(p)
  set.delete(process.pid) // never ourselves, whatever the marker says
  return set
}

function signalAll(pid: number, pids: Iterable<number>, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig)
  } catch {
    // ESRCH: the group is already empty
  }
  for (const p of pids) {
    try {
      process.kill(p, sig)
    } catch {
      // ESRCH: exited meanwhile (the race is fine); EPERM: not ours
    }
  }
}

function alive(pids: Iterable<number>): number[] {
  const out: number[] = []
  const table = hasProcTable()
  for (const p of pids) {
    if (!table) {
      // no /proc: signal 0 says whether it exists (a zombie counts as alive until reaped)
      if (pidExists(p)) out.push(p)
      continue
    }
    const s = readProcStat(p)
    if (s && !s.zombie) out.push(p)
  }
  return out
}

/** A mounted /proc has `self`; an empty mount point or none at all (macOS) has not. */
function hasProcTable(): boolean {
  return existsSync(`${procRoot()}/self/stat`)
}


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function waitGone(pids: Iterable<number>, ms: number): Promise<number[]> {
  const deadline = performance.now() + ms
  let left = alive(pids)
  while (left.length > 0 && performance.now() < deadline) {
    await sleep(Math.min(20, Math.max(1, deadline - performance.now())))
    left = alive(left)
  }
  return left
}

/**
 * SIGTERM (or `opts.signal`) the tree rooted at `pid` (group, session, descendants, marked processes), then SIGKILL
 * whatever is still alive after `graceMs`. Resolves once all of it is gone (zombies count as gone)
 * or, for processes that survive even SIGKILL (uninterruptible sleep), after a further second.
 */
export async function killTree(pid: number, opts: KillTreeOptions = {}): Promise<void> {
  const graceMs = opts.graceMs ?? 1000
  // snapshot first: once a parent dies its children are reparented and leave the ppid tree
  const first = members(pid, opts)
  signalAll(pid, first, opts.signal ?? 'SIGTERM')
  const left = await waitGone(first, graceMs)
  // re-scan: a shell trap may have forked during the grace period
  const rest = members(pid, opts, left)
  const still = alive(rest)
  if (still.length === 0 && !groupAlive(pid)) return
  signalAll(pid, still, 'SIGKILL')
  await waitGone(still, 1000)
}
