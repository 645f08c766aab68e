import { describe, expect, it } from 'vitest'
import { escapeLabelValue, renderPrometheus } from '../../../src/reporters/prometheus.js'
import { check, report } from '../../helpers/report-fixtures.js'

const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))

describe('prometheus reporter: the textfile', () => {
  const text = renderPrometheus(
    report({
      'pre-build': [check({ id: 'flake-eval', status: 'passed', durationMs: 1500 })],
      health: [
        check({ id: 'nginx', status: 'failed', durationMs: 20 }),
        check({ id: 'disk', status: 'errored', durationMs: 3 }),
        check({ id: 'dns', status: 'skipped', durationMs: 0 }),
        check({ id: 'swap', status: 'failed', severity: 'warning', durationMs: 7 }),
      ],
    }),
  )

  it('is gauges only, each metric one group after its HELP and TYPE, newline-terminated, no sample timestamps', () => {
    expect(text.endsWith('\n')).toBe(true)
    const lines = text.trimEnd().split('\n')
    const names = lines.filter((l) => !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0])
    // grouped: a name never comes back after another one
    expect(names.filter((n, i) => names.indexOf(n) === i)).toEqual([
      'nbs_check_success',
      'nbs_check_skipped',
      'nbs_check_duration_seconds',
      'nbs_checks',
      'nbs_run_success',
      'nbs_run_duration_seconds',
      'nbs_run_timestamp_seconds',
    ])
    for (const n of new Set(names)) {
      const help = lines.indexOf(lines.find((l) => l.startsWith(`# HELP ${n} `))!)
      expect(lines[help + 1]).toBe(`# TYPE ${n} gauge`)
      expect(lines.findIndex((l) => l.startsWith(n))).toBe(help + 2)
    }
    // a sample is NAME[{labels}] VALUE, never a third field
    for (const l of lines.filter((x) => !x.startsWith('#'))) expect(l).toMatch(/^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/)
  })

  it('nbs_check_success: 1 passed, 0 failed or errored (warnings too), absent for skipped; durations in seconds', () => {
    expect(samples(text, 'nbs_check_success')).toEqual([
      'nbs_check_success{host="testhost",check="flake-eval",phase="pre-build"} 1',
      'nbs_check_success{host="testhost",check="nginx",phase="health"} 0',
      'nbs_check_success{host="testhost",check="disk",phase="health"} 0',
      'nbs_check_success{host="testhost",check="swap",phase="health"} 0',
    ])
    expect(samples(text, 'nbs_check_skipped')).toContain('nbs_check_skipped{host="testhost",check="dns",phase="health"} 1')
    expect(samples(text, 'nbs_check_skipped')).toContain('nbs_check_skipped{host="testhost",check="nginx",phase="health"} 0')
    expect(samples(text, 'nbs_check_skipped')).toHaveLength(5)
    expect(samples(text, 'nbs_check_duration_seconds')).toEqual([
      'nbs_check_duration_seconds{host="testhost",check="flake-eval",phase="pre-build"} 1.5',
      'nbs_check_duration_seconds{host="testhost",check="nginx",phase="health"} 0.02',
      'nbs_check_duration_seconds{host="testhost",check="disk",phase="health"} 0.003',
      'nbs_check_duration_seconds{host="testhost",check="swap",phase="health"} 0.007',
    ])
  })

  it('run metrics: counts per status (zeros included), success as the exit code says, finish time in Unix seconds', () => {
    expect(samples(text, 'nbs_checks')).toEqual(['nbs_checks{status="passed"} 1', 'nbs_checks{status="failed"} 2', 'nbs_checks{status="errored"} 1', 'nbs_checks{status="skipped"} 1'])
    expect(samples(text, 'nbs_run_success')).toEqual(['nbs_run_success 0'])
    expect(samples(text, 'nbs_run_duration_seconds')).toEqual(['nbs_run_duration_seconds 2.5'])
    expect(samples(text, 'nbs_run_timestamp_seconds')).toEqual([`nbs_run_timestamp_seconds ${Date.parse('2025-01-02T03:04:07.500Z') / 1000}`])
    // a failed warning does not fail the run (no --fail-on warning): nbs_run_success 1, the check still 0
    const tolerated = renderPrometheus(report({ health: [check({ id: 'swap', status: 'failed', severity: 'warning' })] }))
    expect(samples(tolerated, 'nbs_run_success')).toEqual(['nbs_run_success 1'])
    expect(samples(tolerated, 'nbs_check_success')).toEqual(['nbs_check_success{host="testhost",check="swap",phase="health"} 0'])
    const strict = renderPrometheus(report({ health: [check({ id: 'swap', status: 'failed', severity: 'warning' })] }, { failOn: 'warning' }))
    expect(samples(strict, 'nbs_run_success')).toEqual(['nbs_run_success 0'])
    const interrupted = renderPrometheus(report({ health: [check({ id: 'a' })] }, { interrupted: 'SIGTERM' }))
    expect(samples(interrupted, 'nbs_run_success')).toEqual(['nbs_run_success 0'])
  })

  it('an empty run still has every run metric and all four status counts at 0', () => {
    const empty = renderPrometheus(report({}))
    expect(samples(empty, 'nbs_checks').map((l) => l.split(' ')[1])).toEqual(['0', '0', '0', '0'])
    expect(samples(empty, 'nbs_check_success')).toEqual([])
    expect(empty).toContain('# TYPE nbs_check_success gauge\n')
    expect(samples(empty, 'nbs_run_success')).toEqual(['nbs_run_success 1'])
  })
})

