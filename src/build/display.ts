/**
 * nbs's own build display, used when nom is not. On a terminal: one status line, redrawn at most
 * every `intervalMs`, cleared before any passthrough output and held back while that output sits
 * on an unfinished line (a password prompt must never be drawn over). Piped: one plain line per
 * started, finished or failed derivation, nothing else. Either way Nix's own messages (errors,
 * warnings, what Nix prints without -v) are printed, with the failed build's log tail that Nix
 * leaves out in JSON mode. It knows the terminal only through a sink.
 */
import { basename, dirname, join } from 'node:path'
import pc from 'picocolors'
import type { BuildLogEvent, BuildProgress } from '../nix/build-log.js'
import { formatSeconds } from '../checks/duration.js'
import { generationChange } from '../records/view.js'
import { clip } from '../reporters/sanitize.js'
import type { BuildRecord } from '../records/schema.js'

export interface DisplaySink {
  isTTY: boolean
  columns?: number
  write(text: string): void
}

export interface BuildDisplay {
  /** a parser event */
  event(e: BuildLogEvent): void
  /** passthrough text is about to be written to the same terminal */
  beforeOutput(): void
  /** passthrough text was written; `complete` = it ended with a newline */
  afterOutput(complete: boolean): void
  /** clears the status line and stops redrawing */
  stop(): void
}

export interface DisplayOptions {
  progress: () => BuildProgress
  /** the last log lines of a build (the parser's), shown under its error */
  tail?: (drv: string) => string[]
  color?: boolean
  now?: () => number
  intervalMs?: number
  /** idle time after which the status line is cleared when nothing builds (sudo may own the line) */
  idleMs?: number
}

const CLEAR = '\r\u001b[2K'
/** Nix's default verbosity (lvlInfo): nbs asks for -v, but shows what Nix would have shown. */
const SHOW_LEVEL = 3

/** A Nix message as Nix prints it, plus the failed build's last lines (`       > …`). */
export function messageText(e: Extract<BuildLogEvent, { type: 'message' }>, tail?: (drv: string) => string[]): string {
  let text = e.text.replace(/\s+$/, '')
  const drv = e.kind === 'error' ? /'(\/[^']+\.drv)'/.exec(text)?.[1] : undefined
  const lines = drv && tail && !/log lines:/.test(text) ? tail(drv) : []
  if (lines.length) text += `\n       last ${lines.length} log lines:\n${lines.map((l) => `       > ${l}`).join('\n')}`
  return `${text}\n`
}

function shown(e: BuildLogEvent): e is Extract<BuildLogEvent, { type: 'message' }> {
  return e.type === 'message' && (e.level <= SHOW_LEVEL || e.kind === 'error') && e.text.trim() !== ''
}

/** `hello-1.0` from `/nix/store/<hash>-hello-1.0.drv`. */
export function drvName(drv: string): string {
  return drv.replace(/^.*\/[0-9a-z]{32}-/, '').replace(/\.drv$/, '')
}

/** `45s`, `2m05s`, `1h02m`: a live clock counts whole seconds passed (never rounds up). */
export const elapsed = (ms: number): string => formatSeconds(Math.floor(ms / 1000))

/** The status line's text: `[3/10 built, 1 running] [↓ 2/5] hello-1.0 (buildPhase) 1m02s`. */
export function statusLine(p: BuildProgress, elapsedMs: number): string {
  const parts: string[] = []
  const b = p.builds
  if (b.expected || b.done || b.running) {
    parts.push(`[${b.done}/${b.expected} built${b.running ? `, ${b.running} running` : ''}${b.failed ? `, ${b.failed} failed` : ''}]`)
  }
  const d = p.downloads
  if (d.expected || d.done) parts.push(`[↓ ${d.done}/${d.expected}${p.bytes.expected ? ` ${mib(p.bytes.done)}/${mib(p.bytes.expected)} MiB` : ''}]`)
  const cur = p.running.at(-1)
  if (cur) parts.push(`${drvName(cur.drv)}${cur.phase ? ` (${cur.phase})` : ''}${p.running.length > 1 ? ` +${p.running.length - 1}` : ''}`)
  if (!parts.length) parts.push('evaluating')
  parts.push(elapsed(elapsedMs))
  return parts.join(' ')
}

const mib = (n: number) => (n / 1048576).toFixed(1)

