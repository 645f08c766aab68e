/**
 * Runs many execs of one host in one ssh session (remote-batch.ts holds the script). Execs that
 * arrive in the same tick start one session together; execs that arrive while it runs join it,
 * so a host's checks cost one login shell per run instead of one per check. A session that has
 * nothing left to run lingers a moment for the next round of checks, then closes; it stops
 * taking new execs as soon as other sessions wait for a slot (maxSessions), so it never starves
 * them.
 *
 * Per exec: bounded capture, callbacks with every byte (they arrive as the relay's lines are
 * parsed, in chunks of at most 1536 bytes, a little later than from a process of one's own), a
 * timeout or an abort that kills that command's process group only (`nbs_k` on the session's
 * stdin: no other session needed, so a full maxSessions cannot hold it up).
 */
import { randomBytes } from 'node:crypto'
import type { Writable } from 'node:stream'
import type { CapturedText } from '../report/types.js'
import { BoundedCapture, DEFAULT_HEAD_BYTES, DEFAULT_TAIL_BYTES } from '../runner/capture.js'
import { runProcess, type ProcessResult, type RunProcessOptions } from '../runner/process.js'
import { BatchParser, batchKill, batchPreamble, type BatchEvent } from './remote-batch.js'
import type { ScriptEnd } from './remote-script.js'

/** A running `sh -s` session: its stdin stays open until `end()`. */
export interface BatchSessionHandle {
  /** the local process's pid, once spawned */
  readonly pid?: number | undefined
  write(data: Buffer): void
  /** closes stdin: the remote script ends and kills whatever still runs */
  end(): void
  /** kills the local ssh process (for a session that does not end after `end()`) */
  kill(): void
  /** the ssh process exited and its pipes were drained */
  done: Promise<ProcessResult>
}

/**
 * Runs `file args` (ssh with `sh -s` at its end; `sh -s` itself in tests) with `script` on its
 * stdin, which stays open for more until `end()`. `extra`: runProcess options such as `drainMs`.
 */
export function pipeSession(
  file: string,
  args: readonly string[],
  script: Buffer,
  io: { onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void },
  extra: Pick<RunProcessOptions, 'drainMs' | 'env' | 'capture' | 'maxOutputBytes' | 'killGraceMs'> = {},
): BatchSessionHandle {
  let stdin: Writable | null = null
  let ended = false
  let pid: number | undefined
  const stop = new AbortController()
  const done = runProcess(file, args, {
    capture: false,
    ...extra,
    stdin: 'pipe',
    signal: stop.signal,
    onSpawn: (c) => {
      pid = c.pid
      stdin = c.stdin
      c.stdin?.write(script)
    },
    onStdout: io.onStdout,
    onStderr: io.onStderr,
  }).finally(() => (stdin as Writable | null)?.destroy())
  const pipe = () => (ended ? null : (stdin as Writable | null))
  return {
    get pid() {
      return pid
    },
    write: (data) => void pipe()?.write(data),
    end: () => {
      pipe()?.end()
      ended = true
    },
    kill: () => stop.abort(),
    done,
  }
}

/** What the batcher needs from the machine: session slots and sessions. */
export interface BatchTransport {
  /** a session slot (maxSessions); rejects when `signal` aborts first */
  acquire(signal: AbortSignal): Promise<() => void>
  /** other sessions are waiting for a slot */
  contended(): boolean
  /** starts `sh -s` with `script` on stdin */
  open(script: Buffer, io: { onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void }): BatchSessionHandle
  /** why a session that ended before a command did failed (ssh's own line, a lost connection) */
  failure(stderrTail: string, exitCode: number | null): Promise<string>
}

export interface BatchRunOptions {
  /** from when the command is sent to the host */
  timeoutMs?: number
  signal?: AbortSignal
  /** TERM → KILL of the command's group, rounded up to seconds (default 1000) */
  killGraceMs?: number
  maxOutputBytes?: number
  capture?: boolean
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
}

export type BatchOutcome =
  /** the host cannot run batches (a tool missing): run it the one-session way */
  | { kind: 'unsupported'; reason: string }
  | {
      kind: 'ran'
      /** how the command ended, as the host reported it */
      end?: ScriptEnd
      /** stopped by its timeout or its signal */
      stop?: 'timeout' | 'abort'
      /** the session failed before the command's end was reported */
      failure?: string
      stdout: CapturedText
      stderr: CapturedText
      durationMs: number
    }