describe('prometheus reporter: label values', () => {
  it('escapes only backslash, double quote and newline, as the exposition format says', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
    expect(escapeLabelValue('\\n')).toBe('\\\\n') // a literal backslash-n stays two characters
    expect(escapeLabelValue('tab\there')).toBe('tab\there')
    expect(escapeLabelValue('lone \ud800 surrogate')).toBe('lone \ufffd surrogate') // UTF-8 must be valid
  })

  it('hostile host names and check ids cannot break out of a label or start a line', () => {
    const hostile = ['x"} 1\nnbs_run_success 1\n#', 'back\\', '"', '\n', 'ünïcödé ✓', 'a}b{c=d,e="f"']
    const text = renderPrometheus(report({ health: hostile.map((h, i) => check({ id: `${h}-${i}`, host: h, status: 'failed' })) }))
    // still exactly one nbs_run_success line, and every line is a comment or a well-formed sample
    expect(samples(text, 'nbs_run_success')).toEqual(['nbs_run_success 0'])
    const label = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"'
    const sample = new RegExp(`^[a-z_]+(\\{[a-z]+=${label}(,[a-z]+=${label})*\\})? \\S+$`)
    for (const l of text.trimEnd().split('\n')) expect(l.startsWith('# ') || sample.test(l), l).toBe(true)
    expect(samples(text, 'nbs_check_success')).toHaveLength(hostile.length)
    expect(samples(text, 'nbs_check_success')[0]).toBe('nbs_check_success{host="x\\"} 1\\nnbs_run_success 1\\n#",check="x\\"} 1\\nnbs_run_success 1\\n#-0",phase="health"} 0')
  })

  it('a duplicate series (same host, check and phase) is written once: a duplicate would drop the whole file', () => {
    const text = renderPrometheus(report({ health: [check({ id: 'a', status: 'passed' }), check({ id: 'a', status: 'failed' })] }))
    expect(samples(text, 'nbs_check_success')).toEqual(['nbs_check_success{host="testhost",check="a",phase="health"} 1'])
  })

  it('fleet runs: one series per host for the same check id', () => {
    const r = report({ health: [check({ id: 'nginx', host: 'web' }), check({ id: 'nginx', host: 'db', status: 'failed' })] }, { overrides: { fleet: true } })
    expect(samples(renderPrometheus(r), 'nbs_check_success').sort()).toEqual([
      'nbs_check_success{host="db",check="nginx",phase="health"} 0',
      'nbs_check_success{host="web",check="nginx",phase="health"} 1',
    ])
  })
})
