/**
 * The JSON report's schema, mirroring RunReport in ./types.ts. The published JSON Schema is generated
 * from it with `z.toJSONSchema(runReportSchema, { target: 'draft-2020-12' })`; the type assertion at
 * the bottom keeps the two from drifting apart.
 */
import { z } from 'zod'
import type { RunReport } from './types.js'

const isoTime = z.string().describe('ISO 8601 date-time')

export const checkStatusSchema = z
  .enum(['passed', 'failed', 'errored', 'skipped'])
  .describe('outcome of a check')
export const severitySchema = z
  .enum(['error', 'warning'])
  .describe('whether a failure of the check fails the run (error) or only warns')
export const runStatusSchema = z.enum(['passed', 'failed', 'interrupted']).describe('outcome of the run')
export const errorKindSchema = z
  .enum(['CheckFailed', 'Timeout', 'CommandNotFound', 'Exception', 'Interrupted', 'Unreachable'])
  .describe('why a check failed or errored; the JUnit failure/error type')

export const capturedTextSchema = z
  .object({
    text: z.string().describe('captured output; when truncated, the head and tail are kept'),
    bytes: z.number().int().nonnegative().describe('bytes the process actually wrote'),
    truncated: z.boolean().describe('whether the middle of the output was dropped'),
  })
  .describe('output captured from a command')

export const attemptSchema = z
  .object({
    status: checkStatusSchema,
    durationMs: z.number().describe('wall time of this attempt in milliseconds'),
    message: z.string().optional().describe('failure, error or skip reason of this attempt'),
  })
  .describe('one attempt at running a check')

export const checkResultSchema = z
  .object({
    id: z.string().describe('stable check id'),
    host: z.string().describe('the inventory host this check ran for (one result per host and check in a fleet run)'),
    title: z.string().describe('human-readable title'),
    phase: z.string().describe('phase the check belongs to'),
    severity: severitySchema,
    tags: z.array(z.string()).describe('tags used for selection'),
    needs: z.array(z.string()).describe('ids of checks this check depends on'),
    source: z.string().describe('check file, relative to the project root when inside it'),
    status: checkStatusSchema,
    message: z.string().optional().describe('one line for humans: the failure, the error or the skip reason'),
    kind: errorKindSchema.optional(),
    details: z.unknown().optional().describe('structured facts (JSON), e.g. failing assertions or a Nix error location'),
    startedAt: isoTime.optional().describe('when the check started'),
    durationMs: z.number().describe('wall time in milliseconds, all attempts included'),
    attempts: z.array(attemptSchema).describe('every attempt in order; empty when the check never started'),
    stdout: capturedTextSchema.optional(),
    stderr: capturedTextSchema.optional(),
    skip: z
      .enum(['not-this-machine', 'unreachable'])
      .optional()
      .describe('set when the check was skipped because the host is not this machine (and has no target), or could not be reached'),
  })
  .describe('the result of one check')

const count = (what: string) => z.number().int().nonnegative().describe(what)

export const runSummarySchema = z
  .object({
    total: count('number of checks'),
    passed: count('checks that passed'),
    failed: count('checks that failed'),
    errored: count('checks that could not be evaluated'),
    skipped: count('checks that were skipped'),
    warnings: count('failed or errored checks of severity warning (included in failed/errored)'),
    notThisMachine: count('machine checks skipped because the host is not this machine (included in skipped)'),
    unreachable: count('machine checks skipped because their host could not be reached (included in skipped)'),
  })
  .describe('counts of check outcomes')

export const hostSummarySchema = z
  .object({
    name: z.string().describe('inventory name (nixosConfigurations attribute)'),
    target: z.string().describe('how it was reached: "this machine", "root DIR", "ssh [user@]address[:port]", or "not reached"'),
    reachable: z.enum(['yes', 'no']).optional().describe('the reachable step of an ssh host; absent for this machine and hosts without a target'),
    unreachableReason: z.string().optional().describe("ssh's reason when the host could not be reached"),
    status: runStatusSchema.describe('failed when one of its checks fails the run'),
    summary: runSummarySchema,
    slowest: z
      .object({ id: z.string(), durationMs: z.number() })
      .optional()
      .describe('its slowest check that ran'),
  })
  .describe('one host of the run')

export const runReportSchema = z
  .object({
    schemaVersion: z.literal(2).describe('version of this report format (2: fleets; host on every result, hosts summary)'),
    tool: z
      .object({ name: z.literal('nbs'), version: z.string().describe('nbs version') })
      .describe('the program that wrote the report'),
    host: z.string().describe('the host of a single-host run; for a fleet run, the --on selection'),
    fleet: z.boolean().describe('a fleet run (--on): results of several hosts'),
    hosts: z.array(hostSummarySchema).describe('one entry per selected host, in inventory order'),
    flake: z.string().optional().describe('flake reference that was checked'),
    root: z.string().describe('project root directory'),
    startedAt: isoTime.describe('when the run started'),
    finishedAt: isoTime.describe('when the run finished'),
    durationMs: z.number().describe('wall time of the run in milliseconds'),
    status: runStatusSchema,
    interrupted: z
      .object({ signal: z.enum(['SIGINT', 'SIGTERM']) })
      .optional()
      .describe('set when SIGINT/SIGTERM stopped the run'),
    failOn: severitySchema.describe('whether failed warnings fail the run (--fail-on warning)'),
    summary: runSummarySchema,
    phases: z
      .array(z.object({ name: z.string().describe('phase name'), checks: z.array(checkResultSchema) }))
      .describe('phases in run order, each with its check results'),
  })
  .describe('nbs run report (JSON reporter)')

// Compile-time check that the schema and the RunReport type describe the same data.
type Equivalent<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Assert<T extends true> = T
export type RunReportSchemaMatchesType = Assert<Equivalent<z.infer<typeof runReportSchema>, RunReport>>
