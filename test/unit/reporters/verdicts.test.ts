/**
 * Issue 13 point 3: the run's verdict is the same for every consumer and equals nbs's exit code, and
 * every consumer counts the same passed/failed/skipped as nbs's own summary. Consumers: prove (the
 * harness) and Perl's TAP::Parser, npm tap-parser, Python's tappy (Debian python3-tap), xmllint with
 * both XSDs, and the counting rules of dorny, mikepenz, GitLab and EnricoMi over the XML.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { summarize } from '../../../src/report/summary.js'
import type { CheckResult, RunReport } from '../../../src/report/types.js'
import { renderJunit } from '../../../src/reporters/junit.js'
import { renderTap } from '../../../src/reporters/tap.js'
import {
  JUNIT_CONSUMERS,
  XSDS,
  proveParse,
  proveRun,
  proveTally,
  pythonConsumers,
  tapParse,
  tapParserTally,
  tappyTally,
  tempFile,
  xmllintValidate,
  type Tally,
} from '../../helpers/consumers.js'
import { needs, tappyPython } from '../../helpers/real.js'
import { check, fleetReport, report } from '../../helpers/report-fixtures.js'

/** nbs's exit code for a finished report (src/run-checks.ts, no reporter errors). */
const exitCode = (r: RunReport): number =>
  r.status === 'interrupted' ? (r.interrupted?.signal === 'SIGTERM' ? 143 : 130) : r.status === 'failed' ? 1 : 0

/**
 * What every consumer must count, from nbs's own summary: a failed warning the run tolerates is a
 * pass (a TAP TODO, a passed JUnit testcase); with `--fail-on warning` it is a failure. An interrupted
 * run carries one more errored JUnit case (`run interrupted by …`); its TAP ends in `Bail out!`, or is
 * one failed point when no check ran.
 */
function expected(r: RunReport, format: 'tap' | 'junit'): Tally {
  const s = summarize(r.phases.flatMap((p) => p.checks))
  const tolerated = r.failOn === 'warning' ? 0 : s.warnings
  // an interrupted JUnit report always holds it; TAP only when no check ran (otherwise `Bail out!`)
  const interruptCase = r.status === 'interrupted' && (format === 'junit' || s.total === 0) ? 1 : 0
  // a run without checks: the JUnit placeholder is one skipped case
  const placeholder = format === 'junit' && s.total === 0 && r.status !== 'interrupted' ? 1 : 0
  return {
    passed: s.passed + tolerated,
    failed: s.failed + s.errored - tolerated + interruptCase,
    skipped: s.skipped + placeholder,
    ...(format === 'tap' ? { todo: tolerated } : {}),
    verdict: exitCode(r) === 0 ? 'passed' : 'failed',
  }
}

const tapOf = (r: RunReport) => renderTap(r, { version: 13 })

interface Measured {
  prove: Tally
  tapParser: Tally
  tappy: Tally
  junit: Record<string, Tally>
}

/** Every consumer on every report: one perl, one python and one xmllint per XSD for all of them. */
async function measure(reports: RunReport[]): Promise<Measured[]> {
  const taps = reports.map(tapOf)
  const xmls = reports.map(renderJunit)
  for (const xsd of [XSDS.ant, XSDS.jenkins]) {
    const v = xmllintValidate(xmls.map((x) => tempFile(x, 'xml')), xsd)
    expect(v.status, v.stderr).toBe(0)
  }
  const proved = proveParse(taps)
  const py = pythonConsumers(tappyPython()!, { tap: taps, junit: xmls })
  return Promise.all(
    reports.map(async (_r, i) => {
      const junit = py.junit[i]!
      expect(junit.mismatches, 'suite attributes agree with the cases').toEqual([])
      return {
        prove: proveTally(proved[i]!, proveRun(taps[i]!).status),
        tapParser: tapParserTally(await tapParse(taps[i]!)),
        tappy: tappyTally(py.tappy[i]!),
        junit: Object.fromEntries(JUNIT_CONSUMERS.map((c) => [c, { passed: junit[c].passed, failed: junit[c].failed, skipped: junit[c].skipped, verdict: junit[c].verdict }])),
      }
    }),
  )
}

function expectAgreement(r: RunReport, m: Measured, what: string) {
  const tap = expected(r, 'tap')
  expect(m.prove, `${what}: prove`).toEqual(tap)
  expect(m.tapParser, `${what}: tap-parser`).toEqual(tap)
  expect(m.tappy, `${what}: tappy`).toEqual(tap)
  const junit = expected(r, 'junit')
  for (const c of JUNIT_CONSUMERS) expect(m.junit[c], `${what}: ${c}`).toEqual(junit)
}

// --- the issue's fuzz: 150 checks whose titles hold ` # SKIP ` and ` # TODO ` ---

