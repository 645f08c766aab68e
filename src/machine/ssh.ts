/**
 * A Machine reached over the system's OpenSSH client, so the user's ~/.ssh/config, agent, jump
 * hosts and known_hosts apply (BatchMode: never a prompt; host keys checked as configured).
 *
 * One multiplexed connection per host and run: a master (`ControlMaster=yes -N`) that nbs runs
 * as its own child, known by pid and closed by `close()` (and, like every child of runProcess,
 * killed when nbs exits). Every exec and every batch of reads is a session over it, at most
 * `maxSessions` at once. Commands go to a plain `sh -s` as a POSIX script on stdin
 * (remote-script.ts), so the login shell never parses an argument. Execs share sessions: those of
 * one tick start one together and later ones join it while it runs (batch-session.ts,
 * remote-batch.ts), so the login shell (and its rc files) starts once per round of checks, not
 * once per command; an exec that needs its own process (`stdout`/`stderr: 'inherit'`, `onSpawn`)
 * still gets one session to itself. Reads issued in the same tick are one script
 * (remote-reads.ts), run as one more command of that shared session.
 */
import { NbsError } from '../errors.js'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import type { ExecOptions } from '../checks/types.js'
import type { Host } from '../hosts/types.js'
import type { CapturedText } from '../report/types.js'
import { BoundedCapture, DEFAULT_HEAD_BYTES, DEFAULT_TAIL_BYTES } from '../runner/capture.js'
import { runProcess, type ProcessResult } from '../runner/process.js'
import { pidExists } from '../runner/pid.js'
import { ExecBatcher, pipeSession, type BatchOutcome } from './batch-session.js'
import { batchableEnv, batchJobBody } from './remote-batch.js'
import { parseReadOutput, readScript, type ReadReply, type ReadRequest } from './remote-reads.js'
import { execScript, MarkerFilter, RemoteScriptError, toBuffer, type Bytes, type ScriptEnd } from './remote-script.js'
import { Semaphore } from './semaphore.js'
import { MachineError, MISSING_CODES, type Machine, type PathStat } from './types.js'

export interface SshMachineOptions {
  /** inventory name: names the machine in messages and keys the ControlPath (aliases of one address are different hosts) */
  name: string
  /** `[user@]address` (targetHost) */
  destination: string
  port?: number
  /** login user when `destination` names none */
  user?: string
  /** extra ssh client arguments before the destination, e.g. ['-J','bastion'] or ['-F', file] */
  sshOptions?: string[]
  /** argv prefix for commands run with exec (['sudo','-n']); default none. Reads run as the login user. */
  privilege?: string[]
  /** private 0700 folder for control sockets (from sshControlDir) */
  controlDir: string
  /** seconds; default 10 */
  connectTimeoutS?: number
  /** sessions at once over the one connection; default 8 (sshd's MaxSessions default is 10) */
  maxSessions?: number
  /** how long one batch of reads may take; default 60 s */
  readTimeoutMs?: number
}

/**
 * `exec` over ssh also takes bytes (non-UTF-8 arguments, binary input) and an abort signal. `cwd`
 * and `env` are the remote command's (env merged onto the login environment; names checked);
 * stdin is `input` or /dev/null (`stdin: 'inherit' | 'pipe'` cannot reach the remote command and
 * mean /dev/null too). On timeout or abort the remote process group gets SIGTERM, then SIGKILL
 * after `killGraceMs` rounded up to seconds (`killSignal` is not forwarded). The timeout counts
 * from when the command is sent to the host. `onStdout`/`onStderr` see every byte, but for a
 * command that shares its session they arrive in chunks as the host relays them (a command's
 * output is buffered there in ~30 KiB blocks), not the moment the command writes them.
 */
export type SshExecOptions = Omit<ExecOptions, 'input'> & { input?: Bytes; signal?: AbortSignal }
export type SshExec = (file: Bytes, args?: readonly Bytes[], options?: SshExecOptions) => Promise<ProcessResult>

export type ConnectResult = { ok: true } | { ok: false; reason: string }

export interface SshMachine extends Machine {
  exec: SshExec
  /** opens the multiplexed master connection; ok:false with ssh's own one-line reason (e.g. "ssh: connect to host 127.0.0.1 port 2299: Connection refused") */
  connect(signal?: AbortSignal): Promise<ConnectResult>
  /** closes the master (SIGTERM to its pid, SIGKILL if it lingers); idempotent */
  close(): Promise<void>
}