export function createDisplay(sink: DisplaySink, opts: DisplayOptions): BuildDisplay {
  const now = opts.now ?? (() => performance.now())
  const c = pc.createColors(opts.color ?? false)
  const started = now()
  const startedAt = new Map<string, number>()
  const took = (id: string) => {
    const t = startedAt.get(id)
    startedAt.delete(id)
    return t === undefined ? '' : ` (${elapsed(now() - t)})`
  }

  if (!sink.isTTY) {
    // piped: a log a CI job can read, one line per derivation event
    return {
      event(e) {
        if (shown(e)) sink.write(messageText(e, opts.tail))
        else if (e.type === 'build-started') {
          startedAt.set(e.id, now())
          sink.write(`nbs: started ${drvName(e.drv)}${e.machine ? ` on ${e.machine}` : ''}\n`)
        } else if (e.type === 'build-stopped') {
          sink.write(`nbs: ${e.failed ? 'failed' : 'finished'} ${drvName(e.drv)}${took(e.id)}\n`)
        }
      },
      beforeOutput() {},
      afterOutput() {},
      stop() {},
    }
  }

  const interval = opts.intervalMs ?? 100
  const idleMs = opts.idleMs ?? 1000
  let line = '' // what the status line shows now ('' = nothing)
  let paused = false // passthrough output is mid-line
  let stopped = false
  let lastDraw = -Infinity
  let lastActivity = now()
  let timer: NodeJS.Timeout | undefined

  const clear = () => {
    if (line) sink.write(CLEAR)
    line = ''
  }
  const draw = () => {
    timer = undefined
    if (stopped || paused) return
    // a pty without a size reports 0 columns
    const next = clip(statusLine(opts.progress(), now() - started), Math.max(10, (sink.columns || 80) - 1))
    lastDraw = now()
    if (next === line) return
    sink.write(`${CLEAR}${c.dim(next)}`)
    line = next
  }
  const schedule = () => {
    if (timer || stopped || paused) return
    timer = setTimeout(draw, Math.max(0, lastDraw + interval - now()))
    timer.unref?.()
  }
  // The clock ticks only while something builds: an idle line is cleared, so a prompt sudo writes
  // straight to the terminal (not through nbs) lands on a clean line and is not redrawn over.
  const ticker = setInterval(() => {
    if (opts.progress().running.length > 0) schedule()
    else if (now() - lastActivity > idleMs) clear()
  }, 1000)
  ticker.unref?.()

  return {
    event(e) {
      lastActivity = now()
      if (shown(e)) {
        clear()
        sink.write(messageText(e, opts.tail))
      } else if (e.type === 'build-started') startedAt.set(e.id, now())
      else if (e.type === 'build-stopped') {
        const t = took(e.id)
        if (e.failed) {
          clear() // a failure stays on screen above the status line
          sink.write(`${c.red('failed')} ${drvName(e.drv)}${t}\n`)
        }
      }
      schedule()
    },
    beforeOutput() {
      clear()
    },
    afterOutput(complete) {
      paused = !complete
      // with nothing building the line is not redrawn: a prompt written to /dev/tty may own it
      if (!paused && opts.progress().running.length > 0) schedule()
    },
    stop() {
      stopped = true
      clearTimeout(timer)
      clearInterval(ticker)
      clear()
    },
  }
}

/** The closing lines on stderr: outcome, duration, generation change, first error, where the record is. */
export function formatSummary(r: BuildRecord, opts: { color?: boolean } = {}): string {
  const c = pc.createColors(opts.color ?? false)
  const took = formatSeconds(r.buildDuration)
  const gen = generationChange(r)
  const lines: string[] = []
  if (r.interrupted && r.activation === undefined) lines.push(c.yellow(`nbs: build interrupted by ${r.signal ?? 'a signal'} after ${took}`))
  else if (r.interrupted) {
    // nbs waited: the activation decided the result, and the interrupt is only told
    const ended = r.success ? c.green(`nbs: build succeeded in ${took}`) + (gen !== '-' ? ` (${gen})` : '') : c.red(`nbs: build failed with exit code ${r.exitCode} after ${took}`)
    lines.push(`${ended} (${r.signal ?? 'a signal'} during activation: nbs waited for it)`)
  } else if (r.success) lines.push(c.green(`nbs: build succeeded in ${took}`) + (gen !== '-' ? ` (${gen})` : ''))
  else lines.push(c.red(`nbs: build failed with exit code ${r.exitCode} after ${took}`))
  const first = r.success ? undefined : r.errorDetails[0]
  if (first) {
    const at = first.file ? ` at ${first.file}${first.line ? `:${first.line}${first.column ? `:${first.column}` : ''}` : ''}` : ''
    lines.push(`nbs: ${first.message}${at}`)
  }
  // the log is builds/<time>-….log; the record sits beside last-build.log in the folder above
  const folder = dirname(r.buildLogPath)
  const record = join(basename(folder) === 'builds' ? dirname(folder) : folder, 'last-build.json')
  lines.push(c.dim(`nbs: record in ${record}, output in ${r.buildLogPath}`))
  return `${lines.join('\n')}\n`
}
