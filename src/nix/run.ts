/**
 * One `nix` invocation through an `Exec` (ctx.exec in checks, runProcess in scripts), turning a
 * failure into the errors Nix reported, or one error saying why there are none.
 */
import type { Exec, ExecOptions } from '../checks/types.js'
import type { ProcessResult } from '../runner/process.js'
import { extractNixErrors, type NixError } from './errors.js'
import { renderNixLog } from './internal-json.js'
import type { BuildLogParser } from './build-log.js'

export interface NixCallOptions {
  exec: Exec
  /** aborts the call when `exec` honours it (`runProcess` does; `ctx.exec` has its own) */
  signal?: AbortSignal
  /** extra environment, e.g. `NIX_CONFIG` */
  env?: Record<string, string | undefined>
  /** extra arguments placed before the installable, e.g. `['--show-trace']` */
  extraArgs?: readonly string[]
}

export type NixFailure = { ok: false; errors: NixError[]; stderr: string } | { ok: false; notFound: true }

/**
 * Runs `nix` with `args`; returns the process result when it succeeded, else the failure with the
 * errors Nix reported (or one describing why there are none: timeout, signal, spawn error).
 */
export async function runNix(
  opts: NixCallOptions,
  args: readonly string[],
  file = 'nix',
): Promise<ProcessResult | NixFailure> {
  const result = await opts.exec(file, args, execOptions(opts))
  if (result.notFound) return { ok: false, notFound: true }
  if (result.exitCode === 0 && !result.error) return result
  return failure(result, file, extractNixErrors(result.stderr.text))
}

/** Bytes of stderr still captured by runNixParsed: only for the last lines of a failure Nix did not describe. */
const PARSED_CAPTURE_BYTES = 64 * 1024

/**
 * runNix for output of any size (a build's log, a dry run listing 12,000 paths): stderr goes
 * through `parser` as it arrives instead of being read from the bounded capture, which keeps only
 * its head and tail. The errors come from the parser, with the build log tails it kept.
 */
export async function runNixParsed(
  opts: NixCallOptions,
  args: readonly string[],
  file: string,
  parser: BuildLogParser,
): Promise<ProcessResult | NixFailure> {
  const result = await opts.exec(file, args, {
    ...execOptions(opts),
    maxOutputBytes: PARSED_CAPTURE_BYTES,
    onStderr: (chunk) => parser.write(chunk),
  })
  parser.end()
  if (result.notFound) return { ok: false, notFound: true }
  if (result.exitCode === 0 && !result.error) return result
  return failure(result, file, parser.errors())
}

function execOptions(opts: NixCallOptions): ExecOptions & { signal?: AbortSignal } {
  const execOpts: ExecOptions & { signal?: AbortSignal } = {}
  if (opts.env) execOpts.env = opts.env
  if (opts.signal) execOpts.signal = opts.signal
  return execOpts
}

/** The failure of a finished call: Nix's errors, else one saying why there are none. */
function failure(result: ProcessResult, file: string, errors: NixError[]): NixFailure {
  if (result.error) errors.push({ kind: 'other', message: `${file} ${result.error}`, raw: result.error })
  else if (!errors.length) {
    const last = renderNixLog(result.stderr.text).trim().split('\n').pop()
    return unexpected(result, `${file} failed with ${exitText(result)}${last ? `: ${last}` : ''}`)
  }
  return { ok: false, errors, stderr: renderNixLog(result.stderr.text) }
}

function exitText(r: ProcessResult): string {
  return r.signal ? `signal ${r.signal}` : `exit code ${r.exitCode}`
}

/** A failure Nix itself did not describe: the message names it, `raw` keeps stderr's last lines. */
export function unexpected(result: ProcessResult, message: string): NixFailure {
  const stderr = renderNixLog(result.stderr.text)
  const raw = stderr.split('\n').slice(-20).join('\n')
  return { ok: false, errors: [{ kind: 'other', message, raw }], stderr }
}
