import type { z } from 'zod'

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
