/**
 * Property test: hostile names, messages, details and output (report-formats.md §7) through all
 * three formats, checked by the real consumers (prove's TAP::Parser, tap-parser, xmllint + both XSDs, ajv).
 */
import { Ajv2020 } from 'ajv/dist/2020.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { failsRun, hostSummary } from '../../../src/report/summary.js'
import { runReportSchema } from '../../../src/report/schema.js'
import type { CheckResult, RunReport } from '../../../src/report/types.js'
import { JUNIT_MAX_BYTES, renderJunit } from '../../../src/reporters/junit.js'
import { renderJson } from '../../../src/reporters/json.js'
import { resultsInOrder } from '../../../src/reporters/fleet.js'
import { sanitizeText, truncateMiddle } from '../../../src/reporters/sanitize.js'
import { TAP_TEXT_CAP, checkLabel, renderTap, tapEscape } from '../../../src/reporters/tap.js'
import { FORBIDDEN_C0, XSDS, proveParse, tapErrors, tapParse, tempFile, xmllintValidate } from '../../helpers/consumers.js'
import { check, report } from '../../helpers/report-fixtures.js'

const CORPUS = [
  'plain', '\x1b[31mred\x1b[0m', '\x1b]8;;http://x\x07link', '\x07', '\x00', '\x1b', ']]>', '<tag attr="x">', '&amp;',
  '<&"', '&#x1;', '\uD800', '\uDC00', '😀', '\n', '\r\n', '\r', '\t', '  ', '#', '\\', '\\#', '\\\\#', '\uFFFE',
  '\uFFFF', '\uFFFD', '\uFEFF', '\u0085', '\u009B', '\x7f', '{', '"', "'", '\u202E', '\u200D', '\u2028', '\u2029',
  ' ', '', 'Bail out!', 'not ok 1', '1..0', 'TAP version 13', '# Subtest: x', '  ---', '  ...', '...', '---',
  '[[ATTACHMENT|/etc/shadow]]', '::add-mask::x', '# TODO', ' # SKIP', 'ok 1 - x {', '\\x41', '\\u0041', ': ',
  '- ', '~', 'null', 'true', '1e5', '0x1F', '!!binary', '&anchor', '*alias', '%YAML', "'q'", 'a.b.c', '42',
]
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CORPUS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
)
const hostile = fc.array(piece, { maxLength: 6 }).map((a) => a.join(''))
// One long line (~1 MB) full of XML/TAP metacharacters, control and ANSI sequences, lone surrogates.
const MEGA = `${'ab<&"\x1b[1m\x00#\\]]>\uD800 '.repeat(80_000)}{`
const text = fc.oneof({ weight: 12, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant(MEGA) })

const key = fc.oneof(fc.constantFrom('a', 'b_c', 'message', 'true', 'Yes', 'x1', '__proto__'), hostile)
const { details } = fc.letrec((tie) => ({
  details: fc.oneof(
    { depthSize: 'small' },
    hostile, fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
    fc.array(tie('details'), { maxLength: 4 }),
    fc.dictionary(key, tie('details'), { maxKeys: 4 }),
  ),
}))

const captured = text.map((t) => ({ text: t, bytes: t.length, truncated: false }))
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })
const checkArb: fc.Arbitrary<CheckResult> = fc
  .record({
    id: text, title: text, host: fc.oneof(fc.constantFrom('web1', 'db.example.com'), hostile),
    status: fc.constantFrom('passed', 'failed', 'errored', 'skipped' as const),
    severity: fc.constantFrom('error', 'warning' as const),
    kind: opt(fc.constantFrom('CheckFailed', 'Timeout', 'CommandNotFound', 'Exception', 'Interrupted' as const)),
    message: opt(text), details: opt(details), stdout: opt(captured), stderr: opt(captured),
    durationMs: fc.oneof(fc.double({ min: 0, max: 1e7, noNaN: true }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -5, 1e300)),
  })
  .map((o) => check(o))
const reportArb: fc.Arbitrary<RunReport> = fc
  .record({
    phases: fc.array(fc.record({ name: text, checks: fc.array(checkArb, { maxLength: 4 }) }), { maxLength: 3 }),
    failOn: fc.constantFrom('error', 'warning' as const),
    interrupted: opt(fc.constantFrom('SIGINT', 'SIGTERM' as const)),
    host: text, flake: opt(hostile), version: hostile, fleet: fc.boolean(),
  })
  .map(({ phases, failOn, interrupted, host, flake, version, fleet }) => {
    // a fleet run lists the hosts its results name (hostile names too)
    const all = phases.flatMap((p) => p.checks)
    const hosts = [...new Set(all.map((c) => c.host))].map((name) => hostSummary({ name, target: `ssh root@${name}` }, all, failOn, interrupted !== undefined))
    const fleetOverrides = fleet ? { fleet, hosts } : {}
    return report(phases, { failOn, ...(interrupted ? { interrupted } : {}), overrides: { host, flake, tool: { name: 'nbs', version }, ...fleetOverrides } })
  })

