import type { z } from 'zod'
import type { CheckDefinition, CommandCheck, RunCheck } from './types.js'

/**
 * Types a check definition (identity at run time). The loader validates it; this only gives editors
 * the shape, and `ctx.options` the type of the check's `options` schema.
 */
export function defineCheck<S extends z.ZodType>(check: RunCheck<S>): RunCheck<S>
export function defineCheck(check: CommandCheck): CommandCheck
export function defineCheck(checks: CheckDefinition[]): CheckDefinition[]
export function defineCheck(check: CheckDefinition | CheckDefinition[]): CheckDefinition | CheckDefinition[] {
  return check
}
