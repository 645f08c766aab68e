import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { judgeExpectation, LiteralScanner, matcherLiterals, type StreamSeen } from '../checks/expect.js'
import { formatDuration } from '../checks/duration.js'
import type { CheckContext, CheckOutcome, CommandCheck, Exec, RunCheck, TextMatcher } from '../checks/types.js'
import type { Attempt, CapturedText, CheckResult, CheckStatus, ErrorKind } from '../report/types.js'
import { plannedCheck, type PlanNode } from './graph.js'
import { localMachine } from '../machine/local.js'
import type { Locality } from '../machine/locality.js'
import { boundMachine } from '../machine/bound.js'
import type { Machine } from '../machine/types.js'
import { AllowedUnreachable, UnreachableError } from './host-plan.js'
import { runProcess } from './process.js'

/** What a check's dependents see of it. */
export interface DependencyOutcome {
  status: CheckStatus
  message?: string
  data?: unknown
}

export interface CheckEnv {
  flake: string
  host: string
  root: string
  /** the system profile (config `profile`), default `system` */
  profile?: string
  projectRoot: string
  nixOptions: Record<string, string>
  /** aborted when the whole run is interrupted */
  signal: AbortSignal
  /**
   * Whether the host is this machine, asked before each `runsOn: 'machine'` check (memoized by the
   * caller); `deps` carries flake-eval's data when it ran. Absent: always this machine.
   */
  locality?: (deps: Record<string, DependencyOutcome>) => Promise<Locality>
  /**
   * the host's machine for `runsOn: 'machine'` checks when it is not this machine (an ssh host):
   * programmatic checks read it as `ctx.machine`, command checks run there. Absent: this machine
   * (or its `root`).
   */
  machine?: Machine
}

interface AttemptOutcome {
  status: CheckStatus
  message?: string
  kind?: ErrorKind
  details?: unknown
  data?: unknown
  stdout?: CapturedText
  stderr?: CapturedText
  skip?: CheckResult['skip']
}

class SkipSignal {
  constructor(readonly reason: string) {}
}
class FailSignal {
  constructor(
    readonly message: string,
    readonly details: unknown,
  ) {}
}

type AbortReason = 'timeout' | 'interrupted'
/** Node fires longer timers at once (with a warning): ~24.8 days is the most it can wait. */
const MAX_TIMER_MS = 2 ** 31 - 1

async function runCommand(def: CommandCheck, node: PlanNode, env: CheckEnv, signal: AbortSignal): Promise<AttemptOutcome> {
  const [file, ...args] = def.command
  // a machine check of an ssh host runs there, like morph's `cmd` health checks; `cwd` is then a
  // path on the host (default: the login's home)
  const remote = node.runsOn === 'machine' ? env.machine : undefined
  // literal expectations are looked for in every byte, not only the head and tail kept
  const watch = (m: TextMatcher | undefined) => {
    const literals = matcherLiterals(m)
    return literals.length ? new LiteralScanner(literals) : undefined
  }
  const seen: StreamSeen = { stdout: watch(def.expect?.stdout), stderr: watch(def.expect?.stderr) }
  const { stdout: outScan, stderr: errScan } = seen
  const streams = {
    ...(outScan ? { onStdout: (c: Buffer) => outScan.write(c) } : {}),
    ...(errScan ? { onStderr: (c: Buffer) => errScan.write(c) } : {}),
  }
  const res = remote
    ? await remote.exec(file!, args, { ...(def.cwd ? { cwd: def.cwd } : {}), env: def.env, signal, ...streams })
    : await runProcess(file!, args, { cwd: def.cwd ? resolve(env.projectRoot, def.cwd) : env.projectRoot, env: def.env, signal, ...streams })
  const output = { stdout: res.stdout, stderr: res.stderr }
  if (signal.aborted) return { status: 'errored', ...output }
  if (res.notFound) return { status: 'errored', kind: 'CommandNotFound', message: `command not found: ${file}`, ...output }
  if (res.error) return { status: 'errored', kind: remote && /^ssh\b/.test(res.error) ? 'Unreachable' : 'Exception', message: res.error, ...output }
  const { failures, undecided } = judgeExpectation(def.expect, res, seen)
  if (failures.length) return { status: 'failed', kind: 'CheckFailed', message: failures.join('; '), details: { failures, exitCode: res.exitCode }, ...output }
  // never a pass on output nbs did not keep: what it cannot tell is an error to look at
  if (undecided.length) return { status: 'errored', message: `output truncated; ${undecided.join('; ')}`, details: { undecided, exitCode: res.exitCode }, ...output }
  return { status: 'passed', ...output }
}

