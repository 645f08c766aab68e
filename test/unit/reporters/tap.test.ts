import { describe, expect, it } from 'vitest'
import { failsRun } from '../../../src/report/summary.js'
import type { RunReport } from '../../../src/report/types.js'
import { checkLabel, renderTap, tapEscape, tapReporter, tap14Reporter } from '../../../src/reporters/tap.js'
import { proveParse, proveRun, tapErrors, tapParse } from '../../helpers/consumers.js'
import { check, fixtures, report, type FixtureName } from '../../helpers/report-fixtures.js'

/** What every TAP consumer must count for a report. */
function expected(r: RunReport) {
  const checks = r.phases.flatMap((p) => p.checks)
  const bad = (c: (typeof checks)[number]) => c.status === 'failed' || c.status === 'errored'
  return {
    checks,
    total: checks.length,
    fail: checks.filter((c) => failsRun(c, r.failOn)).length,
    todo: checks.filter((c) => bad(c) && !failsRun(c, r.failOn)).length,
    skip: checks.filter((c) => c.status === 'skipped').length,
  }
}

const names = Object.keys(fixtures) as FixtureName[]
const docs = names.map((n) => renderTap(fixtures[n], { version: 13 }))
const proved = proveParse(docs)

describe('renderTap with prove (TAP::Parser 3.44)', () => {
  names.forEach((name, i) => {
    it(`${name}: no parse errors, right counts and descriptions`, () => {
      const p = proved[i]!
      const e = expected(fixtures[name])
      expect(p.parse_errors).toEqual([])
      expect(p.version).toBe(13)
      expect(p.tests_run).toBe(e.total)
      expect(p.failed).toBe(e.fail)
      expect(p.todo).toBe(e.todo)
      expect(p.skipped).toBe(e.skip)
      expect(p.plan).toBe(`1..${e.total}`)
      expect(p.tests.map((t) => t.description)).toEqual(e.checks.map((c) => `- ${tapEscape(checkLabel(c))}`))
      expect(p.unknown).toEqual([])
    })
  })

  it('harness verdicts: PASS, FAIL, NOTESTS; a tolerated warning does not fail', () => {
    expect(proveRun(renderTap(fixtures.passed, { version: 13 }))).toMatchObject({ status: 0 })
    expect(proveRun(renderTap(fixtures.warning, { version: 13 })).output).toContain('Result: PASS')
    expect(proveRun(renderTap(fixtures.failed, { version: 13 })).output).toContain('Result: FAIL')
    expect(proveRun(renderTap(fixtures.warningFailOnWarning, { version: 13 })).output).toContain('Result: FAIL')
    const zero = proveRun(renderTap(fixtures.zero, { version: 13 }))
    expect(zero).toMatchObject({ status: 0 })
    expect(zero.output).toContain('Result: NOTESTS')
  })

  it('reads the YAML diagnostics', () => {
    const p = proved[names.indexOf('failed')]!
    const yaml = p.tests[0]!.yaml as Record<string, unknown>
    expect(yaml).toMatchObject({ message: 'attribute "foo" missing\nat /etc/nixos/flake.nix:12', status: 'failed', kind: 'CheckFailed', severity: 'error', phase: 'eval', id: 'flake-eval' })
    expect(yaml.details).toMatchObject({ file: '/etc/nixos/flake.nix', assertions: [{ name: 'a' }], tags: ['x', 'y'] })
    expect(yaml.stderr).toBe('error: attribute missing\n')
  })

  it('documents that prove 3.44 rejects TAP version 14', () => {
    const [p] = proveParse([renderTap(fixtures.passed, { version: 14 })])
    expect(p!.parse_errors.join('\n')).toMatch(/version 14/)
  })
})

