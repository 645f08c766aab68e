/**
 * Runs the chosen tool for `nbs build`: both streams split into Nix records (parsed, drawn by nom or
 * nbs's own display) and everything else (passed through at once), every byte logged, and the
 * user's signals forwarded. Knows the terminal only through the streams it is given.
 */
import { constants } from 'node:os'
import type { Writable } from 'node:stream'
import { BuildLogParser } from '../nix/build-log.js'
import type { NixError } from '../nix/errors.js'
import { runProcess } from '../runner/process.js'
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
  /** draw with nom (default: when stderr is a terminal and nom is on PATH) */
  nom?: boolean
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** abort with reason 'SIGINT' or 'SIGTERM': that signal is forwarded to the build */
  signal?: AbortSignal
  /** after a forwarded signal, time before the build's tree is killed (default 10 s) */
  killGraceMs?: number
}

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
  activation: string[]
}

/** Runs the tool with both streams split, displayed and logged. */
export async function runTool(o: ToolRunOptions, cmd: ToolCommand, env: NodeJS.ProcessEnv, log: (b: Uint8Array) => void): Promise<ToolRun> {
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
  // one parser path: records are parsed straight from the chunks, the rest passed on at once
  const splitter = (out: OutputStream) =>
    parser.stream({
      pass(bytes) {
        display?.beforeOutput()
        out.write(bytes)
        display?.afterOutput(bytes[bytes.length - 1] === 10)
      },
      ...(nom && { record: (bytes: Buffer) => nom.feed(bytes) }),
      text(line) {
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
