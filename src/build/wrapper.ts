/**
 * `nbs build`: runs nh / nixos-rebuild / home-manager with Nix's internal-json stream, passes every
 * other byte through untouched and at once, draws progress (nom when asked, else nbs's own), keeps
 * the whole output in last-build.log and writes the build record, also when interrupted.
 * The terminal is known only through `io` (streams with isTTY/columns and write).
 */
import { constants, hostname } from 'node:os'
import type { Writable } from 'node:stream'
import type { Exec } from '../checks/types.js'
import { NbsError } from '../errors.js'
import { BuildLogParser } from '../nix/build-log.js'
import type { NixError } from '../nix/errors.js'
import { stripSyslogPriority } from '../nix/internal-json.js'
import { parseFlakeRef } from '../nix/flake.js'
import { probeExec, runProcess } from '../runner/process.js'
import { createDisplay, type BuildDisplay } from './display.js'
import { acquireBuildLock } from './lock.js'
import { resolveLogDir } from './log-dir.js'
import { defaultUser, readNixVersion, snapshotGeneration, type BuildErrorDetail, type BuildRecord } from './record.js'
import { openBuildLog, writeBuildRecord } from './store.js'
import { StreamSplitter } from './stream.js'
import { chooseTool, findOnPath, formatCommand, toolCommand, type BuildAction, type BuildTarget, type BuildTool } from './tool.js'

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown
  isTTY?: boolean
  columns?: number
}

export interface RunBuildOptions {
  target: BuildTarget
  action: BuildAction
  /** forced tool (`--tool`); default nh when on PATH */
  tool?: BuildTool
  flake: string
  host: string
  /** arguments after `--`, for Nix */
  extraArgs?: readonly string[]
  /** the config's logDir (NBS_LOG_DIR in `env` overrides it) */
  logDir?: string
  /** filesystem root the generations are read from (default /) */
  root?: string
  io: { stdout: OutputStream; stderr: OutputStream; color?: boolean }
  /** the tool's stdout goes to stderr, keeping stdout for the record (`--json`) */
  json?: boolean
  /** draw with nom (default: when stderr is a terminal and nom is on PATH) */
  nom?: boolean
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** abort with reason 'SIGINT' or 'SIGTERM': that signal is forwarded to the build */
  signal?: AbortSignal
  /** after a forwarded signal, time before the build's tree is killed (default 10 s) */
  killGraceMs?: number
  exec?: Exec
}

export interface BuildOutcome {
  record: BuildRecord
  /** the tool's own exit code (128 + signal number when it died of a signal) */
  exitCode: number
  notices: string[]
}

/** nom is fed only while it keeps up; past this backlog build log lines are dropped for it. */
const NOM_BACKLOG = 4 * 1024 * 1024
/** plain lines that tell an activation failed (nixos-rebuild, switch-to-configuration, nh) */
const ACTIVATION_FAILED = /the following units failed: (.+)$|^warning: error\(s\) occurred while switching|Activation script snippet '.*' failed/

export async function runBuild(o: RunBuildOptions): Promise<BuildOutcome> {
  const env = o.env ?? process.env
  const tool = chooseTool(o.target, { forced: o.tool, has: (c) => findOnPath(c, env) !== null })
  if (!findOnPath(tool, env)) {
    throw new NbsError(`${tool} is not on PATH${o.tool ? '' : tool === 'nh' ? '' : ' (nor is nh)'}`, 127)
  }
  const cmd = toolCommand({ tool, target: o.target, action: o.action, flake: o.flake, host: o.host, extra: o.extraArgs ?? [] })
  const notices: string[] = []
  const { dir, notice } = await resolveLogDir({ configured: o.logDir, env })
  if (notice) notices.push(notice)
  const lock = await acquireBuildLock(dir)
  try {
    // the probes around the build (snapshots, nix --version) stop with Ctrl-C too
    const exec = o.exec ?? probeExec({ timeoutMs: 30_000, signal: o.signal })
    const user = defaultUser(env) ?? 'unknown'
    const flakePath = parseFlakeRef(o.flake).flake
    const snap = () => snapshotGeneration({ root: o.root, exec, flake: flakePath, target: o.target, user })
    const nixVersion = readNixVersion(exec) // in parallel with the build: it costs a process start
    const preGeneration = await snap()
    const log = await openBuildLog(dir)
    const start = new Date()
    const run = await runTool(o, cmd, env, log.write)
    const end = new Date()
    // the log's fsync overlaps the snapshot's reads
    const closing = log.close().catch((e: Error) => void notices.push(`could not write ${log.path}: ${e.message}`))
    const [postGeneration] = await Promise.all([snap(), closing])
    const exitCode = run.exitCode
    const errorDetails = details(run.errors, run.activation, exitCode, tool)
    const record: BuildRecord = {
      buildStart: start.toISOString(),
      buildEnd: end.toISOString(),
      buildDuration: Math.round((end.getTime() - start.getTime()) / 10) / 100,
      target: o.target,
      action: o.action,
      tool,
      flakePath,
      exitCode,
      success: exitCode === 0 && !run.interrupted,
      hostname: hostname(),
      user,
      command: formatCommand(cmd.file, cmd.args),
      preGeneration,
      postGeneration,
      buildLogPath: log.path,
      errors: errorDetails.map((e) => e.message).join('\n'),
      errorDetails,
      nixVersion: await nixVersion,
      interrupted: run.interrupted,
      ...(run.signal ? { signal: run.signal } : {}),
      recordVersion: 1,
    }
    // a full disk must not turn the build's own result into an internal error
    const warnings = await writeBuildRecord(dir, record).then(
      (r) => r.warnings,
      (e: Error) => [`could not write the build record in ${dir}: ${e.message}`],
    )
    return { record, exitCode, notices: [...notices, ...warnings] }
  } finally {
    await lock.release()
  }
}

