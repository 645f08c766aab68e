import { z } from 'zod'
import { parseDuration } from '../checks/duration.js'
import { NbsError, describeZodError } from '../errors.js'

/** A journal window: `boot`, `activation`, or a positive duration such as `1h`. */
export function isJournalWindow(since: string): boolean {
  if (since === 'boot' || since === 'activation') return true
  const ms = parseDuration(since)
  return ms !== undefined && ms > 0
}

/**
 * The `journal-errors` options, shared by the check and `nbs status` so `since`, `maxErrors` and
 * `ignore` mean the same in both. Regexes are compiled here, when the config loads, so a bad one
 * is exit 3 naming `options.journal-errors.ignore[N]` instead of an errored check later.
 */
export const journalErrorsOptionsSchema = z.object({
  since: z
    .string()
    .refine(isJournalWindow, '"boot", "activation" or a duration such as "1h"')
    .default('boot')
    .describe('the window read: "boot" (this boot), "activation" (since /run/current-system was last linked) or a duration such as "1h"'),
  maxErrors: z.number().int().min(0).default(0).describe('the most err-priority entries that still pass'),
  ignore: z
    .array(
      z.string().superRefine((source, ctx) => {
        try {
          new RegExp(source)
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(e as Error).message}` })
        }
      }),
    )
    .default([])
    .describe('JavaScript regular expressions; entries whose message matches one are not counted'),
  severity: z
    .enum(['error', 'warning'])
    .default('warning')
    .describe('"warning" (default): a failure shows but does not fail the run; "error": it gates the run'),
})

export type JournalErrorsSettings = z.output<typeof journalErrorsOptionsSchema>

/**
 * A built-in check's options from a config's `options` (for `nbs status`, which runs no plan):
 * validated by the check's own schema, so the check and status read them alike; an invalid one is
 * an NbsError (exit 3) naming the field, as `nbs check` would.
 */
export function checkOptionsFrom<S extends z.ZodType>(schema: S, id: string, options: Record<string, unknown> | undefined, label = 'config'): z.output<S> {
  const parsed = schema.safeParse(options?.[id] ?? {})
  if (!parsed.success) throw new NbsError(`${label}: ${describeZodError(parsed.error, ['options', id])}`)
  return parsed.data
}

/** The `journal-errors` options from a config's `options`, for `nbs status`. */
export function journalOptionsFrom(options: Record<string, unknown> | undefined, label = 'config'): JournalErrorsSettings {
  return checkOptionsFrom(journalErrorsOptionsSchema, 'journal-errors', options, label)
}