/** The code of a read that failed because the connection did (the message carries ssh's reason). */
export const SSH_FAILED = 'ESSH'

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024
/**
 * How long a session's pipes may stay open after its ssh exits. The mux client exits on the
 * master's exit-status message, and the master may write the session's last bytes (the exec
 * script's end marker on stderr) to the pipes it was handed after that: on a busy machine more
 * than runProcess's default 100 ms later, and the marker was lost ("did not run the command
 * (exit 0)"). The master closes them when the channel closes, so the wait is normally short.
 */
const SESSION_DRAIN_MS = 5000
/** Requests per read script; more start another batch. */
const MAX_BATCH = 256
const EMPTY: CapturedText = { text: '', bytes: 0, truncated: false }

/**
 * A private 0700 temp folder for ControlPath sockets, removed by dispose(). Its path stays short
 * (a unix socket path has at most ~104 bytes, and ssh adds a random suffix while binding).
 */
export async function sshControlDir(): Promise<{ dir: string; dispose(): Promise<void> }> {
  const base = tmpdir().length <= 40 ? tmpdir() : '/tmp'
  const dir = await mkdtemp(join(base, 'nbs-ssh-'))
  await chmod(dir, 0o700)
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) }
}

/** `ssh root@10.0.0.7:2222`: the login, the address and the port as the machine is reached. */
export function sshDescription(o: Pick<SshMachineOptions, 'destination' | 'user' | 'port'>): string {
  const at = o.destination.lastIndexOf('@')
  const user = at >= 0 ? o.destination.slice(0, at) : o.user
  let host = at >= 0 ? o.destination.slice(at + 1) : o.destination
  if (o.port !== undefined && host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  return `ssh ${user ? `${user}@` : ''}${host}${o.port !== undefined ? `:${o.port}` : ''}`
}

/** The options for an inventory host reached over ssh; undefined when it has no `targetHost`. */
export function sshOptionsFor(host: Host, controlDir: string): SshMachineOptions | undefined {
  if (!host.targetHost) return undefined
  return {
    name: host.name,
    destination: host.targetHost,
    ...(host.port !== undefined ? { port: host.port } : {}),
    ...(host.user !== undefined ? { user: host.user } : {}),
    sshOptions: host.sshOptions,
    privilege: host.privilege,
    controlDir,
  }
}

/** The socket of `name`'s master: a hash of the inventory name, so it is short and one per host. */
export function controlPath(controlDir: string, name: string): string {
  return join(controlDir, createHash('sha256').update(name).digest('hex').slice(0, 16))
}

function validate(o: SshMachineOptions): void {
  const bad = (field: string, why: string) => {
    // bad inventory input (config, colmena, deploy-rs): exit 3 naming the host, never a crash
    throw new NbsError(`hosts.${o.name}: ${field} ${why}`)
  }
  if (!o.name) bad('name', 'must not be empty')
  if (!o.destination || o.destination.startsWith('-') || /\s/.test(o.destination)) bad('targetHost', `${JSON.stringify(o.destination)} is not [user@]address`)
  if (o.port !== undefined && !(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) bad('port', `${o.port} is not a port number (1-65535)`)
  if (o.user !== undefined && (!o.user || o.user.startsWith('-') || /\s/.test(o.user))) bad('user', `${JSON.stringify(o.user)} is not a login name`)
  if (o.maxSessions !== undefined && !(Number.isInteger(o.maxSessions) && o.maxSessions >= 1)) bad('maxSessions', 'must be a whole number of at least 1')
  if (/[\s"'%]/.test(o.controlDir)) bad('controlDir', 'must not hold spaces, quotes or %')
}

/** The last non-empty line of ssh's stderr: its own reason for failing. */
function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean)
  return lines[lines.length - 1] ?? ''
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Whether `p` settled within `ms`. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))
  return Promise.race([p.then(() => true), late]).finally(() => clearTimeout(timer))
}

interface Master {
  /** the master ssh's pid, once spawned */
  spawned: { pid?: number }
  done: Promise<ProcessResult>
  result?: ProcessResult
  /** kills it (its whole tree) */
  stop: { abort(): void }
}