interface ToolRun {
  exitCode: number
  interrupted: boolean
  signal?: string
  errors: NixError[]
  activation: string[]
}

/** Runs the tool with both streams split, displayed and logged. */
async function runTool(o: RunBuildOptions, cmd: ReturnType<typeof toolCommand>, env: NodeJS.ProcessEnv, log: (b: Uint8Array) => void): Promise<ToolRun> {
  const { io } = o
  const useNom = o.nom ?? (io.stderr.isTTY === true && findOnPath('nom', env) !== null)
  const nom = useNom ? startNom(o, env) : undefined
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
  const activation: string[] = []
  const splitter = (out: OutputStream) =>
    new StreamSplitter({
      pass(bytes) {
        display?.beforeOutput()
        out.write(bytes)
        display?.afterOutput(bytes[bytes.length - 1] === 10)
      },
      record(line) {
        if (!parser.line(line)) return false
        nom?.feed(stripSyslogPriority(line))
        return true
      },
      text(line) {
        parser.line(line)
        if (ACTIVATION_FAILED.test(line) && activation.length < 20) activation.push(line.trim())
      },
    })
  const outSplit = splitter(o.json ? io.stderr : io.stdout)
  const errSplit = splitter(io.stderr)
  const result = await runProcess(cmd.file, cmd.args, {
    cwd: o.cwd,
    env: { ...cmd.env, ...env }, // the user's own NH_* settings win
    stdin: 'inherit', // sudo may ask for a password
    detached: false, // stay in the terminal's foreground group: Ctrl-C and /dev/tty work as without nbs
    capture: false, // the log file has it all; memory stays flat
    signal: o.signal,
    killSignal: (reason) => (reason === 'SIGINT' || reason === 'SIGTERM' ? reason : 'SIGTERM'),
    killGraceMs: o.killGraceMs ?? 10_000,
    onStdout: (c) => {
      log(c)
      outSplit.push(c)
    },
    onStderr: (c) => {
      log(c)
      errSplit.push(c)
    },
  })
  outSplit.end()
  errSplit.end()
  parser.end()
  display?.stop()
  await nom?.finish()
  if (result.error && !result.aborted && result.exitCode === null && !result.signal) {
    io.stderr.write(`nbs: ${result.error}\n`)
  }
  const interrupted = result.aborted
  const reason = o.signal?.reason
  const signal = interrupted ? (typeof reason === 'string' ? reason : 'SIGTERM') : (result.signal ?? undefined)
  const exitCode = result.exitCode ?? (result.notFound ? 127 : result.signal ? 128 + (constants.signals[result.signal as NodeJS.Signals] ?? 0) : 1)
  return { exitCode, interrupted, ...(signal ? { signal } : {}), errors: parser.errors(), activation }
}

/** nom reading the same records on stdin; its drawing goes through our stderr stream. */
function startNom(o: RunBuildOptions, env: NodeJS.ProcessEnv) {
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
    feed(line: string) {
      const s = stdin as Writable | null
      if (!s || s.destroyed) return
      // a slow display must never slow the build: drop log lines once nom falls behind
      if (s.writableLength > NOM_BACKLOG && line.includes('"action":"result"')) return
      s.write(`${line}\n`)
    },
    async finish() {
      ;(stdin as Writable | null)?.end()
      const timer = setTimeout(() => stop.abort(), 5000)
      await done
      clearTimeout(timer)
    },
  }
}

/** The record's errorDetails: Nix's errors, activation failures, else the exit code itself. */
function details(errors: NixError[], activation: string[], exitCode: number, tool: string): BuildErrorDetail[] {
  const out: BuildErrorDetail[] = errors.map((e) => ({
    message: e.message,
    kind: e.kind,
    ...(e.drv !== undefined && { drv: e.drv }),
    ...(e.exitCode !== undefined && { exitCode: e.exitCode }),
    ...(e.file !== undefined && { file: e.file }),
    ...(e.line !== undefined && { line: e.line }),
    ...(e.column !== undefined && { column: e.column }),
    ...(e.logTail?.length && { logTail: e.logTail }),
    ...(e.reason !== undefined && { reason: e.reason }),
    ...(e.codeFrame !== undefined && { codeFrame: e.codeFrame }),
    ...(e.traces?.length && { traces: e.traces }),
  }))
  for (const line of activation) out.push({ message: line.replace(/^warning:\s*/, ''), kind: 'activation' })
  if (exitCode !== 0 && out.length === 0) out.push({ message: `${tool} exited with code ${exitCode}`, kind: 'other', exitCode })
  return out
}
