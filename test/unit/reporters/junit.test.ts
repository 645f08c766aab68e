import { describe, expect, it } from 'vitest'
import type { RunReport } from '../../../src/report/types.js'
import { failsRun } from '../../../src/report/summary.js'
import { JUNIT_MAX_BYTES, junitReporter, renderJunit } from '../../../src/reporters/junit.js'
import { FORBIDDEN_C0, XSDS, tempFile, xmllintValidate, xpath } from '../../helpers/consumers.js'
import { check, fixtures, fleetFixture, report, type FixtureName } from '../../helpers/report-fixtures.js'

const names = Object.keys(fixtures) as FixtureName[]
const files = Object.fromEntries(names.map((n) => [n, tempFile(renderJunit(fixtures[n]), 'xml')])) as Record<FixtureName, string>

function expectValid(file: string) {
  for (const xsd of [XSDS.ant, XSDS.jenkins]) {
    const { status, stderr } = xmllintValidate([file], xsd)
    expect(stderr).toMatch(/validates/)
    expect(status, stderr).toBe(0)
  }
}

const count = (file: string, expr: string) => Number(xpath(file, `count(${expr})`))
const sum = (file: string, attr: string) => Number(xpath(file, `sum(//testsuite/@${attr})`))

describe('renderJunit with xmllint and both XSDs', () => {
  names.forEach((name) => {
    it(`${name}: valid under Ant and Jenkins xUnit XSDs, counters match the testcases`, () => {
      const file = files[name]
      expectValid(file)
      const r = fixtures[name]
      const checks = r.phases.flatMap((p) => p.checks)
      const n = checks.length
      // a failed warning the run tolerates is a passed testcase: nbs exits 0 for it
      const by = (s: string) => checks.filter((c) => c.status === s && (s === 'skipped' || failsRun(c, r.failOn))).length
      const interrupted = r.status === 'interrupted' ? 1 : 0
      expect(count(file, '//testcase')).toBe(n + (interrupted || n === 0 ? 1 : 0))
      expect(count(file, '//testcase/failure')).toBe(by('failed'))
      expect(count(file, '//testcase/error')).toBe(by('errored') + interrupted)
      expect(count(file, '//testcase/skipped')).toBe(n === 0 && !interrupted ? 1 : by('skipped'))
      expect(sum(file, 'tests')).toBe(count(file, '//testcase'))
      expect(sum(file, 'failures')).toBe(count(file, '//testcase/failure'))
      expect(sum(file, 'errors')).toBe(count(file, '//testcase/error'))
      expect(sum(file, 'skipped')).toBe(count(file, '//testcase/skipped'))
      expect(count(file, '/testsuites/@*')).toBe(0)
    })
  })
})

