import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Ajv2020 from 'ajv/dist/2020.js'
import { REPO_ROOT } from './project.js'

/** Validates a JSON report against the schema shipped in schemas/ (what users validate with). */
export function validateJsonReport(report: unknown): string[] {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'schemas/report.schema.json'), 'utf8'))
  const ajv = new Ajv2020.default({ allErrors: true, strict: false })
  const validate = ajv.compile(schema)
  return validate(report) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`)
}
