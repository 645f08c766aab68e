import { describe, expect, it } from 'vitest'
import { failsRun } from '../../../src/report/summary.js'
import type { RunReport } from '../../../src/report/types.js'
import { resultsInOrder } from '../../../src/reporters/fleet.js'
import { checkLabel, renderTap, tapEscape, tapReporter, tap14Reporter } from '../../../src/reporters/tap.js'
import { proveParse, proveRun, tapErrors, tapParse } from '../../helpers/consumers.js'
import { check, fixtures, fleetFixture, report, runStartOf, type FixtureName } from '../../helpers/report-fixtures.js'

/** What every TAP consumer must count for a report. */
function expected(r: RunReport) {
  // a fleet run reads host by host; the label carries the host (asserted literally below)
  const checks = resultsInOrder(r).map((x) => x.check)
  const bad = (c: (typeof checks)[number]) => c.status === 'failed' || c.status === 'errored'
  return {
    checks,
    total: checks.length,
    fail: checks.filter((c) => failsRun(c, r.failOn)).length,
    todo: checks.filter((c) => bad(c) && !failsRun(c, r.failOn)).length,
    skip: checks.filter((c) => c.status === 'skipped').length,
    label: (c: (typeof checks)[number]) => checkLabel(c, r.fleet),
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
      expect(p.tests.map((t) => t.description)).toEqual(e.checks.map((c) => `- ${tapEscape(e.label(c))}`))
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

  it('a listed string holding ": " stays a string for prove and tap-parser (found by the hostile property test)', async () => {
    const r = report([{ name: 'health', checks: [check({ id: 'c', status: 'failed', details: [': ', 'unit: nginx.service', { line: 'a: b' }] })] }])
    const doc = renderTap(r, { version: 13 })
    const [p] = proveParse([doc])
    expect(p!.parse_errors).toEqual([])
    expect(p!.tests[0]!.yaml!.details).toEqual([': ', 'unit: nginx.service', { line: 'a: b' }])
    const { results, final } = await tapParse(doc, true)
    expect(tapErrors(final)).toEqual([])
    expect((results[0]!.diag as { details: unknown }).details).toEqual([': ', 'unit: nginx.service', { line: 'a: b' }])
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
          expect(results.map((x) => x.name)).toEqual(e.checks.map((c) => e.label(c)))
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

  it('ends an interrupted run with Bail out! after the last point, so no harness calls it passed', async () => {
    // every point ok: only the bail-out says the run did not finish (nbs exits 130)
    const r = report({ eval: [check({ id: 'flake-eval' })], build: [check({ id: 'toplevel', status: 'skipped', message: 'interrupted' })] }, { interrupted: 'SIGINT' })
    const tap = renderTap(r, { version: 13 })
    expect(tap.endsWith('ok 2 - toplevel - Title of toplevel # SKIP interrupted\n# interrupted by SIGINT\nBail out! interrupted by SIGINT\n')).toBe(true)
    const [p] = proveParse([tap])
    expect([p!.parse_errors, p!.tests_run, p!.failed]).toEqual([[], 2, 0])
    expect(proveRun(tap).status).not.toBe(0)
    const { final } = await tapParse(tap)
    expect([final.ok, final.bailout, final.count]).toEqual([false, 'interrupted by SIGINT', 2])
  })

  it('an interrupted run without checks is one failed point with the plan last', async () => {
    const r = report({}, { interrupted: 'SIGTERM' })
    expect(renderTap(r, { version: 13 })).toBe('TAP version 13\nnot ok 1 - run interrupted by SIGTERM before any check ran\n1..1\n# interrupted by SIGTERM\n')
    const chunks: string[] = []
    const rep = tapReporter({ sink: { isTTY: false, color: false, columns: 80, write: (c) => void chunks.push(c) } })
    void rep.onRunStart?.(runStartOf(r))
    void rep.onRunEnd?.(r)
    expect(chunks.join('')).toBe(renderTap(r, { version: 13 }))
    const [p] = proveParse([chunks.join('')])
    expect([p!.parse_errors, p!.failed]).toEqual([[], 1])
    expect((await tapParse(chunks.join(''))).final.ok).toBe(false)
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

  it('shows # as ＃ (no TAP consumer reads a directive in it), escapes \\ and neutralises a trailing {', async () => {
    const r = report({ eval: [check({ id: 'a#b', title: 'c\\d # TODO {', status: 'failed', message: 'x#y' })] })
    const tap = renderTap(r, { version: 13 })
    expect(tap).toContain('not ok 1 - a\uFF03b - c\\\\d \uFF03 TODO \uFF5B\n')
    const [p] = proveParse([tap])
    expect(p!.parse_errors).toEqual([])
    expect(p!.failed).toBe(1)
    expect(p!.todo).toBe(0)
    const { results } = await tapParse(tap, true)
    expect(results[0]).toMatchObject({ name: 'a\uFF03b - c\\d \uFF03 TODO \uFF5B', ok: false, todo: false })
    // a reason keeps no # either
    const skipped = renderTap(report({ x: [check({ id: 's', status: 'skipped', message: 'see #12 # TODO' })] }), { version: 13 })
    expect(skipped).toContain('ok 1 - s - Title of s # SKIP see \uFF0312 \uFF03 TODO\n')
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
      void r.onRunStart?.(runStartOf(report))
      expect(chunks.join('')).toBe(`TAP version ${version}\n1..${results.length}\n`)
      // same order as the report: the streamed document equals the rendered one
      for (const result of results) void r.onCheckEnd?.(result)
      void r.onRunEnd?.(report)
      expect(chunks.join('')).toBe(renderTap(report, { version }))
    }
    const reversed: string[] = []
    const r = tapReporter({ sink: { isTTY: false, color: false, columns: 80, write: (c: string) => void reversed.push(c) } })
    void r.onRunStart?.(runStartOf(report))
    for (const result of [...results].reverse()) void r.onCheckEnd?.(result)
    void r.onRunEnd?.(report)
    const [parsed] = proveParse([reversed.join('')])
    expect(parsed!.parse_errors).toEqual([])
    expect(parsed!.tests.map((t) => t.number)).toEqual(results.map((_, i) => i + 1))
    expect(parsed!.tests.map((t) => t.description.replace(/^- /, '').split(' ')[0])).toEqual([...results].reverse().map((c) => c.id))
    expect(parsed!.failed).toBe(2)
  })
})

describe('fleet runs', () => {
  const tap = renderTap(fleetFixture, { version: 13 })
  const points = tap.split('\n').filter((l) => /^(not )?ok /.test(l))

  it('writes one test point per host and check, the host first, numbered across hosts', () => {
    expect(points).toHaveLength(15)
    expect(points.map((l) => Number(/ok (\d+)/.exec(l)![1]))).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
    // host by host in inventory order, although the report interleaves them
    expect(points.slice(0, 5).every((l) => / - web1 /.test(l))).toBe(true)
    expect(points.slice(5, 10).every((l) => / - web2 /.test(l))).toBe(true)
    expect(points.slice(10).every((l) => / - db1 /.test(l))).toBe(true)
    expect(points).toContain('ok 4 - web1 failed-units - no systemd unit has failed')
    expect(points).toContain('not ok 9 - web2 failed-units - no systemd unit has failed')
    expect(points).toContain('not ok 13 - db1 reachable - ssh root@10.0.0.7 answers')
    expect(points).toContain('ok 14 - db1 failed-units - no systemd unit has failed # SKIP host unreachable: ssh: connect to host 10.0.0.7 port 2222: Connection refused')
  })

  it('passes prove and tap-parser with the right counts; the diagnostics name the host', async () => {
    const run = proveRun(tap)
    expect(run.output).toContain('Result: FAIL')
    const [p] = proveParse([tap])
    expect(p!.parse_errors).toEqual([])
    expect(p!.unknown).toEqual([])
    expect([p!.tests_run, p!.failed, p!.skipped]).toEqual([15, 2, 2])
    expect(p!.tests.find((t) => t.description.startsWith('- db1 reachable'))!.yaml).toMatchObject({
      host: 'db1', status: 'errored', id: 'reachable', message: 'ssh: connect to host 10.0.0.7 port 2222: Connection refused',
    })
    const { final } = await tapParse(tap, true)
    expect(tapErrors(final)).toEqual([])
    expect([final.count, final.failures.length, final.skip]).toEqual([15, 2, 2])
  })

  it('an all-passed fleet run passes the harness', () => {
    const web1Only = { ...fleetFixture, status: 'passed' as const, phases: fleetFixture.phases.map((p) => ({ ...p, checks: p.checks.filter((c) => c.host === 'web1') })) }
    expect(proveRun(renderTap(web1Only, { version: 13 }))).toMatchObject({ status: 0 })
  })

  it('streams host-prefixed points in completion order, interleaved across hosts', () => {
    const chunks: string[] = []
    const r = tapReporter({ sink: { isTTY: false, color: false, columns: 80, write: (c: string) => void chunks.push(c) } })
    void r.onRunStart?.(runStartOf(fleetFixture))
    const interleaved = fleetFixture.phases.flatMap((p) => p.checks) // web1, web2, db1, web1, …
    for (const result of interleaved) void r.onCheckEnd?.(result)
    void r.onRunEnd?.(fleetFixture)
    const doc = chunks.join('')
    expect(doc.split('\n').slice(0, 5)).toEqual(['TAP version 13', '1..15', 'ok 1 - web1 flake-eval - Flake evaluates', 'ok 2 - web2 flake-eval - Flake evaluates', 'ok 3 - db1 flake-eval - Flake evaluates'])
    const [p] = proveParse([doc])
    expect(p!.parse_errors).toEqual([])
    expect(p!.tests.map((t) => t.number)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
    expect([p!.failed, p!.skipped]).toEqual([2, 2])
  })

  it('single-host runs keep their descriptions: no host prefix', () => {
    expect(renderTap(fixtures.passed, { version: 13 })).toBe('TAP version 13\n1..1\nok 1 - flake-eval - Flake evaluates\n')
    expect(renderTap(fixtures.failed, { version: 13 })).not.toContain('host:')
  })
})