describe('renderJunit content', () => {
  it('writes one suite per non-empty phase with ids, package, host and UTC timestamp', () => {
    const f = files.multi
    expect(xpath(f, 'string(//testsuite[1]/@name)')).toBe('eval')
    expect(count(f, '//testsuite')).toBe(3)
    expect(xpath(f, 'string(//testsuite[3]/@id)')).toBe('2')
    expect(xpath(f, 'string(//testsuite[2]/@package)')).toBe('nbs')
    expect(xpath(f, 'string(//testsuite[1]/@hostname)')).toBe('testhost')
    expect(xpath(f, 'string(//testsuite[1]/@timestamp)')).toBe('2025-01-02T03:04:05')
    expect(xpath(f, 'string(//testsuite[2]/testcase[1]/@classname)')).toBe('nbs.build')
    expect(xpath(f, 'string(//testsuite[2]/testcase[1]/@time)')).toBe('61.235')
    expect(xpath(f, 'string(//testsuite[2]/@time)')).toBe('61.272')
    expect(xpath(f, 'string(//property[@name="nbs.version"]/@value)')).toBe('0.1.0')
  })

  it('de-duplicates testcase names', () => {
    expect(xpath(files.multi, 'string(//testsuite[2]/testcase[2]/@name)')).toBe('toplevel: Title of toplevel [2]')
  })

  it('puts message, details and output in the failure body, type from kind', () => {
    const f = files.failed
    expect(xpath(f, 'string(//failure/@type)')).toBe('CheckFailed')
    expect(xpath(f, 'string(//failure/@message)')).toBe('attribute "foo" missing')
    const body = xpath(f, 'string(//failure)')
    expect(body).toContain('at /etc/nixos/flake.nix:12')
    expect(body).toContain('"line": 12')
    expect(body).toContain('error: attribute missing')
    expect(xpath(files.errored, 'string(//error/@type)')).toBe('Timeout')
  })

  it('a tolerated failed warning is a passed testcase, shown in the suite\'s system-out and the properties', () => {
    const f = files.warning
    expect(count(f, '//failure|//error')).toBe(0)
    expect(count(f, '//testcase[not(*)][@name="deadnix: Title of deadnix"]')).toBe(1)
    expect(xpath(f, 'string(//testsuite/@failures)')).toBe('0')
    expect(xpath(f, 'string(//property[@name="nbs.warnings"]/@value)')).toBe('1')
    expect(xpath(f, 'string(//property[@name="nbs.fail-on"]/@value)')).toBe('error')
    expect(xpath(f, 'string(//testsuite/system-out)')).toBe(
      'warning failed (not counted: --fail-on warning would fail the run): deadnix: Title of deadnix: 3 unused bindings\n  3 unused bindings')
    // an errored warning too: no <error>, one line in system-out
    const errored = tempFile(renderJunit(report({ lint: [check({ id: 'w', severity: 'warning', status: 'errored', kind: 'Timeout', message: 'timed out' })] })), 'xml')
    expectValid(errored)
    expect(count(errored, '//failure|//error')).toBe(0)
    expect(xpath(errored, 'string(//testsuite/system-out)')).toMatch(/^warning errored \(not counted: .*\): w: Title of w: timed out\n  timed out\n  kind: Timeout$/)
  })

  it('with --fail-on warning a failed warning is a <failure> typed by its kind, as any failure', () => {
    const f = files.warningFailOnWarning
    expect(xpath(f, 'string(//failure/@type)')).toBe('CheckFailed')
    expect(xpath(f, 'string(//testsuite/@failures)')).toBe('1')
    expect(xpath(f, 'string(//testsuite/system-out)')).toBe('')
    expect(xpath(f, 'string(//property[@name="nbs.fail-on"]/@value)')).toBe('warning')
  })

  it('an interrupted run holds one errored case, so no consumer reads it as passed (nbs exits 130/143)', () => {
    const allPassed = report({ eval: [check({ id: 'flake-eval' })], build: [check({ id: 'toplevel', status: 'skipped', message: 'interrupted' })] }, { interrupted: 'SIGTERM' })
    const f = tempFile(renderJunit(allPassed), 'xml')
    expectValid(f)
    expect(xpath(f, 'string(//testsuite[last()]/@name)')).toBe('nbs')
    expect(xpath(f, 'string(//testsuite[last()]/@errors)')).toBe('1')
    expect(xpath(f, 'string(//testcase[error]/@name)')).toBe('run interrupted by SIGTERM')
    expect(xpath(f, 'string(//error/@type)')).toBe('Interrupted')
    expect(xpath(f, 'string(//error)')).toBe('nbs was stopped by SIGTERM before every check had finished (1 not run); it exits 143')
    // without checks: the interrupt replaces the placeholder
    const empty = tempFile(renderJunit(report({}, { interrupted: 'SIGINT' })), 'xml')
    expectValid(empty)
    expect(xpath(empty, '//testcase/@name')).toBe(' name="run interrupted by SIGINT"')
  })

  it('marks an interrupted run and emits a placeholder for zero checks', () => {
    expect(xpath(files.interrupted, 'string(//testsuite[1]/properties/property[@name="nbs.interrupted"]/@value)')).toBe('true')
    for (const f of [files.zero, files.emptyPhases]) {
      expect(count(f, '//testsuite')).toBe(1)
      expect(xpath(f, 'string(//testcase/@name)')).toBe('no checks selected')
      expect(count(f, '//testcase/skipped')).toBe(1)
    }
  })

  it('sanitises hostile text and neutralises attachment markers', () => {
    const r = report({
      'ph\nase': [
        check({ id: '', title: '', status: 'failed', message: '\x1b[31mboom\x1b[0m <&"> ]]>\x00', stdout: { text: '[[ATTACHMENT|/etc/shadow]]\r\n\uFFFE\uD800', bytes: 30, truncated: false } }),
      ],
    }, { overrides: { host: ' ' } })
    const xml = renderJunit(r)
    expect(xml).not.toMatch(FORBIDDEN_C0)
    expect(xml).not.toContain('<![CDATA[')
    expect(xml).not.toContain('[[ATTACHMENT|')
    const f = tempFile(xml, 'xml')
    expectValid(f)
    expect(xpath(f, 'string(//failure/@message)')).toBe('boom <&"> ]]>␀')
    expect(xpath(f, 'string(//testcase/@name)')).toBe('(unnamed check)')
    expect(xpath(f, 'string(//testsuite/@hostname)')).toBe('localhost')
  })

  it('stays under 10 MB with huge output and many checks', () => {
    const huge = 'x'.repeat(20 * 1024 * 1024)
    const [title, message, stderr] = ['&'.repeat(2000), '<'.repeat(5000), '&'.repeat(64 * 1024)] // shared: keep memory low
    const many: RunReport = report({
      big: [check({ id: 'huge', status: 'failed', message: huge, stdout: { text: huge, bytes: huge.length, truncated: false } })],
      // escaping makes these 5x larger: forces the compact second rendering
      lots: Array.from({ length: 2000 }, (_, i) =>
        check({ id: `c${i}`, title, status: 'failed', message, stderr: { text: stderr, bytes: 65536, truncated: false } })),
    })
    const xml = renderJunit(many)
    expect(Buffer.byteLength(xml)).toBeLessThanOrEqual(JUNIT_MAX_BYTES)
    const file = tempFile(xml, 'xml')
    expectValid(file)
    expect(count(file, '//testcase')).toBe(2001)
    // the compact rendering: short names, statuses kept, no bodies
    expect(xpath(file, 'string(//testsuite[2]/testcase[1]/failure/@type)')).toBe('CheckFailed')
    expect(xpath(file, 'string(//testsuite[2]/testcase[1]/failure)')).toBe('')
    expect(Number(xpath(file, 'string-length(//testsuite[2]/testcase[1]/@name)'))).toBeLessThanOrEqual(128)
  }, 60_000)

  it('reporter writes the document on run end', () => {
    const chunks: string[] = []
    void junitReporter({ sink: { isTTY: false, color: false, columns: 80, write: (c) => void chunks.push(c) } }).onRunEnd?.(fixtures.multi)
    expect(chunks).toEqual([renderJunit(fixtures.multi)])
  })
})