describe('renderTap with tap-parser', () => {
  for (const strict of [false, true]) {
    names.forEach((name) => {
      it(`${name} (strict: ${strict}): no tapErrors, statuses and names round-trip`, async () => {
        for (const version of [13, 14] as const) {
          const r = fixtures[name]
          const e = expected(r)
          const { results, final, extra } = await tapParse(renderTap(r, { version }), strict)
          expect(tapErrors(final)).toEqual([])
          expect(extra).toEqual([])
          expect(final.count).toBe(e.total)
          // tap-parser's `fail` counts every not ok; `failures` only those that are not TODO
          expect(final.fail).toBe(e.fail + e.todo)
          expect(final.failures.length).toBe(e.fail)
          expect(final.todo).toBe(e.todo)
          expect(final.skip).toBe(e.total === 0 ? 0 : e.skip)
          expect(final.ok).toBe(e.fail === 0)
          expect(results.map((x) => x.name)).toEqual(e.checks.map((c) => checkLabel(c)))
          e.checks.forEach((c, i) => {
            const x = results[i]!
            expect(x.ok).toBe(c.status === 'passed' || c.status === 'skipped')
            expect(Boolean(x.skip)).toBe(c.status === 'skipped')
            if (c.status === 'failed' || c.status === 'errored') {
              expect(x.diag).toMatchObject({ status: c.status, id: c.id })
              expect(x.time).toBe(c.durationMs) // tap-parser consumes YAML duration_ms
              if (c.details !== undefined) expect(x.diag.details).toEqual(c.details)
              if (c.message !== undefined) expect(x.diag.message).toBe(c.message)
            }
          })
        }
      })
    })
  }

  it('marks a whole empty run as skipped', async () => {
    const { final } = await tapParse(renderTap(fixtures.zero, { version: 13 }))
    expect(final.plan).toMatchObject({ start: 1, end: 0, skipAll: true, skipReason: 'SKIP no checks selected' })
  })
})

