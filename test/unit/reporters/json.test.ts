import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { runReportSchema } from '../../../src/report/schema.js'
import { jsonReporter, renderJson } from '../../../src/reporters/json.js'
import { FORBIDDEN_C0 } from '../../helpers/consumers.js'
import { check, fixtures, report, type FixtureName } from '../../helpers/report-fixtures.js'

const jsonSchema = z.toJSONSchema(runReportSchema, { target: 'draft-2020-12' })
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(jsonSchema)
const names = Object.keys(fixtures) as FixtureName[]

describe('JSON Schema generated from runReportSchema', () => {
  it('is draft 2020-12, strict about report keys and open for details', () => {
    expect(jsonSchema.$schema).toBe('https://json-schema.org/draft/2020-12/schema')
    expect(jsonSchema).toMatchObject({ type: 'object', additionalProperties: false })
    expect(JSON.stringify(jsonSchema)).toContain('structured facts')
  })

  it('rejects reports that do not match', () => {
    const good = JSON.parse(renderJson(fixtures.multi)) as Record<string, unknown>
    expect(validate(good)).toBe(true)
    expect(validate({ ...good, status: 'bogus' })).toBe(false)
    expect(validate({ ...good, schemaVersion: 2 })).toBe(false)
    expect(validate({ ...good, extra: 1 })).toBe(false)
    const { summary: _omit, ...noSummary } = good
    expect(validate(noSummary)).toBe(false)
  })
})

describe('renderJson', () => {
  names.forEach((name) => {
    it(`${name}: valid against the schema and lossless`, () => {
      const text = renderJson(fixtures[name])
      const parsed: unknown = JSON.parse(text)
      expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true)
      expect(runReportSchema.parse(parsed)).toEqual(fixtures[name])
      expect(parsed).toEqual(fixtures[name])
    })
  })

  it('is 2-space indented and newline-terminated', () => {
    const text = renderJson(fixtures.passed)
    expect(text).toBe(`${JSON.stringify(fixtures.passed, null, 2)}\n`)
  })

  it('sanitises strings but does not truncate, and keeps numbers finite', () => {
    const big = `\x1b[31m${'y'.repeat(1024 * 1024)}\uD800\x00\r\n`
    const r = report({
      'e\uDC00': [
        check({
          id: 'x\uD800',
          status: 'failed',
          durationMs: Number.NaN,
          details: { ratio: Number.POSITIVE_INFINITY, 'k\x07': ['\uFFFE', 1n], when: new Date(0), __proto__x: 1 },
          stdout: { text: big, bytes: big.length, truncated: false },
        }),
      ],
    }, { overrides: { durationMs: Number.POSITIVE_INFINITY } })
    const text = renderJson(r)
    expect(text).not.toMatch(FORBIDDEN_C0)
    expect(text).not.toMatch(/\\u[dD][89a-fA-F]/) // no escaped lone surrogates
    const parsed = JSON.parse(text) as typeof r
    expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true)
    const c = parsed.phases[0]!.checks[0]!
    expect(parsed.phases[0]!.name).toBe('e\uFFFD')
    expect(c.id).toBe('x\uFFFD')
    expect(c.durationMs).toBe(0)
    expect(parsed.durationMs).toBe(0)
    expect(c.details).toEqual({ ratio: null, 'k␇': ['\uFFFD', '1'], when: '1970-01-01T00:00:00.000Z', __proto__x: 1 })
    expect(c.stdout!.text).toBe(`${'y'.repeat(1024 * 1024)}\uFFFD␀\n`)
  })

  it('keeps a __proto__ key as data and cuts cycles', () => {
    const details = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>
    details.self = details
    const parsed = JSON.parse(renderJson(report({ eval: [check({ id: 'p', status: 'failed', details })] }))) as typeof fixtures.passed
    const d = parsed.phases[0]!.checks[0]!.details as Record<string, unknown>
    expect(Object.keys(d)).toEqual(['__proto__', 'a', 'self'])
    expect(d.self).toBe('[Circular]')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('reporter writes the document on run end', () => {
    const chunks: string[] = []
    void jsonReporter({ sink: { isTTY: false, color: false, columns: 80, write: (c) => void chunks.push(c) } }).onRunEnd?.(fixtures.failed)
    expect(chunks).toEqual([renderJson(fixtures.failed)])
  })
})
