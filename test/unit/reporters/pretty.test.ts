import { setTimeout as sleep } from 'node:timers/promises'
import { stripVTControlCharacters } from 'node:util'
import { describe, expect, it } from 'vitest'
import { MAX_HOST_LINES } from '../../../src/reporters/fleet-progress.js'
import { prettyReporter } from '../../../src/reporters/pretty.js'
import type { RunReport } from '../../../src/report/types.js'
import { check, fixtures, fleetFixture, fleetReport, runStartOf } from '../../helpers/report-fixtures.js'

function sinkFor(isTTY: boolean, columns = 80) {
  const chunks: string[] = []
  return { chunks, sink: { isTTY, color: false, columns, write: (c: string) => void chunks.push(c) } }
}

async function play(report: RunReport, isTTY: boolean, waitMs = 0) {
  const { chunks, sink } = sinkFor(isTTY)
  const r = prettyReporter({ sink })
  const all = report.phases.flatMap((p) => p.checks)
  await r.onRunStart?.(runStartOf(report))
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

describe('pretty reporter in a fleet run', () => {
  const REFUSED = 'ssh: connect to host 10.0.0.7 port 2222: Connection refused'
  const interleaved = fleetFixture.phases.flatMap((p) => p.checks) // web1, web2, db1, web1, …

  /** Plays the fleet fixture: the first `running` checks start, `ended` of them end, then a pause, then the rest. */
  async function playFleet(isTTY: boolean, { running = 7, ended = 3, waitMs = 0, columns = 100 } = {}) {
    const { chunks, sink } = sinkFor(isTTY, columns)
    const r = prettyReporter({ sink })
    await r.onRunStart?.(runStartOf(fleetFixture))
    for (const c of interleaved.slice(0, running)) await r.onCheckStart?.(c)
    for (const c of interleaved.slice(0, ended)) await r.onCheckEnd?.(c)
    if (waitMs) await sleep(waitMs)
    const during = chunks.join('')
    for (const c of interleaved.slice(running)) await r.onCheckStart?.(c)
    for (const c of interleaved.slice(ended)) await r.onCheckEnd?.(c)
    await r.onRunEnd?.(fleetFixture)
    return { during, out: chunks.join(''), end: stripVTControlCharacters(chunks.join('').slice(during.length)) }
  }

  /** The last redraw of the live area. */
  const lastFrame = (during: string) => stripVTControlCharacters(during.split('\x1b[J').at(-1)!)

  /** The rows of the closing table, split into cells. */
  function table(text: string) {
    const lines = text.split('\n')
    const head = lines.findIndex((l) => /^ host +passed +failed +skipped +errored +unreachable +slowest check$/.test(l))
    expect(head, text).toBeGreaterThanOrEqual(0)
    return lines.slice(head + 1, head + 4).map((l) => l.trim().split(/ {2,}/))
  }

  it('on a terminal: one live line per host with its progress and running check', async () => {
    const { during } = await playFleet(true, { waitMs: 250 })
    expect(during).toContain('\x1b[') // redrawn in place
    const frame = lastFrame(during)
    // flake-eval ended on each host; toplevel runs on each, and web1's reachable too
    expect(frame).toMatch(/^ {2}\S web1 {2}1\/5 {2}toplevel \d+ms \+1$/m)
    expect(frame).toMatch(/^ {2}\S web2 {2}1\/5 {2}toplevel \d+ms$/m)
    expect(frame).toMatch(/^ {2}\S db1 {3}1\/5 {2}toplevel \d+ms$/m)
    expect(frame).toMatch(/^3\/15 done · 4 running/m)
  })

  it('on a terminal: a host whose reachable step failed says so live', async () => {
    // flake-eval, toplevel and reachable ended on every host; nothing runs
    const { during } = await playFleet(true, { running: 9, ended: 9, waitMs: 150 })
    const frame = lastFrame(during)
    expect(frame).toContain(`✗ db1   3/5  unreachable: ${REFUSED}`)
    expect(frame).toContain('· web1  3/5  waiting')
    // on a narrow terminal the live lines are cut, never wrapped (a wrapped line breaks the redraw)
    const narrow = lastFrame((await playFleet(true, { running: 9, ended: 9, waitMs: 150, columns: 50 })).during)
    expect(narrow).toMatch(/✗ db1 {3}3\/5 {2}unreachable: ssh: connect to.*…$/m)
    for (const l of narrow.split('\n')) expect([...l].length).toBeLessThanOrEqual(49)
  })

  it('on a terminal: the checks grouped by host, then the per-host table', async () => {
    const { end } = await playFleet(true, { columns: 140 })
    const hosts = ['web1  ssh root@10.0.0.5', 'web2  ssh root@10.0.0.6', 'db1  ssh root@10.0.0.7:2222'].map((h) => end.search(new RegExp(`^${h}$`, 'm')))
    expect(hosts.every((i) => i >= 0)).toBe(true)
    expect(hosts).toEqual([...hosts].sort((a, b) => a - b))
    const db1 = end.slice(hosts[2]!)
    expect(db1).toContain('✗ reachable  ssh root@10.0.0.7 answers')
    expect(db1).toContain('↓ 2 checks skipped: host unreachable')
    expect(end).toContain('✗ web2 · failed-units (post-build, checks/example.ts)')
    expect(table(end)).toEqual([
      ['web1', '5', '0', '0', '0', '—', 'toplevel 41.2s'],
      ['web2', '4', '1', '0', '0', '—', 'toplevel 38s'],
      ['db1', '2', '0', '2', '1', REFUSED, 'toplevel 40.1s'],
    ])
    expect(end).toMatch(/Hosts {2}1 passed · 1 failed · 1 unreachable \(3\)/)
  })

  it('on a narrow terminal the reason is cut to fit, the slowest check stays', async () => {
    const { end } = await playFleet(true, { columns: 90 })
    const rows = table(end)
    expect(rows[2]![5]).toMatch(/^ssh: connect to host .*…$/)
    expect(rows[2]![6]).toBe('toplevel 40.1s')
    for (const l of end.split('\n').filter((x) => x.startsWith(' db1 '))) expect([...l].length).toBeLessThanOrEqual(89)
  })

  it('piped: each line prefixed with its host, failure details name the host, the table in full', async () => {
    const { out } = await playFleet(false)
    expect(out).not.toContain('\x1b[')
    expect(out).toMatch(/^nbs check: 15 checks on 3 hosts \(web1, web2, db1\)$/m)
    const lines = out.split('\n')
    expect(lines).toContain('web2  ✗ failed-units  no systemd unit has failed  300ms')
    expect(lines).toContain(`db1   ↓ current-system  runs the built system  skipped: host unreachable: ${REFUSED}`)
    expect(lines.filter((l) => /^(web1|web2|db1) +[✓✗↓] /.test(l))).toHaveLength(15)
    expect(out).toContain('✗ db1 · reachable (post-build, checks/example.ts)')
    expect(table(out)[2]).toEqual(['db1', '2', '0', '2', '1', REFUSED, 'toplevel 40.1s'])
    expect(out).toMatch(/Checks\s+11 passed · 1 failed · 1 errored · 2 skipped \(2 on unreachable hosts\) \(15\)/)
  })

  it('with more hosts than fit, the live area keeps the busy ones and sums up the rest', async () => {
    const many = fleetReport('@all', Array.from({ length: 20 }, (_, i) => ({
      name: `h${String(i).padStart(2, '0')}`, target: 'this machine', checks: [check({ id: 'a', phase: 'build' }), check({ id: 'b', phase: 'build' })],
    })))
    const { chunks, sink } = sinkFor(true)
    const r = prettyReporter({ sink })
    await r.onRunStart?.(runStartOf(many))
    const all = many.phases.flatMap((p) => p.checks)
    // the first 10 hosts finish, the other 10 are running
    for (const c of all) if (c.id === 'a' || Number(c.host.slice(1)) < 10) await r.onCheckStart?.(c)
    for (const c of all) if (Number(c.host.slice(1)) < 10) await r.onCheckEnd?.(c)
    await sleep(150)
    const frame = lastFrame(chunks.join(''))
    const hostLines = frame.split('\n').filter((l) => /^ {2}\S h\d\d /.test(l))
    expect(hostLines).toHaveLength(MAX_HOST_LINES - 1)
    // every host still running is among them (in inventory order), finished ones fill the rest
    const names = hostLines.map((l) => l.split(/\s+/)[2]!)
    expect(names).toEqual([...names].sort())
    expect(names.slice(-10)).toEqual(Array.from({ length: 10 }, (_, i) => `h${i + 10}`))
    expect(frame).toContain(`… ${20 - (MAX_HOST_LINES - 1)} more hosts (${20 - (MAX_HOST_LINES - 1)} finished)`)
    await r.onRunEnd?.(many)
  })

  it('single-host runs print no host table', async () => {
    const { out } = await play(fixtures.multi, false)
    expect(out).not.toMatch(/slowest check|Hosts/)
  })
})
