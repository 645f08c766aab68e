/**
 * Runs the chosen tool for `nbs build`: both streams split into Nix records (parsed, drawn by nom or
 * nbs's own display) and everything else (passed through at once), every byte logged, and the
 * user's interrupts turned into what stops a build without ever hurting an activation (below).
 * Knows the terminal only through the streams it is given.
 *
 * Interrupts. The tool stays in the terminal's foreground process group (sudo's prompt and
 * /dev/tty work as without nbs), so a terminal's Ctrl-C reaches every process of the build at
 * once: Nix stops its build by itself, nom exits. The tool is started with SIGINT ignored, which
 * every program it runs inherits unless it installs its own handler: so the Ctrl-C that reaches a
 * running `switch-to-configuration` (nh runs it as its child; sudo and env keep the ignored
 * disposition) no longer kills it half-way. nbs itself decides what the tool gets:
 * - before activation, the first interrupt sends the tool's main process one SIGTERM (what it
 *   would have died of: the Ctrl-C it ignored), and what it leaves running gets one SIGTERM when
 *   it exits; a second interrupt SIGKILLs the build's processes at once;
 * - once activation runs (the tool said so, or an activation process is in its tree), nothing is
 *   sent, whatever the count: nbs says it is waiting, and records how the activation ended;
 * - nixos-rebuild-ng activates in a transient systemd unit outside the tree, which outlives the
 *   tool: after an interrupt nbs waits for that unit before returning (the after-snapshot).
 * SIGINT is never sent by nbs: a process that got the terminal's Ctrl-C never gets it twice.
 */
import { existsSync } from 'node:fs'
import { constants } from 'node:os'
import type { Writable } from 'node:stream'
import { ACTIVATION_START, isActivationProcess, scanTree, waitForActivationUnit, type ActivationOutcome } from './activation.js'
import { BuildLogParser } from '../nix/build-log.js'
import type { NixError } from '../nix/errors.js'
import { signalExitCode } from '../errors.js'
import { PROCESS_TAG_ENV, probeExec, runProcess } from '../runner/process.js'
import { descendantsOf, pidsWithEnv } from '../runner/kill-tree.js'
import { createDisplay, type BuildDisplay } from './display.js'
import { findOnPath, type ToolCommand } from './tool.js'

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown
  isTTY?: boolean
  columns?: number
}

export interface ToolRunOptions {
  io: { stdout: OutputStream; stderr: OutputStream; color?: boolean }
  /** the tool's stdout goes to stderr, keeping stdout for the record (`--json`) */
  json?: boolean
  /** draw with nom (default: NH_NOM=1/0 in env, else when stderr is a terminal; only when nom is on PATH) */
  nom?: boolean
  env?: NodeJS.ProcessEnv
  cwd?: string
  /**
   * abort with reason 'SIGINT' or 'SIGTERM': one interrupt (when `interrupts` is not given; the
   * CLI gives both, the signal for the probes around the build)
   */
  signal?: AbortSignal
  /** every SIGINT/SIGTERM nbs receives while the tool runs, as `'signal'` events, in order */
  interrupts?: InterruptSource
  /** filesystem root (default /): where /run/systemd/system tells whether systemd runs */
  root?: string
  /** called with the tool's pid once it is started (the lock and marker name it) */
  onToolStart?: (pid: number) => void
}

export type Interrupt = 'SIGINT' | 'SIGTERM' | 'SIGHUP'
const asInterrupt = (reason: unknown): Interrupt => (reason === 'SIGINT' || reason === 'SIGHUP' ? reason : 'SIGTERM')
/** An EventEmitter emitting `'signal'` with the signal's name. */
export interface InterruptSource {
  on(event: 'signal', fn: (sig: Interrupt) => void): unknown
  off(event: 'signal', fn: (sig: Interrupt) => void): unknown
}

/**
 * `sh` sets SIGINT and SIGHUP ignored and becomes the tool: the dispositions are inherited across
 * exec, so the terminal's Ctrl-C, and the hangup of an ssh session that dropped, never reach an
 * activation; nbs decides what each interrupt does.
 */
const IGNORE_SIGINT = 'trap "" INT HUP; exec "$0" "$@"'
const SH = existsSync('/bin/sh') ? '/bin/sh' : 'sh'
/** a partial plain line (a prompt?) held this long for nom before nom is stopped and it is shown */
const PROMPT_MS = 150
/** while nom draws, the tree is looked at this often for sudo/activation (they use the terminal) */
const NOM_WATCH_MS = 500