async function runProgrammatic(def: RunCheck, node: PlanNode, env: CheckEnv, deps: Record<string, DependencyOutcome>, signal: AbortSignal): Promise<AttemptOutcome> {
  const localExec: CheckContext['exec'] = checkExec((file, args = [], opts = {}) =>
    runProcess(file, args, { cwd: env.projectRoot, ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, signal]) : signal }),
  )
  // a machine check of an ssh host runs its programs there, like its reads
  let lost: string | undefined
  const bound = node.runsOn === 'machine' && env.machine ? boundMachine(env.machine, signal, (why) => (lost ??= why)) : undefined
  const remote = bound ? withExec(bound, checkExec(bound.exec)) : undefined
  const ctx: CheckContext<unknown> = {
    options: node.options,
    flake: env.flake,
    host: env.host,
    root: env.root,
    profile: env.profile ?? 'system',
    nixOptions: env.nixOptions,
    pluginOptions: node.pluginOptions,
    needs: deps,
    signal,
    exec: remote ? remote.exec : localExec,
    localExec,
    // a local check looks at this machine; a machine check at the host (its ssh machine, or this
    // machine with `--root` honoured)
    machine: remote ?? localMachine({ root: node.runsOn === 'local' ? '/' : env.root, exec: localExec }),
    skip: (reason) => {
      throw new SkipSignal(reason)
    },
    fail: (message, details) => {
      throw new FailSignal(message, details)
    },
  }
  const outcome = await (async (): Promise<AttemptOutcome> => {
    // run() cannot be killed, so an abort settles the attempt at once; its children die through `signal`
    const aborted = new Promise<undefined>((done) => signal.addEventListener('abort', () => done(undefined), { once: true }))
    try {
      const outcome = await Promise.race([Promise.resolve().then(() => def.run(ctx as CheckContext)), aborted])
      if (signal.aborted) return { status: 'errored' }
      const o: CheckOutcome = outcome ?? {}
      if (o.status !== undefined && o.status !== 'passed' && o.status !== 'failed') {
        // a typo must never turn into a pass
        return { status: 'errored', kind: 'Exception', message: `run() returned status ${JSON.stringify(o.status)}; return "passed" or "failed", or call ctx.fail()/ctx.skip()` }
      }
      return { status: o.status ?? 'passed', message: o.message, details: o.details, data: o.data, kind: o.status === 'failed' ? 'CheckFailed' : undefined }
    } catch (e) {
      if (signal.aborted) return { status: 'errored' }
      if (e instanceof SkipSignal) return { status: 'skipped', message: e.reason }
      if (e instanceof FailSignal) return { status: 'failed', kind: 'CheckFailed', message: e.message, details: e.details }
      if (e instanceof UnreachableError) return { status: 'errored', kind: 'Unreachable', message: e.message }
      if (e instanceof AllowedUnreachable) return { status: 'skipped', message: e.message, skip: 'unreachable' }
      const err = e instanceof Error ? e : new Error(String(e))
      return { status: 'errored', kind: 'Exception', message: `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`, details: { stack: err.stack } }
    }
  })()
  // the host's transport failed under the check (a session that never ran, a connection lost):
  // whatever the check made of it ("cannot read", "systemd is not running"), it could not look
  if (lost !== undefined && !signal.aborted) return { status: 'errored', kind: 'Unreachable', message: lost }
  return outcome
}

/**
 * What a check may ask of a program it runs. Its output is the check's result, so nothing may
 * reach our terminal (`stdout: 'inherit'` would write into the TAP stream, `stdin: 'inherit'`
 * read the user's keys) or outlive the check (`detached: false`, `keepLeftovers`).
 */
