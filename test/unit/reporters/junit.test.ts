import { describe, expect, it } from 'vitest'
import type { RunReport } from '../../../src/report/types.js'
import { JUNIT_MAX_BYTES, junitReporter, renderJunit } from '../../../src/reporters/junit.js'
import { FORBIDDEN_C0, XSDS, tempFile, xmllintValidate, xpath } from '../../helpers/consumers.js'
import { check, fixtures, report, type FixtureName } from '../../helpers/report-fixtures.js'

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
      const checks = fixtures[name].phases.flatMap((p) => p.checks)
      const n = checks.length
      const by = (s: string) => checks.filter((c) => c.status === s).length
      expect(count(file, '//testcase')).toBe(Math.max(1, n))
      expect(count(file, '//testcase/failure')).toBe(by('failed'))
      expect(count(file, '//testcase/error')).toBe(by('errored'))
      expect(count(file, '//testcase/skipped')).toBe(n === 0 ? 1 : by('skipped'))
      expect(sum(file, 'tests')).toBe(count(file, '//testcase'))
      expect(sum(file, 'failures')).toBe(by('failed'))
      expect(sum(file, 'errors')).toBe(by('errored'))
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

  it('types a tolerated warning failure as Warning', () => {
    expect(xpath(files.warning, 'string(//failure/@type)')).toBe('Warning')
    expect(xpath(files.warningFailOnWarning, 'string(//failure/@type)')).toBe('CheckFailed')
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
