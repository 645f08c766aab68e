import { existsSync } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import { execa, type ResultPromise } from 'execa'
import type { CapturedText } from '../report/types.js'
import { BoundedCapture, DEFAULT_HEAD_BYTES, DEFAULT_TAIL_BYTES } from './capture.js'
import { groupAlive, killTree, pidsWithEnv } from './kill-tree.js'

export interface RunProcessOptions {
  cwd?: string
  /** merged onto process.env; an `undefined` value removes the variable */
  env?: Record<string, string | undefined>
  /** written to stdin; without it stdin is `stdin` */
  input?: string
  /**
   * stdin when there is no `input` (default 'ignore' = /dev/null). 'inherit' lets the child read
   * our terminal (sudo prompts); 'pipe' hands the writable end to `onSpawn`.
   */
  stdin?: 'ignore' | 'inherit' | 'pipe'
  /** 'inherit' gives the child our own stream (a display that needs the terminal); nothing is captured */
  stdout?: 'pipe' | 'inherit'
  stderr?: 'pipe' | 'inherit'
  /** keep the bounded capture of piped output (default true); false when only the callbacks matter */
  capture?: boolean
  /**
   * run in a new session and process group (default true), so the whole tree can be signalled.
   * false keeps the child in our foreground group, with our controlling terminal (sudo needs it).
   */
  detached?: boolean
  /** the first signal sent to the tree on abort (default SIGTERM; SIGKILL follows after the grace) */
  killSignal?: NodeJS.Signals | ((reason: unknown) => NodeJS.Signals)
  /** called once the child is spawned; `tag` is the PROCESS_TAG_ENV value its whole tree carries */
  onSpawn?: (child: { pid: number; stdin: Writable | null; tag?: string }) => void
  /**
   * asked once the child has exited with its pipes still held: true = wait for the holders to
   * close them, however long, and kill nothing (an activation the tool started must finish)
   */
  keepLeftovers?: () => boolean
  timeoutMs?: number
  signal?: AbortSignal
  /** bytes kept per stream, split between head and tail (default 1 MiB) */
  maxOutputBytes?: number
  /** time between SIGTERM and SIGKILL when killing the tree (default 1000) */
  killGraceMs?: number
  /**
   * how long after the child exits on its own its pipes may stay open before the holders are
   * killed (default 100 ms). A longer one for a child whose pipes another process legitimately
   * holds and writes to after it exits (an ssh session: the ControlMaster). After a kill: 100 ms.
   */
  drainMs?: number
  /** called with each raw chunk as it arrives (must not throw: it runs inside the stream's emit) */
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
}

export interface ProcessResult {
  exitCode: number | null
  signal: string | null
  stdout: CapturedText
  stderr: CapturedText
  durationMs: number
  timedOut: boolean
  aborted: boolean
  notFound: boolean
  error?: string
}

/**
 * Options for `ctx.exec` and `Machine.exec`. The runner adds the check's abort signal and output
 * bounds itself; a `signal` given here stops the call earlier, never later. In a check, only
 * `cwd`, `env`, `input`, `timeoutMs`, `signal`, `maxOutputBytes`, `killGraceMs`, `capture`,
 * `onStdout` and `onStderr` are accepted (anything reaching the terminal or outliving the check,
 * e.g. `stdout: 'inherit'`, makes the call reject, naming it).
 */
export type ExecOptions = RunProcessOptions

/**
 * How probes run programs: `ctx.exec` in a check, or `runProcess` for scripts. Library probes take
 * one of these instead of spawning themselves, so a test or a future ssh target swaps the transport.
 */
export type Exec = (file: string, args?: readonly string[], options?: ExecOptions) => Promise<ProcessResult>

/** Every child carries this, so orphans that called setsid can still be found and killed. */
export const PROCESS_TAG_ENV = 'NBS_PROCESS_TAG'

/**
 * Kills what any child of this nbs left running after it exited, found by the marker every child
 * carries (`<our pid>-<n>`): a grandchild that called setsid is neither in the child's process
 * group nor its tree any more. One /proc scan, so it runs once at the end of a run, not per child.
 */
export function killOrphans(): number[] {
  const pids = pidsWithEnv(PROCESS_TAG_ENV, `${process.pid}-`, true).filter((pid) => pid !== process.pid)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  return pids
}
/** How long after the main process exits its pipes may take to drain before leftovers are killed. */
const DRAIN_MS = 100