export interface BatcherOptions {
  /** how long an idle session stays open for the next round (default 500 ms) */
  lingerMs?: number
  /** commands running at once in one session; more wait for one to end (default 32) */
  maxJobs?: number
  /** after a command's end, how long its last output may take (default 5000 ms) */
  drainMs?: number
}

const EMPTY: CapturedText = { text: '', bytes: 0, truncated: false }
/** after a kill, how much longer than the grace a command may take to report its end */
const KILL_WAIT_MS = 5000
/** after stdin is closed, how long the session may take to end before its ssh is killed */
const CLOSE_WAIT_MS = 5000

interface Job {
  body: (index: number) => Buffer
  opts: BatchRunOptions
  graceS: number
  started: number
  out?: BoundedCapture
  err?: BoundedCapture
  session?: Session
  index?: number
  pgid?: number
  end?: ScriptEnd
  /** streams whose relay has ended */
  closed: number
  stop?: 'timeout' | 'abort'
  killSent?: boolean
  finished?: boolean
  timers: NodeJS.Timeout[]
  settle(o: BatchOutcome): void
}

interface Session {
  nonce: string
  /** the connection's own session: takes every job, holds no slot, ends with the connection */
  permanent: boolean
  state: 'waiting' | 'open' | 'draining' | 'closed'
  /** not sent yet */
  queue: Job[]
  /** sent, not finished; by index */
  live: Map<number, Job>
  next: number
  handle?: BatchSessionHandle
  release?: () => void
  /** stops waiting for a slot */
  cancel: AbortController
  linger?: NodeJS.Timeout
  errTail: BoundedCapture
  ended: Promise<void>
  markEnded(): void
}

export class ExecBatcher {
  private current: Session | undefined
  private readonly sessions = new Set<Session>()
  private disabled: string | undefined
  private readonly lingerMs: number
  private readonly maxJobs: number
  private readonly drainMs: number

  constructor(
    private readonly transport: BatchTransport,
    o: BatcherOptions = {},
  ) {
    this.lingerMs = o.lingerMs ?? 500
    this.maxJobs = o.maxJobs ?? 32
    this.drainMs = o.drainMs ?? 5000
  }

  /** Why this host cannot run batches (found by the first session), or undefined. */
  get unsupported(): string | undefined {
    return this.disabled
  }

  /** Runs one job (a body from batchJobBody) in the session taking execs now. */
  run(body: (index: number) => Buffer, opts: BatchRunOptions = {}): Promise<BatchOutcome> {
    if (this.disabled) return Promise.resolve({ kind: 'unsupported', reason: this.disabled })
    return new Promise((resolve) => {
      const max = opts.maxOutputBytes ?? DEFAULT_HEAD_BYTES + DEFAULT_TAIL_BYTES
      const split = { headBytes: Math.ceil(max / 2), tailBytes: Math.floor(max / 2) }
      const capture = opts.capture !== false
      const onAbort = () => this.stop(job, 'abort')
      const job: Job = {
        body,
        opts,
        graceS: Math.max(1, Math.ceil((opts.killGraceMs ?? 1000) / 1000)),
        started: performance.now(),
        ...(capture ? { out: new BoundedCapture(split), err: new BoundedCapture(split) } : {}),
        timers: [],
        closed: 0,
        settle: (o) => {
          for (const t of job.timers) clearTimeout(t)
          opts.signal?.removeEventListener('abort', onAbort)
          resolve(o)
        },
      }
      if (opts.signal?.aborted) return job.settle(this.outcome(job, { stop: 'abort' }))
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.add(this.accepting(), job)
    })
  }

  /** Ends every session (what still runs there is killed) and waits for them, bounded. */
  async close(): Promise<void> {
    for (const s of this.sessions) {
      if (s.state !== 'waiting') this.end(s)
      else if (s.permanent) this.finishSession(s, 'the connection was closed') // never adopted
      else s.cancel.abort()
    }
    await Promise.all([...this.sessions].map((s) => s.ended))
  }

  // ---- sessions ----