describe('renderTap output shape', () => {
  it('writes version, plan first and sequential points', () => {
    const tap = renderTap(fixtures.multi, { version: 13 })
    const lines = tap.split('\n')
    expect(lines.slice(0, 2)).toEqual(['TAP version 13', '1..7'])
    expect(lines.filter((l) => /^(not )?ok /.test(l)).map((l) => Number(/ok (\d+)/.exec(l)![1]))).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(tap).toContain('ok 5 - closure-size - Title of closure-size # SKIP no baseline')
    expect(tap).toContain('not ok 7 - deadnix - Title of deadnix # TODO warning: unused')
    expect(tap).not.toMatch(/# time=/)
    expect(tap.endsWith('\n')).toBe(true)
  })

  it('writes 1..0 # SKIP when nothing was selected', () => {
    expect(renderTap(fixtures.zero, { version: 13 })).toBe('TAP version 13\n1..0 # SKIP no checks selected\n')
    expect(renderTap(fixtures.emptyPhases, { version: 14 })).toBe('TAP version 14\n1..0 # SKIP no checks selected\n')
  })

  it('notes an interruption as a comment, never as Bail out!', () => {
    const tap = renderTap(fixtures.interrupted, { version: 13 })
    expect(tap).toContain('\n# interrupted by SIGINT\n')
    expect(tap).not.toMatch(/bail out/i)
  })

  it('keeps YAML in the YAMLish/YAML 1.2 subset', () => {
    const lines = renderTap(fixtures.multi, { version: 13 }).split('\n')
    const start = lines.indexOf('  ---')
    const block = lines.slice(start, lines.indexOf('  ...', start) + 1)
    const scalar = String.raw`(?:"(?:[^"\\]|\\[\\"nt])*"|~|true|false|-?\d[\d.e+-]*)`
    const line = new RegExp(String.raw`^  (?:---|\.\.\.|(?:  )*(?:- )?[A-Za-z_][A-Za-z0-9_]*:(?: ${scalar})?|(?:  )*- ${scalar})$`)
    expect(block.length).toBeGreaterThan(5)
    for (const l of block) expect(l).toMatch(line)
  })

  it('escapes # and \\ and neutralises a trailing {', async () => {
    const r = report({ eval: [check({ id: 'a#b', title: 'c\\d # TODO {', status: 'failed', message: 'x#y' })] })
    const tap = renderTap(r, { version: 13 })
    expect(tap).toContain('not ok 1 - a\\#b - c\\\\d \\# TODO \uFF5B\n')
    const [p] = proveParse([tap])
    expect(p!.parse_errors).toEqual([])
    expect(p!.failed).toBe(1)
    expect(p!.todo).toBe(0)
    const { results } = await tapParse(tap, true)
    expect(results[0]).toMatchObject({ name: 'a#b - c\\d # TODO \uFF5B', ok: false, todo: false })
  })

  it('falls back to one JSON string for details YAMLish cannot express', async () => {
    const details = { 'a key': 1, empty: [], list: [[1, 2]], true: 'x' }
    const tap = renderTap(report({ eval: [check({ id: 'x', status: 'failed', details })] }), { version: 13 })
    const { results } = await tapParse(tap, true)
    expect(results[0]!.diag.details).toBe(JSON.stringify(details))
    expect(proveParse([tap])[0]!.tests[0]!.yaml!.details).toBe(JSON.stringify(details))
  })

  it('caps YAML strings below the YAMLish regex limit and survives U+2028', async () => {
    // Perl's reader dies past 65,534 repetitions of `(?:\\.|[^"])` in a quoted string
    const huge = `${'x'.repeat(1_000_000)}\u2028`
    const big = check({ id: huge, title: huge, source: huge, status: 'failed', message: huge, stdout: { text: huge, bytes: 1, truncated: false } })
    const r = report({ [huge]: [big] })
    const tap = renderTap(r, { version: 13 })
    const [p] = proveParse([tap])
    expect(p!.parse_errors).toEqual([])
    expect(p!.unknown).toEqual([])
    for (const key of ['message', 'id', 'phase', 'source']) {
      expect(String(p!.tests[0]!.yaml![key])).toMatch(/^x+…\[truncated \d+ bytes\]…x+\n$/)
    }
    const { results, extra } = await tapParse(tap, true)
    expect(extra).toEqual([])
    expect(results[0]!.diag.stdout).toMatch(/^x+…\[truncated \d+ bytes\]…x+\n$/)
  })

  it('reporters stream: plan at the start, one test point per check in completion order', () => {
    const report = fixtures.multi
    const results = report.phases.flatMap((p) => p.checks)
    for (const [factory, version] of [[tapReporter, 13], [tap14Reporter, 14]] as const) {
      const chunks: string[] = []
      const sink = { isTTY: false, color: false, columns: 80, write: (c: string) => void chunks.push(c) }
      const r = factory({ sink })
      void r.onRunStart?.({ startedAt: report.startedAt, host: report.host, failOn: report.failOn, total: results.length, phases: [] })
      expect(chunks.join('')).toBe(`TAP version ${version}\n1..${results.length}\n`)
      // same order as the report: the streamed document equals the rendered one
      for (const result of results) void r.onCheckEnd?.(result)
      void r.onRunEnd?.(report)
      expect(chunks.join('')).toBe(renderTap(report, { version }))
    }
    const reversed: string[] = []
    const r = tapReporter({ sink: { isTTY: false, color: false, columns: 80, write: (c: string) => void reversed.push(c) } })
    void r.onRunStart?.({ startedAt: report.startedAt, host: report.host, failOn: report.failOn, total: results.length, phases: [] })
    for (const result of [...results].reverse()) void r.onCheckEnd?.(result)
    void r.onRunEnd?.(report)
    const [parsed] = proveParse([reversed.join('')])
    expect(parsed!.parse_errors).toEqual([])
    expect(parsed!.tests.map((t) => t.number)).toEqual(results.map((_, i) => i + 1))
    expect(parsed!.tests.map((t) => t.description.replace(/^- /, '').split(' ')[0])).toEqual([...results].reverse().map((c) => c.id))
    expect(parsed!.failed).toBe(2)
  })
})