/** A deterministic PRNG (mulberry32): the same 150 checks on every run. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const TRAPS = [' # SKIP ', ' # TODO ', ' # skip it', ' #TODO', ' \\# SKIP ', '\\', '#', ' # SKIP', ' # TODO {', 'Bail out! ', ' ok 3 ', '\\\\# TODO ']

function fuzzedChecks(n: number, seed: number): CheckResult[] {
  const rnd = prng(seed)
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!
  return Array.from({ length: n }, (_, i) => {
    const status = pick(['passed', 'passed', 'failed', 'failed', 'errored', 'skipped'] as const)
    return check({
      id: `c${i}${pick(['', '#1', ' # SKIP x'])}`,
      title: `check ${i}${pick(TRAPS)}${pick(['later', 'not yet', '', 'x # TODO y'])}${pick(TRAPS)}`,
      status,
      severity: rnd() < 0.25 ? 'warning' : 'error',
      message: `${pick(['boom', 'see # TODO', 'a # SKIP b', ''])}${pick(TRAPS)}`,
    })
  })
}

needs('tappy').describe('150 fuzzed checks whose titles hold # SKIP and # TODO', () => {
  const checks = fuzzedChecks(150, 13)
  const runs = {
    'fail on error': report({ health: checks }),
    'fail on warning': report({ health: checks }, { failOn: 'warning' }),
    'without warnings': report({ health: checks.map((c) => ({ ...c, severity: 'error' as const })) }),
  }

  it('prove, tap-parser, tappy and every JUnit consumer count what nbs counts, and call the run what nbs exits with', async () => {
    const reports = Object.values(runs)
    const measured = await measure(reports)
    reports.forEach((r, i) => expectAgreement(r, measured[i]!, Object.keys(runs)[i]!))
    // the fixture really holds every outcome
    const s = runs['fail on error'].summary
    expect([s.passed, s.failed, s.errored, s.skipped, s.warnings].every((n) => n > 5)).toBe(true)
  })

  it('no TAP test point or directive reason holds a #: it is shown as ＃', () => {
    for (const r of Object.values(runs)) {
      const points = tapOf(r).split('\n').filter((l) => /^(?:not )?ok /.test(l))
      expect(points).toHaveLength(150)
      for (const p of points) {
        const directive = /^(?:not )?ok \d+ - [^#]*(?: # (SKIP|TODO) [^#]*)?$/.exec(p)
        expect(directive, p).not.toBeNull()
      }
    }
    expect(tapOf(runs['fail on error'])).toContain('check 0')
    expect(tapOf(report({ x: [check({ id: 'a#b', title: 'see # TODO', status: 'skipped', message: 'why # TODO' })] })))
      .toContain('ok 1 - a＃b - see ＃ TODO # SKIP why ＃ TODO\n')
  })

  it('the old `\\#` escape is why: tappy reads a directive after it and counts a different run', () => {
    const doc = 'TAP version 13\n1..3\nok 1 - a \\# SKIP not really\nnot ok 2 - b \\# TODO not really\nnot ok 3 - c ＃ TODO fine\n'
    const [tappy] = pythonConsumers(tappyPython()!, { tap: [doc], junit: [] }).tappy
    expect(tappyTally(tappy!)).toMatchObject({ passed: 1, failed: 1, skipped: 1, todo: 1, verdict: 'failed' })
    const [prove] = proveParse([doc])
    expect(proveTally(prove!, proveRun(doc).status)).toMatchObject({ passed: 1, failed: 2, skipped: 0, verdict: 'failed' })
  })
})

// --- property: any report, any mode ---

const words = fc.constantFrom('web', 'eval', 'a # SKIP b', ' # TODO ', '#', '\\#', '{', 'Bail out!', 'ok 1', 'naïve ✓', '\x1b[31mred', '', '<&">')
const resultArb = fc.record({
  title: fc.array(words, { maxLength: 3 }).map((w) => w.join(' ')),
  message: fc.array(words, { maxLength: 3 }).map((w) => w.join(' ')),
  status: fc.constantFrom('passed', 'failed', 'errored', 'skipped'),
  severity: fc.constantFrom('error', 'warning'),
  phase: fc.constantFrom('pre-build', 'build', 'health'),
  id: fc.constantFrom('flake-eval', 'toplevel', 'failed-units', 'x # SKIP y', 'dup', 'dup'),
})
const modeArb = fc.record({
  failOn: fc.constantFrom('error', 'warning'),
  interrupted: fc.constantFrom(undefined, undefined, 'SIGINT', 'SIGTERM'),
  hosts: fc.constantFrom(0, 0, 1, 3), // 0: a single-host run; else a fleet of that many hosts
})

type Raw = typeof resultArb extends fc.Arbitrary<infer T> ? T : never
type Mode = typeof modeArb extends fc.Arbitrary<infer T> ? T : never

function build(mode: Mode, raw: Raw[]): RunReport {
  const checks = raw.map((c) => check({ ...c, ...(c.status === 'skipped' && mode.interrupted ? { message: 'interrupted' } : {}) }))
  const opts = { failOn: mode.failOn, ...(mode.interrupted ? { interrupted: mode.interrupted } : {}) }
  if (mode.hosts === 0) {
    const phases: Record<string, CheckResult[]> = {}
    for (const c of checks) (phases[c.phase] ??= []).push(c)
    return report(phases, opts)
  }
  const hosts = Array.from({ length: mode.hosts }, (_, h) => ({
    name: `web${h + 1}`,
    target: `ssh root@10.0.0.${h + 1}`,
    checks: checks.filter((_c, i) => i % mode.hosts === h),
  }))
  return fleetReport('web*', hosts, opts)
}

needs('tappy').describe('generated reports in every mode (fleet, interrupted, --fail-on warning)', () => {
  const samples = fc.sample(fc.tuple(modeArb, fc.array(resultArb, { maxLength: 14 })), { numRuns: 60, seed: 1313 })
  const reports = samples.map(([mode, raw]) => build(mode, raw))

  it('every consumer counts what nbs counts and calls the run what its exit code says; suite counts match the cases', async () => {
    const measured = await measure(reports)
    reports.forEach((r, i) => expectAgreement(r, measured[i]!, `sample ${i} (${r.fleet ? `fleet of ${r.hosts.length}` : 'one host'}, fail on ${r.failOn}, ${r.status})`))
    // the samples cover every mode and verdict
    const kinds = new Set(reports.map((r) => `${r.fleet}:${r.failOn}:${r.status}`))
    expect(kinds.size).toBeGreaterThanOrEqual(8)
  }, 120_000)
})
