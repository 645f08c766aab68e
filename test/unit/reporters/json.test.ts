import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { runReportSchema } from '../../../src/report/schema.js'
import { jsonReporter, renderJson } from '../../../src/reporters/json.js'
import { FORBIDDEN_C0 } from '../../helpers/consumers.js'
import { validateJsonReport } from '../../helpers/json-report.js'
import { check, fixtures, fleetFixture, report, type FixtureName } from '../../helpers/report-fixtures.js'

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
    expect(validate({ ...good, schemaVersion: 1 })).toBe(false)
    expect(validate({ ...good, schemaVersion: 3 })).toBe(false)
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

describe('schemaVersion 2: hosts', () => {
  it('the shipped schema (schemas/report.schema.json) accepts every v2 fixture', () => {
    for (const name of names) expect(validateJsonReport(JSON.parse(renderJson(fixtures[name]))), name).toEqual([])
  })

  it('the shipped schema rejects a version 1 report', () => {
    const v2 = JSON.parse(renderJson(fixtures.multi)) as Record<string, unknown> & { phases: { checks: Record<string, unknown>[] }[] }
    // what nbs wrote before fleets: no fleet, no hosts, no host on results
    const { fleet: _f, hosts: _h, ...rest } = v2
    const v1 = { ...rest, schemaVersion: 1, phases: v2.phases.map((p) => ({ ...p, checks: p.checks.map(({ host: _host, ...c }) => c) })) }
    const errors = validateJsonReport(v1)
    expect(errors).toContain('/schemaVersion must be equal to constant')
    expect(errors).toContain(" must have required property 'hosts'")
    expect(errors).toContain("/phases/0/checks/0 must have required property 'host'")
  })

  it('a fleet report carries the host on every result and one summary per host', () => {
    const parsed = JSON.parse(renderJson(fleetFixture)) as typeof fleetFixture
    expect(validateJsonReport(parsed)).toEqual([])
    expect(parsed).toMatchObject({ schemaVersion: 2, fleet: true, host: 'web*,db1' })
    const results = parsed.phases.flatMap((p) => p.checks)
    expect(results.map((r) => `${r.host} ${r.id}`).filter((x) => x.endsWith(' failed-units'))).toEqual(['web1 failed-units', 'web2 failed-units', 'db1 failed-units'])
    expect(parsed.hosts.map((h) => [h.name, h.status, h.summary.passed, h.summary.failed, h.summary.errored, h.summary.skipped, h.summary.unreachable])).toEqual([
      ['web1', 'passed', 5, 0, 0, 0, 0],
      ['web2', 'failed', 4, 1, 0, 0, 0],
      ['db1', 'failed', 2, 0, 1, 2, 2],
    ])
    expect(parsed.hosts[2]).toMatchObject({ target: 'ssh root@10.0.0.7:2222', reachable: 'no', unreachableReason: 'ssh: connect to host 10.0.0.7 port 2222: Connection refused' })
    expect(parsed.hosts[0]!.slowest).toEqual({ id: 'toplevel', durationMs: 41_234 })
    expect(parsed.summary).toMatchObject({ total: 15, failed: 1, errored: 1, skipped: 2, unreachable: 2 })
  })

  it('a single-host report lists its one host', () => {
    const parsed = JSON.parse(renderJson(fixtures.failed)) as typeof fixtures.failed
    expect(parsed.fleet).toBe(false)
    expect(parsed.hosts).toEqual([expect.objectContaining({ name: 'testhost', target: 'this machine', status: 'failed' })])
    expect(parsed.phases[0]!.checks[0]!.host).toBe('testhost')
  })
})
