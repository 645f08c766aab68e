/**
 * One `nix` invocation through an `Exec` (ctx.exec in checks, runProcess in scripts), turning a
 * failure into the errors Nix reported, or one error saying why there are none.
 */
import type { Exec, ExecOptions } from '../checks/types.js'
import type { ProcessResult } from '../runner/process.js'
import { extractNixErrors, type NixError } from './errors.js'
import { renderNixLog } from './internal-json.js'

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
  const execOpts: ExecOptions & { signal?: AbortSignal } = {}
  if (opts.env) execOpts.env = opts.env
  if (opts.signal) execOpts.signal = opts.signal
  const result = await opts.exec(file, args, execOpts)
  if (result.notFound) return { ok: false, notFound: true }
  if (result.exitCode === 0 && !result.error) return result
  const errors = extractNixErrors(result.stderr.text)
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
