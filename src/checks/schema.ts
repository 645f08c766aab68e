import { z } from 'zod'
import { durationSchema, parseDuration } from './duration.js'

/**
 * The check definition schema. `declarativeCheckSchema` is what a JSON check file may hold (and what
 * the published JSON Schema describes); `checkSchema` adds the programmatic parts (`run`, `options`)
 * that only TS/JS check files can carry.
 */

export const CHECK_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/

const duration = durationSchema

const checkId = z.string().regex(CHECK_ID, 'kebab-case: lowercase letters, digits and single dashes')
/** a reference to another check: `id` or `plugin/id` */
const checkRef = z.string().regex(/^(?:[a-z0-9]+(?:-[a-z0-9]+)*\/)?[a-z0-9]+(?:-[a-z0-9]+)*$/, 'a check id such as "flake-eval" or "plugin/check-id"')

export const textMatcherSchema = z
  .strictObject({
    contains: z.union([z.string(), z.array(z.string())]).optional().describe('every string must occur'),
    notContains: z.union([z.string(), z.array(z.string())]).optional().describe('no string may occur'),
    matches: z.string().optional().describe('a regular expression (JavaScript syntax) that must match'),
    notMatches: z.string().optional().describe('a regular expression that must not match'),
  })
  .superRefine((m, ctx) => {
    for (const key of ['matches', 'notMatches'] as const) {
      const source = m[key]
      if (source === undefined) continue
      try {
        new RegExp(source, 'm')
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: [key], message: `invalid regular expression: ${(e as Error).message}` })
      }
    }
  })

export const jsonAssertionSchema = z.strictObject({
  path: z.string().describe('where to look in stdout parsed as JSON: "." for the whole value, ".units[0].name", "$.a.b"'),
  equals: z.unknown().optional().describe('the value must equal this (deep equality)'),
  length: z.number().int().nonnegative().optional().describe('the array or string at path must have this length'),
})

export const expectSchema = z.strictObject({
  exitCode: z.union([z.number().int(), z.array(z.number().int()).min(1)]).optional().describe('allowed exit code(s); default 0'),
  stdout: textMatcherSchema.optional(),
  stderr: textMatcherSchema.optional(),
  json: z.array(jsonAssertionSchema).optional().describe('assertions on stdout parsed as JSON'),
})

const commonFields = {
  $schema: z.string().optional().describe('JSON Schema reference for editors; ignored'),
  id: checkId.describe('unique, kebab-case; checks from a plugin are addressed plugin/id'),
  title: z.string().optional().describe('one line for humans; defaults to the id'),
  phase: z.string().min(1).optional().describe('one of the configured phases; default: the last phase'),
  needs: z.array(checkRef).optional().describe('checks that must pass first, in this phase or an earlier one'),
  after: z
    .array(checkRef)
    .optional()
    .describe('checks to wait for when they run, whatever their result (their data is offered, not required); not pulled in by --only'),
  timeout: duration
    .refine((v) => v !== 0 && !/^0+(\.0+)?\s*[a-z]+$/.test(String(v)), 'a timeout must be longer than 0')
    .optional()
    .describe('kill the whole process tree and mark the check errored after this long (default 5m)'),
  retries: z.number().int().nonnegative().max(100).optional().describe('re-run a failing check this many more times'),
  retryDelay: duration.optional().describe('wait between attempts'),
  severity: z.enum(['error', 'warning']).optional().describe('a failed warning does not fail the run unless --fail-on warning'),
  tags: z.array(z.string().min(1)).optional().describe('labels for --tag'),
  runsOn: z
    .enum(['local', 'machine'])
    .optional()
    .describe('"local": about the flake, runs where nbs runs (default for pre-build, build); "machine": about the host (default for later phases)'),
  optIn: z.boolean().optional().describe('run only when enabled in the config (enable: [id]) or selected with --only'),
}

const commandFields = {
  command: z.array(z.string()).min(1).describe('argv to run (no shell): ["systemctl", "is-system-running"]'),
  expect: expectSchema.optional().describe('what must hold; default: exit code 0'),
  env: z.record(z.string(), z.string()).optional().describe('extra environment variables for the command'),
  cwd: z.string().optional().describe('working directory, relative to the project root'),
}

/** A JSON check file's check: the declarative form only. */
export const declarativeCheckSchema = z.strictObject({ ...commonFields, ...commandFields })

const isFunction = (v: unknown): v is (...args: never[]) => unknown => typeof v === 'function'
// duck-typed: a plugin may bring its own copy of zod
const zodSchema = z.custom<z.ZodType>((v) => typeof (v as { safeParse?: unknown } | null)?.safeParse === 'function', 'a zod schema')

/** Any check definition: declarative (`command`) or programmatic (`run`), exactly one of them. */
export const checkSchema = z
  .strictObject({
    ...commonFields,
    command: commandFields.command.optional(),
    expect: commandFields.expect,
    env: commandFields.env,
    cwd: commandFields.cwd,
    run: z.custom<(ctx: never) => unknown>(isFunction, 'a function (ctx) => result').optional(),
    options: zodSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.command === undefined) === (c.run === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a check needs exactly one of "command" or "run"' })
    }
    if (c.run && (c.expect || c.env || c.cwd)) {
      ctx.addIssue({ code: 'custom', path: ['expect'], message: '"expect", "env" and "cwd" belong to the "command" form, not to "run"' })
    }
  })

/** A check file exports one check or an array of them. */
export const checkFileSchema = z.union([checkSchema, z.array(checkSchema)])
export const declarativeCheckFileSchema = z.union([declarativeCheckSchema, z.array(declarativeCheckSchema)])

export function toMs(value: number | string | undefined): number | undefined {
  return value === undefined ? undefined : parseDuration(value)
}