const CHECK_EXEC_OPTIONS = new Set(['cwd', 'env', 'input', 'timeoutMs', 'signal', 'maxOutputBytes', 'killGraceMs', 'capture', 'onStdout', 'onStderr'])
/** the defaults a check may still spell out */
const HARMLESS: Record<string, unknown> = { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', detached: true }

/** `exec` as a check gets it: options outside CHECK_EXEC_OPTIONS make the call throw, naming them. */
export function checkExec(exec: Exec): Exec {
  return (file, args, opts = {}) => {
    const refused = Object.entries(opts).filter(([k, v]) => v !== undefined && !CHECK_EXEC_OPTIONS.has(k) && HARMLESS[k] !== v)
    if (refused.length) {
      const names = refused.map(([k, v]) => `${k}: ${JSON.stringify(v) ?? typeof v}`).join(', ')
      return Promise.reject(new TypeError(`ctx.exec(${JSON.stringify(file)}): ${names} not allowed in a check (its output is captured into the result, never our terminal); allowed: ${[...CHECK_EXEC_OPTIONS].join(', ')}`))
    }
    return exec(file, args, opts)
  }
}

function withExec(machine: Machine, exec: Exec): Machine {
  return new Proxy(machine, { get: (target, prop) => (prop === 'exec' ? exec : Reflect.get(target, prop, target)) })
}

async function runAttempt(node: PlanNode, env: CheckEnv, deps: Record<string, DependencyOutcome>): Promise<AttemptOutcome> {
  const controller = new AbortController()
  const stop = (reason: AbortReason) => controller.abort(reason)
  const onInterrupt = () => stop('interrupted')
  if (env.signal.aborted) stop('interrupted')
  env.signal.addEventListener('abort', onInterrupt, { once: true })
  const timer = setTimeout(() => stop('timeout'), Math.min(node.timeoutMs, MAX_TIMER_MS))
  try {
    const def = node.def
    // run() throws are the check's own (runProgrammatic); anything else that throws (a transport,
    // our own code) is this attempt's error too, and may be retried
    const outcome = await (def.run ? runProgrammatic(def, node, env, deps, controller.signal) : runCommand(def as CommandCheck, node, env, controller.signal)).catch(
      (e: unknown): AttemptOutcome => {
        const err = e instanceof Error ? e : new Error(String(e))
        return { status: 'errored', kind: 'Exception', message: `nbs could not run it: ${err.message}`, details: { stack: err.stack } }
      },
    )
    if (controller.signal.aborted) {
      const timedOut = controller.signal.reason === 'timeout'
      return {
        ...outcome,
        status: 'errored',
        kind: timedOut ? 'Timeout' : 'Interrupted',
        message: timedOut ? `timed out after ${formatDuration(node.timeoutMs)}` : 'interrupted',
      }
    }
    return outcome
  } finally {
    clearTimeout(timer)
    env.signal.removeEventListener('abort', onInterrupt)
  }
}

/** Runs one check with its retries; returns its result and the data it hands to dependents. */
export async function runCheck(node: PlanNode, env: CheckEnv, deps: Record<string, DependencyOutcome>): Promise<{ result: CheckResult; data?: unknown }> {
  if (node.runsOn === 'machine' && env.locality) {
    // deciding locality must never crash the run: an error there is this check's error
    const where = await env.locality(deps).catch((e: Error) => ({ local: false as const, error: e.message, reason: '' }))
    if ('error' in where) return { result: { ...skippedResult(node, ''), status: 'errored', kind: 'Exception', message: `cannot tell whether ${env.host} is this machine: ${where.error}` } }
    if (!where.local) return { result: { ...skippedResult(node, where.reason), skip: 'not-this-machine' } }
  }
  const startedAt = new Date()
  const attempts: Attempt[] = []
  let outcome: AttemptOutcome
  for (;;) {
    const t0 = performance.now()
    outcome = await runAttempt(node, env, deps)
    attempts.push({ status: outcome.status, durationMs: performance.now() - t0, ...(outcome.message ? { message: outcome.message } : {}) })
    const retryable = outcome.status === 'failed' || (outcome.status === 'errored' && outcome.kind !== 'Interrupted')
    if (!retryable || attempts.length > node.retries || env.signal.aborted) break
    if (node.retryDelayMs > 0) await sleep(Math.min(node.retryDelayMs, MAX_TIMER_MS), undefined, { signal: env.signal }).catch(() => {})
    if (env.signal.aborted) break
  }
  const result: CheckResult = {
    ...plannedCheck(node),
    status: outcome.status,
    ...(outcome.message !== undefined ? { message: outcome.message } : {}),
    ...(outcome.kind ? { kind: outcome.kind } : {}),
    ...(outcome.details !== undefined ? { details: outcome.details } : {}),
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    attempts,
    ...(outcome.stdout ? { stdout: outcome.stdout } : {}),
    ...(outcome.stderr ? { stderr: outcome.stderr } : {}),
    ...(outcome.skip ? { skip: outcome.skip } : {}),
  }
  return { result, data: outcome.data }
}

/** A check that never started: skipped, with the reason. */
export function skippedResult(node: PlanNode, reason: string): CheckResult {
  return {
    ...plannedCheck(node),
    status: 'skipped',
    message: reason,
    durationMs: 0,
    attempts: [],
  }
}

/** A check whose run broke outside its own code (the scheduler, the transport): errored, with the cause. */
export function erroredResult(node: PlanNode, e: unknown): CheckResult {
  const err = e instanceof Error ? e : new Error(String(e))
  return {
    ...plannedCheck(node),
    status: 'errored',
    kind: 'Exception',
    message: `nbs could not run it: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`,
    details: { stack: err.stack },
    durationMs: 0,
    attempts: [],
  }
}
