import type { z } from 'zod'

/**
 * EX_SOFTWARE: nbs itself (or a reporter) broke. Never 1, which means "a check failed" to
 * scripts and CI.
 */
export const EXIT_INTERNAL = 70

/**
 * An error the user can fix (bad flag, config, check file): printed as one line, no stack trace,
 * and mapped to its exit code (3 for invalid input, per DESIGN.md).
 */
export class NbsError extends Error {
  constructor(
    message: string,
    readonly exitCode = 3,
  ) {
    super(message)
    this.name = 'NbsError'
  }
}

/** `a.b[0].c` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key)
  return out
}

/** The first issue of a zod error as `field: message` (the one a user fixes first). */
export function describeZodError(error: z.ZodError, prefix: readonly PropertyKey[] = []): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid'
  const path = formatPath([...prefix, ...issue.path])
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : ''
  return `${path ? `${path}: ` : ''}${issue.message}${more}`
}

/**
 * What a bug in nbs prints: one line, or with `--debug` the stack. Exit EXIT_INTERNAL follows.
 */
export function internalErrorLine(e: unknown, debug: boolean): string {
  const err = e instanceof Error ? e : undefined
  if (debug) return `nbs: internal error: ${err?.stack ?? String(e)}\n`
  const message = (err ? err.message || err.name : String(e)).split('\n')[0]
  return `nbs: internal error: ${message}; run with --debug for the stack\n`
}

/** How nbs exits when an interrupt stopped it: 128 + the signal's number, as a shell reports it. */
export function signalExitCode(sig: unknown): number {
  return sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143
}