const validate = new Ajv2020({ strict: false }).compile(z.toJSONSchema(runReportSchema, { target: 'draft-2020-12' }))
const tapMessage = (m: string) => truncateMiddle(sanitizeText(m), TAP_TEXT_CAP).replace(/[\u2028\u2029]/g, '\n')

function expectClean(out: string) {
  expect(out).not.toMatch(FORBIDDEN_C0)
  expect((out as unknown as { isWellFormed(): boolean }).isWellFormed()).toBe(true)
}

async function checkTap(r: RunReport) {
  const checks = resultsInOrder(r).map((x) => x.check)
  const fail = checks.filter((c) => failsRun(c, r.failOn)).length
  const todo = checks.filter((c) => (c.status === 'failed' || c.status === 'errored') && !failsRun(c, r.failOn)).length
  const skip = checks.filter((c) => c.status === 'skipped').length
  // an interrupted run ends in `Bail out!`, or is one failed point when no check ran
  const interrupted = r.status === 'interrupted'
  const extraPoint = interrupted && checks.length === 0 ? 1 : 0
  const bailout = interrupted && checks.length > 0 ? `interrupted by ${r.interrupted?.signal ?? 'SIGINT'}` : false
  const tap = renderTap(r, { version: 13 })
  expectClean(tap)

  const [p] = proveParse([tap])
  expect(p!.parse_errors).toEqual([])
  expect(p!.unknown).toEqual([])
  expect([p!.tests_run, p!.failed, p!.todo, p!.skipped]).toEqual([checks.length + extraPoint, fail + extraPoint, todo, skip])
  expect(p!.tests.slice(0, checks.length).map((t) => t.description)).toEqual(checks.map((c) => `- ${tapEscape(checkLabel(c, r.fleet))}`))
  for (const t of p!.tests) expect(t.description).not.toContain('#')
  checks.forEach((c, i) => {
    if (c.message !== undefined && p!.tests[i]!.yaml) expect(p!.tests[i]!.yaml!.message).toBe(tapMessage(c.message))
  })

  for (const [doc, strict] of [[tap, false], [tap, true], [renderTap(r, { version: 14 }), true]] as const) {
    const { results, final, extra } = await tapParse(doc, strict)
    expect(tapErrors(final)).toEqual([])
    expect(extra).toEqual([])
    expect([final.count, final.failures.length, final.todo, final.bailout]).toEqual([checks.length + extraPoint, fail + extraPoint, todo, bailout])
    expect(final.ok).toBe(!interrupted && fail === 0)
    expect(results.slice(0, checks.length).map((x) => x.name)).toEqual(checks.map((c) => checkLabel(c, r.fleet)))
    checks.forEach((c, i) => {
      const diag = results[i]!.diag as Record<string, unknown> | null
      if (c.message !== undefined && diag) expect(diag.message).toBe(tapMessage(c.message))
      if (c.status === 'failed' || c.status === 'errored') expect(diag).toMatchObject({ status: c.status })
    })
  }
}

function checkJunit(r: RunReport) {
  const xml = renderJunit(r)
  expectClean(xml)
  expect(xml).not.toContain('<![CDATA[')
  expect(Buffer.byteLength(xml)).toBeLessThanOrEqual(JUNIT_MAX_BYTES)
  const n = r.phases.reduce((t, p) => t + p.checks.length, 0)
  // plus the run-level case: `run interrupted by …`, or the placeholder of a run without checks
  expect(xml.split('<testcase ').length - 1).toBe(n + (r.status === 'interrupted' || n === 0 ? 1 : 0))
  const file = tempFile(xml, 'xml')
  for (const xsd of [XSDS.ant, XSDS.jenkins]) {
    const { status, stderr } = xmllintValidate([file], xsd)
    expect(status, stderr).toBe(0)
  }
}

function checkJson(r: RunReport) {
  const json = renderJson(r)
  expectClean(json)
  const parsed: unknown = JSON.parse(json)
  expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true)
  expect(runReportSchema.safeParse(parsed).success).toBe(true)
}

const runs = Number(process.env.NBS_FC_RUNS ?? 30) // raise locally to hunt for bugs

describe('hostile input through every format', () => {
  it('stays valid for prove, tap-parser, xmllint (both XSDs) and ajv', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, async (r) => {
        await checkTap(r)
        checkJunit(r)
        checkJson(r)
      }),
      { numRuns: runs },
    )
  }, Math.max(120_000, runs * 2_000))
})