  /**
   * A session the caller starts itself and that lasts as long as the connection (the ssh master's
   * own session): it takes every job while it is open, holds no slot and never lingers out. Start
   * `sh -s` with `preamble` and `io`, then `adopt` its handle.
   */
  permanent(): { preamble: Buffer; io: { onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void }; adopt(handle: BatchSessionHandle): void } {
    const s = this.session(true)
    const parser = new BatchParser(s.nonce, (e) => this.event(s, e))
    return {
      preamble: batchPreamble(s.nonce, { hold: true }),
      io: { onStdout: (c) => parser.write(c), onStderr: (c) => s.errTail.write(c) },
      adopt: (handle) => {
        if (this.current && !this.current.permanent) this.drain(this.current)
        s.handle = handle
        s.state = 'open'
        this.current = s
        this.pump(s)
        void this.watch(s, handle)
      },
    }
  }

  private session(permanent: boolean): Session {
    let markEnded = () => {}
    const ended = new Promise<void>((r) => (markEnded = r))
    const s: Session = {
      nonce: randomBytes(12).toString('hex'),
      permanent,
      state: 'waiting',
      queue: [],
      live: new Map(),
      next: 0,
      cancel: new AbortController(),
      errTail: new BoundedCapture({ headBytes: 0, tailBytes: 4096 }),
      ended,
      markEnded,
    }
    this.sessions.add(s)
    return s
  }

  /** The session new jobs join: the open one unless others wait for slots; else a new one. */
  private accepting(): Session {
    const s = this.current
    if (s?.permanent && s.state === 'open') return s
    if (s && (s.state === 'waiting' || (s.state === 'open' && !this.transport.contended()))) return s
    if (s && s.state === 'open') this.drain(s)
    const n = this.session(false)
    this.current = n
    // after this tick's execs (and the microtasks that bring them here) have joined
    setImmediate(() => void this.launch(n))
    return n
  }

  private async launch(s: Session): Promise<void> {
    let release: () => void
    try {
      release = await this.transport.acquire(s.cancel.signal)
    } catch {
      return this.finishSession(s, 'the session was closed before it started')
    }
    if (s.queue.length === 0) {
      release()
      return this.finishSession(s)
    }
    s.release = release
    s.state = 'open'
    const parser = new BatchParser(s.nonce, (e) => this.event(s, e))
    const first = s.queue.splice(0, this.maxJobs).map((j) => this.text(s, j))
    const handle = this.transport.open(Buffer.concat([batchPreamble(s.nonce), ...first]), {
      onStdout: (c) => parser.write(c),
      onStderr: (c) => s.errTail.write(c),
    })
    s.handle = handle
    await this.watch(s, handle)
  }

  /** Until the session's process is gone; then what it still ran failed. */
  private async watch(s: Session, handle: BatchSessionHandle): Promise<void> {
    const r = await handle.done
    // later execs go to a new session
    s.state = 'closed'
    if (this.current === s) this.current = undefined
    const left = s.live.size + s.queue.length > 0
    this.finishSession(s, left ? await this.transport.failure(s.errTail.result().text, r.exitCode) : undefined)
  }

  /** No new jobs: it closes once its jobs are done. */
  private drain(s: Session): void {
    if (s.state !== 'open') return
    s.state = 'draining'
    if (this.current === s) this.current = undefined
    if (s.live.size === 0 && s.queue.length === 0) this.end(s)
  }

  /** Closes its stdin (the script ends, what runs is killed); its ssh is killed if it hangs on. */
  private end(s: Session): void {
    if (this.current === s) this.current = undefined
    clearTimeout(s.linger)
    if (s.state === 'closed' || !s.handle) return
    s.state = 'closed'
    const handle = s.handle
    handle.end()
    const t = setTimeout(() => handle.kill(), CLOSE_WAIT_MS)
    void handle.done.finally(() => clearTimeout(t))
  }

  /** The session is over (or never started): every job not finished gets `why`. */
  private finishSession(s: Session, why?: string): void {
    s.release?.()
    s.release = undefined
    clearTimeout(s.linger)
    s.state = 'closed'
    if (this.current === s) this.current = undefined
    this.sessions.delete(s)
    const left = [...s.live.values(), ...s.queue]
    s.live.clear()
    s.queue = []
    const reason = why ?? 'the session ended'
    for (const j of left) {
      if (j.finished) continue
      j.finished = true
      j.settle(this.outcome(j, j.stop ? {} : { failure: reason }))
    }
    s.markEnded()
  }