/** nom is fed only while it keeps up; past this backlog build log lines are dropped for it. */
const NOM_BACKLOG = 4 * 1024 * 1024
const NL = Buffer.from('\n')
/** plain lines that tell an activation failed (nixos-rebuild, switch-to-configuration, nh) */
const ACTIVATION_FAILED = /the following units failed: (.+)$|^warning: error\(s\) occurred while switching|Activation script snippet '.*' failed/

export interface ToolRun {
  exitCode: number
  interrupted: boolean
  signal?: string
  errors: NixError[]
  /** lines that tell an activation failed */
  activation: string[]
  /** set when activation started: how it ended, as far as nbs can tell */
  activationOutcome?: ActivationOutcome
  /** nixos-rebuild-ng's transient unit, when nbs waited for it after an interrupt */
  activationUnit?: string
}

/** NH_NOM, which nh documents but no nh reads: nbs reads it for its own use of nom. */
export function nomWanted(env: NodeJS.ProcessEnv): boolean | undefined {
  const v = env.NH_NOM?.trim().toLowerCase()
  if (v === undefined || v === '') return undefined
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  return undefined
}

/** Runs the tool with both streams split, displayed and logged. */
export async function runTool(o: ToolRunOptions, cmd: ToolCommand, env: NodeJS.ProcessEnv, log: (b: Uint8Array) => void): Promise<ToolRun> {
  const { io } = o
  if (o.signal?.aborted) {
    // interrupted before the tool started (lock, snapshot): it is not started at all
    const sig = asInterrupt(o.signal.reason)
    return { exitCode: signalExitCode(sig), interrupted: true, signal: sig, errors: [], activation: [] }
  }
  const hasNom = () => findOnPath('nom', env) !== null
  const useNom = o.nom ?? nomWanted(env) ?? io.stderr.isTTY === true
  let nom = useNom && hasNom() ? startNom(o, env) : undefined
  let display: BuildDisplay | undefined
  const parser = new BuildLogParser({ onEvent: (e) => display?.event(e) })
  if (!nom) {
    const sink = {
      isTTY: io.stderr.isTTY === true,
      get columns() {
        return io.stderr.columns // read on every draw: the terminal may be resized
      },
      write: (t: string) => void io.stderr.write(t),
    }
    display = createDisplay(sink, { progress: () => parser.progress, tail: (drv) => parser.tail(drv), color: io.color })
  }
  const say = (line: string) => {
    stopNom()
    if (nom) return void held.push([io.stderr, Buffer.from(`${line}\n`)]) // after nom's last frame
    display?.beforeOutput()
    io.stderr.write(`${line}\n`)
    display?.afterOutput(true)
  }

  // nom owns the terminal only until something else must be read there: then it is stopped (its
  // last frame drawn) and the rest passes straight through. Until then plain lines go through nom,
  // which prints them above its box instead of under a box it then redraws over them.
  let nomStopping: Promise<void> | undefined
  const held: [OutputStream, Buffer][] = [] // passthrough that waits for nom to finish its last frame
  let partial: Buffer[] = [] // a plain line without its newline yet: a prompt, or a chunk boundary
  let partialOut: OutputStream = io.stderr
  let promptTimer: NodeJS.Timeout | undefined
  let watch: NodeJS.Timeout | undefined
  function stopNom() {
    if (!nom || nomStopping) return
    const n = nom
    clearTimeout(promptTimer)
    clearInterval(watch)
    const rest = Buffer.concat(partial)
    partial = []
    nomStopping = n.finish().then(() => {
      nom = undefined
      if (rest.length) partialOut.write(rest)
      for (const [out, b] of held.splice(0)) out.write(b)
    })
  }
  const throughNom = (out: OutputStream) => nom !== undefined && !nomStopping && (out === io.stderr || io.stdout.isTTY === true)
  const passToNom = (out: OutputStream, bytes: Buffer) => {
    partialOut = out
    let from = 0
    for (let nl = bytes.indexOf(10); nl >= 0; nl = bytes.indexOf(10, from)) {
      const line = Buffer.concat([...partial, bytes.subarray(from, nl)])
      partial = []
      nom!.text(line.toString('utf8'))
      from = nl + 1
    }
    clearTimeout(promptTimer)
    if (from < bytes.length) {
      partial.push(Buffer.from(bytes.subarray(from)))
      promptTimer = setTimeout(stopNom, PROMPT_MS) // still no newline: someone waits for an answer
    }
  }

  // activation: once it runs, nothing is ever sent to the build
  let activating = false
  const enterActivation = () => {
    if (activating) return
    activating = true
    stopNom()
  }
  const activation: string[] = []
  // one parser path: records are parsed straight from the chunks, the rest passed on at once
  const splitter = (out: OutputStream) =>
    parser.stream({
      pass(bytes) {
        if (throughNom(out)) return passToNom(out, bytes)
        if (nomStopping && nom) return void held.push([out, Buffer.from(bytes)])
        display?.beforeOutput()
        out.write(bytes)
        display?.afterOutput(bytes[bytes.length - 1] === 10)
      },
      // nom may be stopped mid-build (a prompt, activation): records then go to nbs's parser only
      ...(nom && { record: (bytes: Buffer) => void nom?.feed(bytes) }),
      text(line) {
        if (ACTIVATION_FAILED.test(line) && activation.length < 20) activation.push(line.trim())
        if (!activating && ACTIVATION_START.test(line)) enterActivation()
      },
    })
  const outSplit = splitter(o.json ? io.stderr : io.stdout)
  const errSplit = splitter(io.stderr)

  let pid: number | undefined
  let tag: string | undefined
  let interruptedBy: Interrupt | undefined
  let interrupts = 0
  /** the tool has exited: what is left is waiting for -ng's unit and recording */
  let toolDone = false
  const started = new Date()
  const look = () => {
    if (pid === undefined || activating) return
    const seen = scanTree(pid)
    if (seen === 'activation') enterActivation()
    else if (seen === 'elevation') stopNom() // sudo may be asking on /dev/tty: nom would draw over it
  }
  const onInterrupt = (sig: Interrupt) => {
    interrupts++
    const what = sig === 'SIGINT' ? 'interrupt' : sig
    if (toolDone) {
      // the tool has ended by itself: its result stands, the interrupt changes nothing
      if (interrupts === 1 || sig === 'SIGINT') say(`nbs: ${what} — the build has ended; recording it`)
      return
    }
    interruptedBy ??= sig
    look()
    if (activating) {
      if (interrupts === 1 || sig === 'SIGINT') say(`nbs: ${what} — activation is running; waiting for it to finish (nbs never stops an activation)`)
      return
    }
    if (pid === undefined) return
    if (interrupts === 1) {
      say(sig === 'SIGINT' ? 'nbs: interrupt — waiting for the build to stop; Ctrl-C again to stop it now' : `nbs: ${sig} — stopping the build`)
      signal(pid, 'SIGTERM')
      return
    }
    say('nbs: stopping the build now')
    // everything of this build that is not an activation (none should be: checked just above)
    const pids = new Set([pid, ...descendantsOf(pid), ...(tag ? pidsWithEnv(PROCESS_TAG_ENV, tag) : [])])
    for (const p of pids) if (p !== process.pid && !isActivationProcess(p)) signal(p, 'SIGKILL')
  }
  const onAbort = () => onInterrupt(asInterrupt(o.signal?.reason))
  if (o.interrupts) o.interrupts.on('signal', onInterrupt)
  else o.signal?.addEventListener('abort', onAbort, { once: true })
  if (nom) watch = setInterval(look, NOM_WATCH_MS)

  const result = await runProcess(SH, ['-c', IGNORE_SIGINT, cmd.file, ...cmd.args], {
    cwd: o.cwd,
    env: toolEnv(cmd.env, env),
    stdin: 'inherit', // sudo may ask for a password
    detached: false, // stay in the terminal's foreground group: Ctrl-C and /dev/tty work as without nbs
    capture: false, // the log file has it all; memory stays flat
    onSpawn: (c) => {
      pid = c.pid
      tag = c.tag
      o.onToolStart?.(c.pid)
      if (interrupts > 0 && !activating) signal(c.pid, 'SIGTERM') // interrupted while it started
    },
    // the tool is gone but something holds its output: an activation it started is waited for;
    // anything else is what a stopped build left, and gets one SIGTERM (then SIGKILL after 10 s)
    keepLeftovers: () => activating || (tag !== undefined && pidsWithEnv(PROCESS_TAG_ENV, tag).some(isActivationProcess)),
    killGraceMs: 10_000,
    onStdout: (c) => {
      log(c)
      outSplit.push(c)
    },
    onStderr: (c) => {
      log(c)
      errSplit.push(c)
    },
  })
  toolDone = true
  clearInterval(watch)
  clearTimeout(promptTimer)
  outSplit.end()
  errSplit.end()
  parser.end()
  display?.stop()
  if (nomStopping) await nomStopping
  else await nom?.finish()
  if (partial.length) partialOut.write(Buffer.concat(partial))

  let activationUnit: string | undefined
  let unitOutcome: ActivationOutcome | undefined
  if (interruptedBy && cmd.tool === 'nixos-rebuild') {
    // nixos-rebuild-ng's activation runs on in its own unit: the after-snapshot must see its end
    // (only its builds: nh's activation is its child, and another build's unit is not this one's)
    const waited = await waitForActivationUnit(probeExec({ timeoutMs: 30_000 }), {
      since: started,
      ...(o.root ? { root: o.root } : {}),
      onWaiting: (unit) => say(`nbs: activation goes on in ${unit}; waiting for it to finish`),
    }).catch(() => undefined)
    if (waited) {
      activating = true
      activationUnit = waited.unit
      unitOutcome = waited.outcome
    }
  }
  if (o.interrupts) o.interrupts.off('signal', onInterrupt)
  else o.signal?.removeEventListener('abort', onAbort)

  if (result.error && !result.aborted && result.exitCode === null && !result.signal) {
    io.stderr.write(`nbs: ${result.error}\n`)
  }
  const interrupted = interruptedBy !== undefined
  const signalName = interruptedBy ?? result.signal ?? undefined
  const exitCode = result.exitCode ?? (result.notFound ? 127 : result.signal ? 128 + (constants.signals[result.signal as NodeJS.Signals] ?? 0) : 1)
  const activationOutcome: ActivationOutcome | undefined = !activating
    ? undefined
    : (unitOutcome ?? (exitCode === 0 && activation.length === 0 ? 'completed' : 'failed'))
  return {
    exitCode,
    interrupted,
    ...(signalName ? { signal: signalName } : {}),
    errors: parser.errors(),
    activation,
    ...(activationOutcome ? { activationOutcome } : {}),
    ...(activationUnit ? { activationUnit } : {}),
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // gone already
  }
}


