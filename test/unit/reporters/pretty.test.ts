import { setTimeout as sleep } from 'node:timers/promises'
import { stripVTControlCharacters } from 'node:util'
import { describe, expect, it } from 'vitest'
import { prettyReporter } from '../../../src/reporters/pretty.js'
import type { RunReport } from '../../../src/report/types.js'
import { check, fixtures } from '../../helpers/report-fixtures.js'

function sinkFor(isTTY: boolean) {
  const chunks: string[] = []
  return { chunks, sink: { isTTY, color: false, columns: 80, write: (c: string) => void chunks.push(c) } }
}

async function play(report: RunReport, isTTY: boolean, waitMs = 0) {
  const { chunks, sink } = sinkFor(isTTY)
  const r = prettyReporter({ sink })
  const all = report.phases.flatMap((p) => p.checks)
  await r.onRunStart?.({ startedAt: report.startedAt, host: report.host, failOn: report.failOn, total: all.length, phases: [] })
  for (const c of all) await r.onCheckStart?.(c)
  if (waitMs) await sleep(waitMs)
  const during = chunks.join('')
  for (const c of all) await r.onCheckEnd?.(c)
  await r.onRunEnd?.(report)
  return { during, out: chunks.join('') }
}

describe('pretty reporter', () => {
  it('piped: one plain line per finished check, failure details, summary; no escape codes', async () => {
    const { out } = await play(fixtures.multi, false)
    expect(out).not.toContain('\x1b[')
    expect(out).toMatch(/^✓ flake-eval/m)
    expect(out).toMatch(/^↓ closure-size .*skipped: no baseline/m)
    expect(out).toContain('nix: command not found')
    expect(out).toMatch(/Checks\s+3 passed · 2 failed · 1 errored · 1 skipped · 1 warning \(7\)/)
    expect(out).toMatch(/Time\s+\d/)
  })

  it('on a terminal: a live status area while checks run, then the checks grouped by phase', async () => {
    const { during, out } = await play(fixtures.multi, true, 250)
    expect(during).toMatch(/0\/7 done · \d running/)
    expect(during).toContain('\x1b[') // redrawn in place
    const end = stripVTControlCharacters(out.slice(during.length))
    const phases = ['eval', 'build', 'lint'].map((p) => end.search(new RegExp(`^${p}$`, 'm')))
    expect(phases.every((i) => i >= 0)).toBe(true)
    expect(phases).toEqual([...phases].sort((a, b) => a - b))
    expect(end).toMatch(/^ {2}⚠ deadnix/m) // a warning that does not fail the run
  })

  it('shows hostile names and output without passing control characters through', async () => {
    const hostile = check({ id: 'x', title: 'evil\x1b]0;pwned\x07\nnext', status: 'failed', message: 'bad\x00\x1b[31m', stderr: { text: '\x1b[2J\x07boom', bytes: 9, truncated: false } })
    const { out } = await play({ ...fixtures.failed, phases: [{ name: 'eval', checks: [hostile] }] }, false)
    expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f]/)
    expect(out).toContain('boom')
  })

  it('says when the run was interrupted', async () => {
    const { out } = await play(fixtures.interrupted, false)
    expect(out).toContain('Interrupted by SIGINT')
  })
})