  /** The host cannot run batches: this session's jobs, and every later one, take the one-session way. */
  private refuse(s: Session, reason: string): void {
    this.disabled = reason
    if (this.current === s) this.current = undefined
    const left = [...s.live.values(), ...s.queue]
    s.live.clear()
    s.queue = []
    for (const j of left) {
      if (j.finished) continue
      j.finished = true
      if (j.stop) j.settle(this.outcome(j, {}))
      else j.settle({ kind: 'unsupported', reason })
    }
  }

  // ---- jobs ----

  private add(s: Session, job: Job): void {
    job.session = s
    clearTimeout(s.linger)
    if (s.state === 'open' && s.live.size < this.maxJobs) s.handle!.write(this.text(s, job))
    else s.queue.push(job)
  }

  /** Numbers the job, counts it as sent and starts its timeout; its script text. */
  private text(s: Session, job: Job): Buffer {
    const index = s.next++
    job.index = index
    s.live.set(index, job)
    const t = job.opts.timeoutMs
    if (t) job.timers.push(setTimeout(() => this.stop(job, 'timeout'), Math.min(t, 2 ** 31 - 1)))
    return job.body(index)
  }

  private event(s: Session, e: BatchEvent): void {
    if (e.kind === 'ready') return
    if (e.kind === 'unsupported') return this.refuse(s, e.reason)
    const job = s.live.get(e.job)
    if (!job) return
    switch (e.kind) {
      case 'start':
        job.pgid = e.pgid
        if (job.stop && !job.end) this.kill(s, job)
        return
      case 'output':
        if (e.stream === 'stdout') {
          job.out?.write(e.data)
          job.opts.onStdout?.(e.data)
        } else {
          job.err?.write(e.data)
          job.opts.onStderr?.(e.data)
        }
        return
      case 'end':
        job.end = e.end
        if (job.closed === 2) return this.finish(s, job)
        // its pipes may be held open by something it left that escaped its group
        job.timers.push(setTimeout(() => this.finish(s, job), this.drainMs))
        return
      case 'closed':
        if (++job.closed < 2) return
        if (job.end) return this.finish(s, job)
        // the end line follows at once, unless its shell died
        job.timers.push(setTimeout(() => this.finish(s, job), this.drainMs))
    }
  }

  /** Timeout or abort: kill that command's group only; its end (or the wait's end) settles it. */
  private stop(job: Job, why: 'timeout' | 'abort'): void {
    if (job.finished || job.stop || job.end) return
    job.stop = why
    const s = job.session
    if (!s || job.index === undefined) {
      // not sent yet: it never runs
      if (s) s.queue = s.queue.filter((j) => j !== job)
      job.finished = true
      job.settle(this.outcome(job, {}))
      if (s && s.state === 'waiting' && s.queue.length === 0) s.cancel.abort()
      return
    }
    if (job.pgid !== undefined) this.kill(s, job)
    job.timers.push(setTimeout(() => this.finish(s, job), job.graceS * 1000 + KILL_WAIT_MS))
  }

  private kill(s: Session, job: Job): void {
    if (job.killSent || job.pgid === undefined || s.state === 'closed') return
    job.killSent = true
    s.handle?.write(batchKill(job.pgid, job.graceS))
  }

  private finish(s: Session, job: Job): void {
    if (job.finished) return
    job.finished = true
    s.live.delete(job.index!)
    job.settle(this.outcome(job, {}))
    // the next waiting jobs, then: nothing left → linger, or close at once when others wait
    this.pump(s)
    if (s.live.size || s.queue.length || s.permanent) return
    if (s.state === 'draining' || (s.state === 'open' && this.transport.contended())) return this.end(s)
    if (s.state === 'open') {
      clearTimeout(s.linger)
      s.linger = setTimeout(() => this.end(s), this.lingerMs)
    }
  }

  /** Sends waiting jobs while the session has room. */
  private pump(s: Session): void {
    while (s.state === 'open' && s.queue.length && s.live.size < this.maxJobs) s.handle!.write(this.text(s, s.queue.shift()!))
  }

  private outcome(job: Job, o: { stop?: 'timeout' | 'abort'; failure?: string }): BatchOutcome {
    const stop = o.stop ?? job.stop
    return {
      kind: 'ran',
      ...(job.end && !stop ? { end: job.end } : {}),
      ...(stop ? { stop } : {}),
      ...(o.failure !== undefined && !stop ? { failure: o.failure } : {}),
      stdout: job.out?.result() ?? EMPTY,
      stderr: job.err?.result() ?? EMPTY,
      durationMs: performance.now() - job.started,
    }
  }
}