describe('renderJunit for a fleet run', () => {
  const f = files.fleet
  const suite = (n: number, a: string) => xpath(f, `string(//testsuite[${n}]/@${a})`)
  const suiteNamed = (name: string) => `//testsuite[@name="${name}"]`

  it('writes one suite per host and phase, host by host, with hostname and host in the classname', () => {
    expectValid(f) // both XSDs
    const names = xpath(f, '//testsuite/@name').split('\n').map((l) => /name="(.*)"/.exec(l)![1])
    expect(names).toEqual([
      'web1/pre-build', 'web1/build', 'web1/post-build',
      'web2/pre-build', 'web2/build', 'web2/post-build',
      'db1/pre-build', 'db1/build', 'db1/post-build',
    ])
    expect(xpath(f, '//testsuite/@id').split('\n').map((l) => l.trim())).toEqual(names.map((_, i) => `id="${i}"`))
    expect(suite(1, 'hostname')).toBe('web1')
    expect(suite(9, 'hostname')).toBe('db1')
    expect(xpath(f, `string(${suiteNamed('web2/post-build')}/testcase[2]/@classname)`)).toBe('nbs.web2.post-build')
    // each suite holds only its host's cases
    for (const host of ['web1', 'web2', 'db1']) {
      expect(count(f, `//testsuite[@hostname="${host}"]/testcase[not(starts-with(@classname, "nbs.${host}."))]`)).toBe(0)
      expect(count(f, `//testsuite[@hostname="${host}"]/testcase`)).toBe(5)
    }
  })

  it('keeps each suite\'s counts consistent with its cases', () => {
    const n = count(f, '//testsuite')
    for (let i = 1; i <= n; i++) {
      const s = `//testsuite[${i}]`
      expect(Number(suite(i, 'tests'))).toBe(count(f, `${s}/testcase`))
      expect(Number(suite(i, 'failures'))).toBe(count(f, `${s}/testcase/failure`))
      expect(Number(suite(i, 'errors'))).toBe(count(f, `${s}/testcase/error`))
      expect(Number(suite(i, 'skipped'))).toBe(count(f, `${s}/testcase/skipped`))
    }
    const web2 = suiteNamed('web2/post-build')
    expect(xpath(f, `string(${web2}/@failures)`)).toBe('1')
    expect(xpath(f, `string(${web2}/testcase[failure]/@name)`)).toBe('failed-units: no systemd unit has failed')
    const db1 = suiteNamed('db1/post-build')
    expect([xpath(f, `string(${db1}/@errors)`), xpath(f, `string(${db1}/@skipped)`)]).toEqual(['1', '2'])
    expect(xpath(f, `string(${db1}/testcase[error]/@name)`)).toBe('reachable: ssh root@10.0.0.7 answers')
    expect(xpath(f, `string(${db1}/testcase/error)`)).toContain('Connection refused')
    expect(xpath(f, `string(${db1}/testcase[2]/skipped/@message)`)).toBe('host unreachable: ssh: connect to host 10.0.0.7 port 2222: Connection refused')
  })

  it('the same check on several hosts is one case per host: no name gets a [2] suffix', () => {
    expect(count(f, '//testcase[@name="failed-units: no systemd unit has failed"]')).toBe(3)
    expect(count(f, '//testcase[contains(@name, "[2]")]')).toBe(0)
  })

  it('says per suite how the host was reached', () => {
    const db1 = suiteNamed('db1/build')
    expect(xpath(f, `string(${db1}/properties/property[@name="nbs.target"]/@value)`)).toBe('ssh root@10.0.0.7:2222')
    expect(xpath(f, `string(${db1}/properties/property[@name="nbs.unreachable"]/@value)`)).toContain('Connection refused')
    expect(count(f, `${suiteNamed('web1/build')}/properties/property[@name="nbs.unreachable"]`)).toBe(0)
  })

  it('a single-host run keeps phase-named suites, nbs.<phase> classnames and no host properties', () => {
    const xml = renderJunit(fixtures.multi)
    expect(xml).toContain('<testsuite package="nbs" id="0" name="eval" hostname="testhost" timestamp="2025-01-02T03:04:05" tests="2" failures="1" errors="0" skipped="0" time="0.025">')
    expect(xml).toContain('<testcase classname="nbs.eval" name="flake-eval: Title of flake-eval" time="0.013"/>')
    expect(xml).not.toContain('nbs.host')
  })

  it('an empty fleet run still writes the placeholder suite', () => {
    const empty = { ...fleetFixture, phases: [] }
    const file = tempFile(renderJunit(empty), 'xml')
    expectValid(file)
    expect(xpath(file, 'string(//testcase/@name)')).toBe('no checks selected')
  })
})
