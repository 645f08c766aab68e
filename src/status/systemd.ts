import type { Exec } from '../checks/types.js'
import type { Machine } from '../machine/types.js'
import type { ProcessResult } from '../runner/process.js'

export type Pid1Result = { ok: true } | { ok: false; reason: string }

/**
 * Whether the machine is running under systemd, by sd_booted()'s test: the directory
 * `/run/systemd/system` exists only while systemd is PID 1 (it is not created inside a chroot or
 * by merely installing systemd). An offline root (`--root`) has no running units to query.
 */
export async function systemdIsPid1(machine: Machine): Promise<Pid1Result> {
  if (!machine.live) {
    return { ok: false, reason: `systemd is not running as PID 1 (${machine.description} is not the running system)` }
  }
  const marker = '/run/systemd/system'
  const st = await machine.stat(marker).catch(() => null)
  if (st?.type === 'directory') return { ok: true }
  const comm = await machine.readFile('/proc/1/comm', { maxBytes: 256 }).catch(() => null)
  const pid1 = comm?.trim() ? `PID 1 is ${comm.trim()}` : 'PID 1 is unknown'
  return { ok: false, reason: `systemd is not running as PID 1 (${pid1}; no ${marker})` }
}

/**
 * fnmatch-style matching as systemctl's own patterns: `*` any run, `?` one character, `[...]`
 * a class. Node 20's path.matchesGlob is experimental (it warns) and treats `/` specially.
 */
export function globToRegExp(glob: string): RegExp {
  let src = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') src += '.*'
    else if (c === '?') src += '.'
    else if (c === '[' && glob.indexOf(']', i + 2) > 0) {
      const end = glob.indexOf(']', i + 2)
      const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')
      src += `[${body}]`
      i = end
    } else src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${src}$`, 's')
}

export function matchesAnyGlob(name: string, globs: readonly string[]): boolean {
  return globs.some((g) => globToRegExp(g).test(name))
}

/**
 * A journal JSON field as text. journalctl prints a string, `null` (a value above its size
 * threshold), an array of bytes (non-UTF-8 or control characters) or, for a field set several
 * times in one entry, an array of those; the first value wins.
 */
export function journalText(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (!Array.isArray(value) || value.length === 0) return undefined
  if (value.every((b) => typeof b === 'number')) return Buffer.from(value as number[]).toString('utf8')
  return journalText(value[0])
}

/** Splits a byte stream into complete lines without holding more than one partial line. */
export function lineSplitter(onLine: (line: string) => void): { write(chunk: Buffer): void; end(): void } {
  let pending = ''
  const decoder = new TextDecoder('utf-8')
  return {
    write(chunk) {
      const text = pending + decoder.decode(chunk, { stream: true })
      const lines = text.split('\n')
      pending = lines.pop() ?? ''
      for (const l of lines) if (l) onLine(l)
    },
    end() {
      const rest = pending + decoder.decode()
      pending = ''
      if (rest.trim()) onLine(rest)
    },
  }
}

/** A failed query as an Error naming the command, its exit and its stderr. */
export function commandError(what: string, r: ProcessResult): Error {
  if (r.notFound) return new Error(`${what}: command not found`)
  const why = r.error ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`)
  const stderr = r.stderr.text.trim().split('\n').slice(-3).join(' | ')
  return new Error(`${what} failed (${why})${stderr ? `: ${stderr}` : ''}`)
}

/**
 * Reads journalctl's JSON lines as they stream, so memory stays bounded by what `onEntry` keeps.
 * An `exec` that does not stream (no `onStdout` calls) has its captured stdout parsed instead.
 */
export async function streamJournal(
  exec: Exec,
  args: readonly string[],
  onEntry: (entry: Record<string, unknown>) => void,
): Promise<ProcessResult> {
  const split = lineSplitter((line) => {
    try {
      const e: unknown = JSON.parse(line)
      if (e && typeof e === 'object') onEntry(e as Record<string, unknown>)
    } catch {
      // a line cut short by a crash: the exit code tells whether that matters
    }
  })
  let streamed = false
  // parsed here as it streams; the captured copy only needs room for an error's context
  const r = await exec('journalctl', args, {
    maxOutputBytes: 64 * 1024,
    onStdout: (c) => {
      streamed = true
      split.write(c)
    },
  })
  if (!streamed && r.stdout.text) split.write(Buffer.from(r.stdout.text))
  split.end()
  return r
}