/** nom reading the same records on stdin; its drawing goes through our stderr stream. */
function startNom(o: ToolRunOptions, env: NodeJS.ProcessEnv) {
  let stdin: Writable | null = null
  const stop = new AbortController()
  const done = runProcess('nom', ['--json'], {
    env: { ...env },
    stdin: 'pipe',
    capture: false,
    signal: stop.signal,
    onSpawn: (c) => (stdin = c.stdin),
    onStdout: (c) => void o.io.stderr.write(c),
    onStderr: (c) => void o.io.stderr.write(c),
  })
  return {
    /** a plain line: nom prints it above its box */
    text(line: string) {
      const s = stdin as Writable | null
      if (s && !s.destroyed) s.write(`${line}\n`)
    },
    /** a record line (its bytes, without the newline) */
    feed(record: Buffer) {
      const s = stdin as Writable | null
      if (!s || s.destroyed) return
      // a slow display must never slow the build: drop log lines once nom falls behind
      if (s.writableLength > NOM_BACKLOG && record.includes('"action":"result"')) return
      s.write(Buffer.concat([record, NL]))
    },
    async finish() {
      ;(stdin as Writable | null)?.end()
      const timer = setTimeout(() => stop.abort(), 5000)
      await done
      clearTimeout(timer)
    },
  }
}

/**
 * The tool's environment: the user's own NH_* settings win over nbs's defaults, said the way nh
 * parses them. nh reads booleans with clap, which accepts only `true`/`false` (`1` is a parse error
 * on nh 4.3.0 and for NH_BYPASS_ROOT_CHECK in every nh), so a `1`/`yes`/`on` left in someone's
 * environment is passed as `true`; a bypass nbs needs (under sudo) is never turned off by it.
 */
export function toolEnv(defaults: Record<string, string>, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...defaults, ...env }
  for (const name of ['NH_SHOW_ACTIVATION_LOGS', 'NH_BYPASS_ROOT_CHECK']) {
    const v = env[name]?.trim().toLowerCase()
    if (v === undefined) continue
    const needed = name === 'NH_BYPASS_ROOT_CHECK' && defaults[name] === 'true'
    if (['1', 'true', 'yes', 'on'].includes(v)) out[name] = 'true'
    else if (['0', 'false', 'no', 'off'].includes(v)) out[name] = needed ? 'true' : 'false'
    else if (name in defaults) out[name] = defaults[name]
  }
  return out
}
