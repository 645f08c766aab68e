import { z } from 'zod'
import { declarativeCheckFileSchema } from '../checks/schema.js'
import { configSchema } from '../config/schema.js'
import { runReportSchema } from '../report/schema.js'
import { buildRecordSchema } from '../records/schema.js'
import { statusReportSchema } from '../status/report.js'

/**
 * The published JSON Schemas, generated from the same zod schemas the loader and reporters use, so
 * they cannot drift. Config and check files get the JSON-expressible part (functions and zod option
 * schemas only exist in TS/JS files).
 */
export function jsonSchemas(): Record<string, object> {
  const gen = (schema: z.ZodType, title: string) => ({
    ...z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }),
    title,
  })
  return {
    'check.schema.json': gen(declarativeCheckFileSchema, 'nbs check file'),
    'config.schema.json': gen(configSchema, 'nbs config (nbs.config.json)'),
    'report.schema.json': { ...z.toJSONSchema(runReportSchema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' }), title: 'nbs JSON report' },
    'build-record.schema.json': { ...z.toJSONSchema(buildRecordSchema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' }), title: 'nbs build record (last-build.json, build-history.json entries)' },
    'status.schema.json': { ...z.toJSONSchema(statusReportSchema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' }), title: 'nbs status --json' },
  }
}
