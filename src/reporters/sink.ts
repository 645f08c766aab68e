import { accessSync, constants, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import pc from 'picocolors'
import { NbsError } from '../errors.js'
import { atomicWrite } from '../fs/atomic-write.js'
import type { ReportSink } from './types.js'

export interface OutputSink extends ReportSink {
  /** where it goes, for messages: `stdout` or the file path */
  readonly target: string
  close(): Promise<void>
}

/** The terminal or pipe the CLI writes to. */
export interface Terminal {
  write(chunk: string): unknown
  isTTY?: boolean
  columns?: number
  on?(event: 'error', listener: (e: Error) => void): unknown
}

export function stdoutSink(stream: Terminal): OutputSink {
  const isTTY = stream.isTTY === true
  // a reader that goes away (`| head`) must not crash the run or cost the file reports
  let closed = false
  stream.on?.('error', () => {
    closed = true
  })
  return {
    target: 'stdout',
    isTTY,
    // picocolors honours NO_COLOR / FORCE_COLOR; colour only where a person reads it
    color: pc.isColorSupported && (isTTY || !!process.env.FORCE_COLOR),
    columns: stream.columns ?? 80,
    write: (chunk) => {
      if (!closed) stream.write(chunk)
    },
    close: async () => {},
  }
}

/** Fails before the run, not after it, when a report could not be written (`path` absolute). */
export function assertWritable(path: string, label: string): void {
  let target: boolean
  try {
    target = statSync(path).isDirectory()
  } catch {
    target = false // not there yet: fine
  }
  if (target) throw new NbsError(`${label}: ${path} is a directory; name a file in it`)
  const dir = dirname(path)
  let isDir = false
  try {
    isDir = statSync(dir).isDirectory()
  } catch {
    throw new NbsError(`${label}: directory ${dir} does not exist; create it or choose another path`)
  }
  if (!isDir) throw new NbsError(`${label}: ${dir} is not a directory`)
  try {
    accessSync(dir, constants.W_OK)
  } catch {
    throw new NbsError(`${label}: directory ${dir} is not writable; choose another path`)
  }
}

/** Buffers the report and writes it atomically when closed; `mode` set exactly when given. */
export function fileSink(path: string, cwd: string, mode?: number): OutputSink {
  const file = resolve(cwd, path)
  const chunks: string[] = []
  return {
    target: file,
    isTTY: false,
    color: false,
    columns: 100,
    write: (chunk) => void chunks.push(chunk),
    close: () => atomicWrite(file, chunks.join(''), mode ?? 0o644, { exactMode: mode !== undefined }),
  }
}