/** A read script's answer, kept up to `cap` bytes; past that `tooBig` aborts the script. */
function collect(cap: number) {
  const chunks: Buffer[] = []
  let total = 0
  const stop = new AbortController()
  return {
    tooBig: stop.signal,
    onStdout(chunk: Buffer) {
      total += chunk.length
      if (total > cap) stop.abort()
      else chunks.push(chunk)
    },
    bytes: () => Buffer.concat(chunks),
  }
}

/** What a remote command's script takes from one exec call, batched or in a session of its own. */
function jobOptions(argv: Bytes[], options: SshExecOptions) {
  return {
    argv,
    // under a privilege tool only that tool is looked up: it finds the command on its own PATH
    lookup: [0],
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
    killGraceS: (options.killGraceMs ?? 1000) / 1000,
  }
}

export function sshMachine(opts: SshMachineOptions): SshMachine {
  validate(opts)
  const description = sshDescription(opts)
  const socket = controlPath(opts.controlDir, opts.name)
  const connectTimeoutS = opts.connectTimeoutS ?? 10
  const privilege = opts.privilege ?? []
  const maxSessions = opts.maxSessions ?? 8
  // the master's own session runs the shared `sh -s` (one ssh process per host, not two) when a
  // second session is allowed for what needs its own; it counts as one of maxSessions
  const hosted = maxSessions >= 2
  const sessions = new Semaphore(hosted ? maxSessions - 1 : maxSessions)
  const readTimeoutMs = opts.readTimeoutMs ?? 60_000

  // ours first: ssh keeps the first value it is given for an option, so the user's cannot undo these
  const common = [
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', `ControlPath=${socket}`,
    '-o', 'ClearAllForwardings=yes',
    // a `RemoteCommand` (tmux on login) or a tty in the user's config would replace or mangle `sh -s`
    '-o', 'RemoteCommand=none',
    '-o', 'RequestTTY=no',
    ...(opts.port !== undefined ? ['-p', String(opts.port)] : []),
    ...(opts.user !== undefined && !opts.destination.includes('@') ? ['-l', opts.user] : []),
    ...(opts.sshOptions ?? []),
  ]
  const masterArgs = ['-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', ...common, ...(hosted ? [] : ['-N']), '-T', '--', opts.destination, ...(hosted ? ['sh -s'] : [])]
  const sessionArgs = ['-o', 'ControlMaster=no', ...common, '-T', '--', opts.destination, 'sh -s']

  let master: Master | undefined
  let connection: Promise<ConnectResult & { retry?: boolean }> | undefined
  let closed = false
  let closing: Promise<void> | undefined

  async function startMaster(signal?: AbortSignal): Promise<ConnectResult & { retry?: boolean }> {
    await rm(socket, { force: true }) // a stale socket would make the master give up multiplexing
    const spawned: { pid?: number } = {}
    let m: Master
    if (hosted) {
      // the master's own session is the shared `sh -s`, started with the preamble
      const shared = batcher.permanent()
      const handle = pipeSession('ssh', masterArgs, shared.preamble, shared.io, { capture: true, maxOutputBytes: 64 * 1024, killGraceMs: 1000 })
      spawned.pid = handle.pid
      m = { done: handle.done, stop: { abort: () => handle.kill() }, spawned }
      // first: what the session's end reports reads the master's result
      void m.done.then((r) => (m.result = r))
      shared.adopt(handle)
    } else {
      const stop = new AbortController()
      const done = runProcess('ssh', masterArgs, { stdin: 'ignore', maxOutputBytes: 64 * 1024, signal: stop.signal, killGraceMs: 1000, onSpawn: (c) => (spawned.pid = c.pid) })
      m = { done, stop, spawned }
      void done.then((r) => (m.result = r))
    }
    master = m
    const stop = m.stop
    // the socket appears once the master is connected and authenticated
    const deadline = performance.now() + (2 * connectTimeoutS + 10) * 1000
    let why: 'aborted' | 'timeout' | undefined
    for (;;) {
      if (m.result) break
      if (existsSync(socket)) return { ok: true }
      if (signal?.aborted || closed) why = 'aborted'
      else if (performance.now() > deadline) why = 'timeout'
      if (why) {
        stop.abort()
        break
      }
      await sleep(10)
    }
    const r = await m.done
    if (why === 'aborted') return { ok: false, reason: `${description}: connecting was aborted`, retry: true }
    if (why === 'timeout') return { ok: false, reason: `ssh: connecting to ${opts.destination} did not finish within ${2 * connectTimeoutS + 10} s` }
    if (r.notFound) return { ok: false, reason: 'ssh: the OpenSSH client is not installed (no ssh on PATH)' }
    return { ok: false, reason: lastLine(r.stderr.text) || r.error || `ssh exited with code ${r.exitCode} before connecting` }
  }

  async function connect(signal?: AbortSignal): Promise<ConnectResult> {
    if (closed) return { ok: false, reason: `${description}: the connection was closed` }
    if (!connection) {
      const attempt = startMaster(signal)
      connection = attempt
      void attempt.then((r) => {
        if (!r.ok && r.retry && connection === attempt) connection = undefined
      })
    }
    const r = await connection
    return r.ok ? { ok: true } : { ok: false, reason: r.reason }
  }

  /** Why the master is gone (with its last word), or undefined while it runs. */
  function lost(): string | undefined {
    if (!master?.result && existsSync(socket)) return undefined
    const why = master?.result ? lastLine(master.result.stderr.text) : ''
    return `ssh: the connection to ${opts.destination} was lost${why ? `: ${why}` : ''}`
  }

  /** Connected, and the master still there: a session would otherwise make its own connection. */
  async function ready(signal?: AbortSignal): Promise<ConnectResult> {
    const c = await connect(signal)
    if (!c.ok) return c
    const gone = lost()
    return gone ? { ok: false, reason: gone } : c
  }

  /** Why a session that did not report its end failed: the lost master's reason, or ssh's line. */
  async function sessionFailure(stderrTail: string, exitCode: number | null): Promise<string> {
    // a master killed outright leaves its socket behind and its sessions end first: let it be reaped
    const pid = master?.spawned.pid
    if (exitCode === 255 && master && !master.result && pid !== undefined && !pidExists(pid)) await within(master.done, 2000)
    const gone = lost()
    if (gone) return gone
    const line = lastLine(stderrTail)
    // "ssh" first, always: callers tell a transport failure from the command's own by it
    if (exitCode === 255) return line ? (/^ssh\b/.test(line) ? line : `ssh: ${line}`) : `ssh failed (exit 255)`
    return `${description}: the remote shell did not run the command (exit ${exitCode})${line ? `: ${line}` : ''}`
  }

  /** One session: `script` to `sh -s`, stdin kept open until it ends (the remote watcher's channel). */
  async function session(
    script: Buffer,
    o: Pick<SshExecOptions, 'timeoutMs' | 'signal' | 'killGraceMs' | 'stdout'> & {
      onStdout(c: Buffer): void
      onStderr(c: Buffer): void
      onSpawn?: (pid: number) => void
    },
  ): Promise<ProcessResult> {
    let stdin: Writable | null = null
    try {
      return await runProcess('ssh', sessionArgs, {
        stdin: 'pipe',
        stdout: o.stdout ?? 'pipe',
        stderr: 'pipe',
        capture: false,
        drainMs: SESSION_DRAIN_MS,
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
        onSpawn: (c) => {
          stdin = c.stdin
          c.stdin?.write(script)
          o.onSpawn?.(c.pid)
        },
        onStdout: o.onStdout,
        onStderr: o.onStderr,
      })
    } finally {
      ;(stdin as Writable | null)?.destroy()
    }
  }

  const batcher = new ExecBatcher({
    acquire: (signal) => sessions.acquire(signal),
    contended: () => sessions.queued > 0,
    // a batch session: its stdin stays open for the jobs that join it
    open: (script, io) => pipeSession('ssh', sessionArgs, script, io, { drainMs: SESSION_DRAIN_MS }),
    failure: sessionFailure,
  })

  /** A ProcessResult from how the script said the command ended (undefined: it did not say). */
  function ended(end: ScriptEnd | undefined, argv: readonly Bytes[], cwd: Bytes | undefined): Partial<ProcessResult> | undefined {
    if (end?.kind === 'exit') return { exitCode: end.code, signal: null }
    if (end?.kind === 'notfound') {
      const name = toBuffer(argv[end.index] ?? argv[0] ?? '').toString('utf8')
      return { exitCode: 127, signal: null, notFound: true, error: `command not found: ${name}` }
    }
    if (end?.kind === 'cwd') {
      return { exitCode: null, signal: null, error: `cannot change to the working folder ${toBuffer(cwd ?? '').toString('utf8')} on ${description}` }
    }
    return undefined
  }

  function batchResult(o: Extract<BatchOutcome, { kind: 'ran' }>, argv: readonly Bytes[], options: SshExecOptions): ProcessResult {
    const result: ProcessResult = {
      exitCode: null,
      signal: null,
      stdout: o.stdout,
      stderr: o.stderr,
      durationMs: o.durationMs,
      timedOut: o.stop === 'timeout',
      aborted: o.stop === 'abort',
      notFound: false,
    }
    if (o.stop === 'timeout') return { ...result, error: `timed out after ${options.timeoutMs} ms` }
    if (o.stop === 'abort') return { ...result, error: 'aborted' }
    const end = ended(o.end, argv, options.cwd)
    if (end) return { ...result, ...end }
    return { ...result, error: o.failure ?? `${description}: the command's end was not reported` }
  }

  /** The calls that need a process of their own; every other exec can share a session. */
  const batchable = (o: SshExecOptions) => o.stdout !== 'inherit' && o.stderr !== 'inherit' && !o.onSpawn && batchableEnv(o.env) && !batcher.unsupported

  const exec: SshExec = async (file, args = [], options = {}) => {
    const started = performance.now()
    const failed = (error: string, extra: Partial<ProcessResult> = {}): ProcessResult => ({
      exitCode: null,
      signal: null,
      stdout: EMPTY,
      stderr: EMPTY,
      durationMs: performance.now() - started,
      timedOut: false,
      aborted: false,
      notFound: false,
      error,
      ...extra,
    })
    const argv = [...privilege, file, ...args]
    /** The command's script, once the connection is ready; else the result that says why not. */
    const prepare = async <T>(build: () => T): Promise<{ script: T } | { result: ProcessResult }> => {
      let script: T
      try {
        script = build()
      } catch (e) {
        if (e instanceof RemoteScriptError) return { result: failed(e.message) }
        throw e
      }
      if (options.signal?.aborted) return { result: failed('aborted before start', { aborted: true }) }
      const c = await ready(options.signal)
      if (!c.ok) return { result: options.signal?.aborted ? failed('aborted before start', { aborted: true }) : failed(c.reason) }
      return { script }
    }
    if (batchable(options)) {
      const job = await prepare(() => batchJobBody(jobOptions(argv, options)))
      if ('result' in job) return job.result
      const o = await batcher.run(job.script, options)
      if (o.kind === 'ran') return batchResult(o, argv, options)
      // the host cannot run batches (found once): this and later execs take a session each
    }
    const nonce = randomBytes(12).toString('hex')
    const own = await prepare(() => execScript({ ...jobOptions(argv, options), nonce }))
    if ('result' in own) return own.result
    const script = own.script
    let release: () => void
    try {
      release = await sessions.acquire(options.signal)
    } catch {
      return failed('aborted before start', { aborted: true })
    }

    try {
      const max = options.maxOutputBytes ?? DEFAULT_HEAD_BYTES + DEFAULT_TAIL_BYTES
      const split = { headBytes: Math.ceil(max / 2), tailBytes: Math.floor(max / 2) }
      const capture = options.capture !== false
      const out = new BoundedCapture(split)
      const err = new BoundedCapture(split)
      const errTail = new BoundedCapture({ headBytes: 0, tailBytes: 4096 }) // ssh's own words, even without capture
      const inheritErr = options.stderr === 'inherit'
      const filter = new MarkerFilter(nonce, (chunk) => {
        if (capture && !inheritErr) err.write(chunk)
        errTail.write(chunk)
        if (inheritErr) process.stderr.write(chunk)
        options.onStderr?.(chunk)
      })
      const r = await session(script, {
        ...options,
        onStdout: (chunk) => {
          if (capture) out.write(chunk)
          options.onStdout?.(chunk)
        },
        onStderr: (chunk) => filter.write(chunk),
        onSpawn: (pid) => options.onSpawn?.({ pid, stdin: null }),
      })
      filter.flush()
      const result: ProcessResult = { ...r, stdout: capture ? out.result() : EMPTY, stderr: capture && !inheritErr ? err.result() : EMPTY }
      delete result.error
      if (r.timedOut || r.aborted) return { ...result, exitCode: null, ...(r.error ? { error: r.error } : {}) }
      const end = ended(filter.end, argv, options.cwd)
      if (end) return { ...result, ...end }
      return { ...result, exitCode: null, error: r.error ?? (await sessionFailure(errTail.result().text, r.exitCode)) }
    } finally {
      release()
    }
  }

  // ---- reads, batched per tick ----

  interface Batch {
    requests: ReadRequest[]
    keys: Map<string, number>
    waiters: Array<Array<(r: ReadReply) => void>>
  }
  let open: Batch | undefined

  function read(request: ReadRequest): Promise<ReadReply> {
    if (!open || open.requests.length >= MAX_BATCH) {
      const batch: Batch = { requests: [], keys: new Map(), waiters: [] }
      open = batch
      // after this tick's reads (and the microtasks they start) have joined
      setImmediate(() => void flush(batch))
    }
    const batch = open
    const key = JSON.stringify(request)
    let i = batch.keys.get(key)
    if (i === undefined) {
      i = batch.requests.push(request) - 1
      batch.keys.set(key, i)
      batch.waiters.push([])
    }
    const waiters = batch.waiters[i]!
    return new Promise((resolve) => waiters.push(resolve))
  }

  async function flush(batch: Batch): Promise<void> {
    const settle = (replies: ReadReply[]) => batch.waiters.forEach((ws, i) => ws.forEach((w) => w(replies[i]!)))
    const failAll = (message: string) => settle(batch.requests.map(() => ({ ok: false, code: SSH_FAILED, message })))
    const c = await ready()
    if (!c.ok) {
      if (open === batch) open = undefined
      return failAll(c.reason)
    }
    const boundary = randomBytes(12).toString('hex')
    const cap = batch.requests.reduce((n, r) => n + (r.kind === 'readfile' ? r.maxBytes : r.kind === 'readdir' ? 16 << 20 : 64 << 10) + 256, 0)
    const exceeded = `${description}: the answer to ${batch.requests.length} reads exceeded ${cap} bytes`
    const timedOut = `${description}: reading timed out after ${readTimeoutMs} ms`
    if (!batcher.unsupported) {
      // the read script as one more command of the session the execs share (as the login user)
      if (open === batch) open = undefined
      try {
        const script = readScript(batch.requests, boundary)
        const answer = collect(cap)
        const o = await batcher.run(batchJobBody({ argv: ['sh', '-c', script], lookup: [0], killGraceS: 1 }), {
          timeoutMs: readTimeoutMs,
          signal: answer.tooBig,
          capture: false,
          onStdout: answer.onStdout,
        })
        if (o.kind === 'ran') {
          const why =
            o.stop === 'abort'
              ? exceeded
              : o.stop === 'timeout'
                ? timedOut
                : (o.failure ?? `${description}: the read script ended early (${o.end?.kind === 'exit' ? `exit ${o.end.code}` : (o.end?.kind ?? 'no end')})`)
          return settle(parseReadOutput(answer.bytes(), boundary, batch.requests.length, { ok: false, code: SSH_FAILED, message: why }))
        }
        // this host cannot run batches: a session of their own, as below
      } catch (e) {
        return failAll((e as Error).message)
      }
    }
    const release = await sessions.acquire()
    // reads that came while this batch waited for a session have joined it; later ones start another
    if (open === batch) open = undefined
    try {
      const script = readScript(batch.requests, boundary)
      const answer = collect(cap)
      const errTail = new BoundedCapture({ headBytes: 0, tailBytes: 4096 })
      const r = await session(script, {
        timeoutMs: readTimeoutMs,
        signal: answer.tooBig,
        onStdout: answer.onStdout,
        onStderr: (chunk) => errTail.write(chunk),
      })
      const why = r.aborted ? exceeded : r.timedOut ? timedOut : await sessionFailure(errTail.result().text, r.exitCode)
      settle(parseReadOutput(answer.bytes(), boundary, batch.requests.length, { ok: false, code: SSH_FAILED, message: why }))
    } catch (e) {
      failAll((e as Error).message)
    } finally {
      release()
    }
  }

  /** The answer's bytes; null for what is missing; a MachineError for what was refused. */
  async function ask(request: ReadRequest & { path: string }, nullCodes: readonly string[] = []): Promise<Buffer | null> {
    // refused here, or the whole batch's script could not be written
    if (request.path.includes('\0')) throw new MachineError(`${JSON.stringify(request.path)}: a path cannot hold a NUL byte`, 'EINVAL', request.path)
    const r = await read(request)
    if (r.ok) return r.data
    if (MISSING_CODES.has(r.code) || nullCodes.includes(r.code)) return null
    const message = r.code === SSH_FAILED ? `${request.path}: ${r.message}` : `${request.path}: ${r.code} on ${description} (${r.message})`
    throw new MachineError(message, r.code, request.path)
  }

  async function close(): Promise<void> {
    closed = true
    // sessions first: their scripts end (killing what still runs there) before the connection goes
    const ended = batcher.close()
    const m = master
    // the master leaves by itself once its own session has ended
    if (hosted && m && !m.result) await within(m.done, 1000)
    if (m && !m.result) {
      // SIGTERM ends a master as `ssh -O exit` does (it removes its socket and disconnects),
      // without one more ssh process per host at the end of a fleet run
      // again every 100 ms: a SIGTERM that lands just before ssh's poll() only wakes it at the
      // next event (seen under load right after a session closed: 2 s lost per host)
      for (let waited = 0; !m.result && waited < 2000; waited += 100) {
        try {
          if (m.spawned.pid !== undefined) process.kill(m.spawned.pid, 'SIGTERM')
        } catch {
          // exited meanwhile
        }
        if (await within(m.done, 100)) break
      }
      if (!m.result && !(await within(m.done, 0))) m.stop.abort()
      await m.done
    }
    await ended
    await rm(socket, { force: true })
  }

  return {
    description,
    live: true,
    remote: true,
    exec,
    connect,
    close: () => (closing ??= close()),
    async readLink(path) {
      // not a link: EINVAL, which local readlink answers with null too
      const data = await ask({ kind: 'readlink', path }, ['EINVAL'])
      return data === null ? null : data.toString('utf8')
    },
    async realPath(path) {
      const data = await ask({ kind: 'realpath', path })
      return data === null ? null : stripNewline(data).toString('utf8')
    },
    async readFile(path, o = {}) {
      const data = await ask({ kind: 'readfile', path, maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES })
      return data === null ? null : data.toString('utf8')
    },
    async readDir(path) {
      const data = await ask({ kind: 'readdir', path })
      if (data === null) return null
      const names = data.toString('utf8').split('\0')
      names.pop() // each name ends in a NUL
      return names
    },
    async stat(path, o = {}) {
      const data = await ask({ kind: 'stat', path, follow: o.follow !== false })
      return data === null ? null : parseStat(data.toString('latin1'), path)
    },
    async hostname() {
      const r = await read({ kind: 'hostname' })
      if (!r.ok) throw new MachineError(`the host name of ${description}: ${r.message}`, r.code, '/proc/sys/kernel/hostname')
      return r.data.toString('utf8').trim() || null
    },
  }
}

function stripNewline(b: Buffer): Buffer {
  return b.length && b[b.length - 1] === 0x0a ? b.subarray(0, -1) : b
}

const S_IFMT = 0o170000

/** `stat -c '%f %s %u %g %.9Y'` → PathStat, mtimeMs computed as Node computes it. */
export function parseStat(line: string, path: string): PathStat {
  const m = /^([0-9a-f]+) (\d+) (\d+) (\d+) (-?\d+)(?:\.(\d+))?\s*$/.exec(line)
  if (!m) throw new MachineError(`${path}: unexpected stat output ${JSON.stringify(line.slice(0, 80))}`, 'EIO', path)
  const mode = parseInt(m[1]!, 16)
  const fmt = mode & S_IFMT
  const type = fmt === 0o100000 ? 'file' : fmt === 0o040000 ? 'directory' : fmt === 0o120000 ? 'symlink' : 'other'
  const nsec = Number((m[6] ?? '0').padEnd(9, '0').slice(0, 9))
  return { type, size: Number(m[2]), mode, uid: Number(m[3]), gid: Number(m[4]), mtimeMs: Number(m[5]) * 1000 + nsec / 1e6 }
}