let seq = 0
/** Children still running (pid → leads its own group), killed if nbs itself exits (detached ones are not in our group). */
const running = new Map<number, boolean>()
let exitHook = false
function track(pid: number, group: boolean): void {
  running.set(pid, group)
  if (exitHook) return
  exitHook = true
  process.once('exit', () => {
    for (const [pid, group] of running) {
      try {
        process.kill(group ? -pid : pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  })
}

/**
 * Runs `file` with `args` (never through a shell) in its own process group, capturing bounded
 * stdout/stderr. Never throws for the child's failures: they are described in the result.
 */
export async function runProcess(
  file: string,
  args: readonly string[],
  opts: RunProcessOptions = {},
): Promise<ProcessResult> {
  const started = performance.now()
  const max = opts.maxOutputBytes ?? DEFAULT_HEAD_BYTES + DEFAULT_TAIL_BYTES
  const split = { headBytes: Math.ceil(max / 2), tailBytes: Math.floor(max / 2) }
  const capture = opts.capture !== false
  const out = new BoundedCapture(split)
  const err = new BoundedCapture(split)
  const detached = opts.detached !== false
  const result = (r: Partial<ProcessResult>): ProcessResult => ({
    exitCode: null,
    signal: null,
    timedOut: false,
    aborted: false,
    notFound: false,
    ...r,
    stdout: out.result(),
    stderr: err.result(),
    durationMs: performance.now() - started,
  })
  if (opts.signal?.aborted) return result({ aborted: true, error: 'aborted before start' })

  const tag = `${process.pid}-${++seq}`
  let child: ResultPromise
  try {
    child = execa(file, args, {
      cwd: opts.cwd,
      env: { ...opts.env, [PROCESS_TAG_ENV]: tag },
      extendEnv: true,
      shell: false,
      ...(opts.input === undefined ? { stdin: opts.stdin ?? 'ignore' } : { input: opts.input }),
      stdout: opts.stdout ?? 'pipe',
      stderr: opts.stderr ?? 'pipe',
      buffer: false,
      encoding: 'buffer',
      detached, // setsid: the child leads its own group, so the tree can be signalled
      cleanup: false, // detached anyway; our exit hook covers it
      reject: false,
    })
  } catch (e) {
    return result({ error: (e as Error).message }) // invalid options
  }

  const pid = child.pid
  if (pid === undefined) return spawnFailure(await child, file, opts.cwd, result)
  track(pid, detached)
  child.stdin?.on('error', () => {}) // EPIPE when the child stops reading: its exit tells the story
  opts.onSpawn?.({ pid, stdin: child.stdin ?? null, tag })

  const streams = [child.stdout, child.stderr].filter((s): s is Readable => s != null)
  child.stdout?.on('data', (c: Buffer) => {
    if (capture) out.write(c)
    opts.onStdout?.(c)
  })
  child.stderr?.on('data', (c: Buffer) => {
    if (capture) err.write(c)
    opts.onStderr?.(c)
  })
  const drained = Promise.all(streams.map(closed))

  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let exited = false
  let stop: 'timeout' | 'abort' | undefined
  let killing: Promise<void> | undefined
  const graceMs = opts.killGraceMs ?? 1000
  const envMarker = { name: PROCESS_TAG_ENV, value: tag }
  const kill = (why: 'timeout' | 'abort') => {
    if (exited || stop) return // it exited just before: the leftover sweep below handles the rest
    stop = why
    const ks = opts.killSignal
    const signal = why === 'abort' && ks ? (typeof ks === 'function' ? ks(opts.signal?.reason) : ks) : undefined
    killing = killTree(pid, { graceMs, envMarker, ...(signal ? { signal } : {}) })
  }
  // setTimeout fires at once for delays above 2^31-1 ms: clamp rather than kill immediately
  const timer = opts.timeoutMs ? setTimeout(() => kill('timeout'), Math.min(opts.timeoutMs, 2 ** 31 - 1)) : undefined
  const onAbort = () => kill('abort')
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  child.catch(() => {}) // reject: false, but never leave a rejection unhandled

  const status = await exit
  exited = true
  clearTimeout(timer)
  opts.signal?.removeEventListener('abort', onAbort)
  await killing

  // Let the pipes drain; if they stay open something still holds them. One kill(-pid, 0)
  // tells whether the group has leftovers, so the /proc walk only happens when needed.
  let open = !(await within(drained, stop ? DRAIN_MS : (opts.drainMs ?? DRAIN_MS)))
  if (open && opts.keepLeftovers?.()) {
    await drained
    open = false
  }
  if (open || (detached && groupAlive(pid))) await killTree(pid, { graceMs, envMarker, rootGone: true })
  if (open) await within(drained, 20) // pick up what the killed holders wrote
  for (const s of streams) s.destroy() // never wait on a pipe held by something we could not find
  running.delete(pid)

  const error = stop === 'timeout' ? `timed out after ${opts.timeoutMs} ms` : stop === 'abort' ? 'aborted' : undefined
  return result({
    exitCode: status.code,
    signal: status.signal,
    timedOut: stop === 'timeout',
    aborted: stop === 'abort',
    ...(error ? { error } : {}),
  })
}

function spawnFailure(
  r: { code?: string; originalMessage?: string; message?: string },
  file: string,
  cwd: string | undefined,
  result: (r: Partial<ProcessResult>) => ProcessResult,
): ProcessResult {
  // spawn reports a missing cwd as ENOENT too: that is not a missing command
  if (r.code === 'ENOENT' && !(cwd !== undefined && !existsSync(cwd))) {
    return result({ notFound: true, error: `command not found: ${file}` })
  }
  if (r.code === 'EACCES') return result({ error: `permission denied: ${file}` })
  return result({ error: r.originalMessage ?? r.message ?? `could not start ${file}` })
}

function closed(s: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve()
    s.once('close', resolve).once('end', resolve).once('error', () => resolve())
  })
}

/** Whether `p` settled within `ms`; the timer is cleared so it does not hold the event loop. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))
  return Promise.race([p.then(() => true), late]).finally(() => clearTimeout(timer))
}

/**
 * An `Exec` for the status probes (git, systemctl, journalctl, nix --version): every call is
 * bounded, so a hung probe is reported as timed out instead of holding the command, and it stops
 * with `signal` (Ctrl-C). A caller's own options win.
 */
export function probeExec(opts: { timeoutMs: number; signal?: AbortSignal }): Exec {
  return (file, args = [], options = {}) => runProcess(file, args, { timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}), ...options })
}
