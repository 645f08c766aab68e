import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../src/checks/types.js'
import type { JournalErrorsResult } from '../../src/status/journal.js'
import { systemdIsPid1, type Pid1Result } from '../../src/status/systemd.js'
import { checkFailedUnits, type FailedUnitsResult } from '../../src/status/units.js'
import { alive, bootContainer, ensureBookwormRoot, type Container } from '../helpers/container.js'
import { needs } from '../helpers/real.js'

// A real systemd: a debootstrapped bookworm root booted with systemd-nspawn, with one unit that
// fails on purpose (nbs-broken.service) and one that logs at err (nbs-errlog.service). nbs itself
// runs inside: this machine's node and the repository are bind-mounted read-only.
const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
const NODE = '/opt/nbs/node'
const isRoot = process.getuid?.() === 0
const why = isRoot ? '' : ' — SKIPPED: needs root (debootstrap, systemd-nspawn, nsenter)'

interface Inside {
  pid1: Pid1Result
  units: FailedUnitsResult
  plain: FailedUnitsResult
  ignoring: FailedUnitsResult
  journal: JournalErrorsResult
  hour: JournalErrorsResult
  calls: string[][]
}

/** Runs in the container's node: loads the TypeScript sources with jiti (a dependency), so no stale dist. */
const script = `
import { createJiti } from '${REPO}/node_modules/jiti/lib/jiti.mjs'
const jiti = createJiti(import.meta.url, { fsCache: false })
const { runProcess } = await jiti.import('${REPO}/src/runner/process.ts')
const { checkFailedUnits } = await jiti.import('${REPO}/src/status/units.ts')
const { checkJournalErrors } = await jiti.import('${REPO}/src/status/journal.ts')
const { systemdIsPid1 } = await jiti.import('${REPO}/src/status/systemd.ts')
const calls = []
const exec = (file, args = [], o) => (calls.push([file, ...args]), runProcess(file, args, o))
// as on systemd before 246: the JSON listing is refused, by the real systemctl
const old = (file, args = [], o) => exec(file, args.map((a) => (a === '--output=json' ? '--output=json-unknown' : a)), o)
const out = { pid1: await systemdIsPid1(), units: await checkFailedUnits({ exec }), calls: [...calls] }
out.plain = await checkFailedUnits({ exec: old })
out.ignoring = await checkFailedUnits({ exec, ignore: ['nbs-*.service'] })
out.journal = await checkJournalErrors({ exec, top: 50 })
out.hour = await checkJournalErrors({ exec, since: '1h', ignore: ['^nbs-errlog:'], top: 50 })
process.stdout.write(JSON.stringify(out))
`

needs('nspawn').describe('failed-units and journal-errors against systemd in systemd-nspawn', () => {
  let container: Container | undefined
  let inside: Inside

  beforeAll(async () => {
    const root = await ensureBookwormRoot()
    container = await bootContainer(root, { bindRo: [`${process.execPath}:${NODE}`, `${REPO}:${REPO}`] })
    const r = await container.exec(NODE, ['--input-type=module', '-e', script], { timeoutMs: 120_000 })
    if (r.exitCode !== 0) throw new Error(`nbs inside the container failed (${r.exitCode}):\n${r.stderr.text}`)
    inside = JSON.parse(r.stdout.text) as Inside
  }, 600_000)

  afterAll(async () => {
    if (!container) return
    const left = await container.stop()
    expect(left, 'processes left in the container after shutdown').toEqual([])
    expect(alive(container.nspawnPid)).toBe(false)
  }, 120_000)

  it('sees systemd as PID 1 inside, and answers the same through an nsenter exec from here', async () => {
    expect(inside.pid1).toEqual({ ok: true })
    const exec: Exec = (file, args, o) => container!.exec(file, args, o)
    expect(await systemdIsPid1({ exec })).toEqual({ ok: true })
  })

  it('finds exactly the broken unit, with its journal lines, in one systemctl and one journalctl call', () => {
    expect(inside.units.units.map((u) => u.unit)).toEqual(['nbs-broken.service'])
    const [broken] = inside.units.units
    expect(broken).toMatchObject({ load: 'loaded', active: 'failed', sub: 'failed', description: 'nbs test unit that fails on purpose' })
    expect(broken!.journal).toContain('sh: nbs-broken: disk quota exploded')
    expect(broken!.journal).toContain('systemd: nbs-broken.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED')
    expect(broken!.journal.at(-1)).toMatch(/^systemd: Failed to start nbs-broken\.service/)
    expect(broken!.journal.length).toBeLessThanOrEqual(10)
    expect(inside.calls.map((c) => c[0])).toEqual(['systemctl', 'journalctl'])
    expect(inside.calls[1]).toEqual(expect.arrayContaining(['-b', '-u', 'nbs-broken.service']))
  })

  it('falls back to the plain listing when --output=json is refused', () => {
    expect(inside.plain).toEqual(inside.units)
  })

  it('leaves out units matching an ignore glob', () => {
    expect(inside.ignoring).toEqual({ units: [], ignored: ['nbs-broken.service'] })
  })

  it('counts the journal errors of this boot, grouped by unit', () => {
    const { journal } = inside
    expect(journal.top).toContainEqual({ unit: 'nbs-errlog.service', message: 'nbs-errlog: certificate expired', count: 1 })
    const failed = journal.top.find((g) => g.unit === 'nbs-broken.service')
    expect(failed?.message).toMatch(/^Failed to start nbs-broken\.service/)
    expect(journal.count).toBe(journal.units.reduce((n, u) => n + u.count, 0))
    expect(journal.count).toBeGreaterThanOrEqual(2)
    expect(journal.ok).toBe(false)
    expect(inside.hour.ignored).toBe(1)
    expect(inside.hour.count).toBe(journal.count - 1)
  })

  it('nbs check itself, run inside: failed-units and journal-errors fail naming the unit and its error', async () => {
    const r = await container!.exec(NODE, [
      `${REPO}/dist/cli.js`, 'check', '--config', `${REPO}/test/fixtures/container/nbs.config.json`,
      '--only', 'failed-units', '--only', 'journal-errors', '--reporter', 'json',
    ], { timeoutMs: 120_000, env: { JITI_FS_CACHE: 'false' } })
    expect(r.exitCode, r.stderr.text).toBe(1)
    const checks = Object.fromEntries(JSON.parse(r.stdout.text).phases.flatMap((p: { checks: { id: string }[] }) => p.checks).map((c: { id: string }) => [c.id, c]))
    expect(checks['failed-units']).toMatchObject({ status: 'failed', message: '1 failed unit: nbs-broken.service' })
    expect(checks['failed-units'].details.units[0].journal).toContain('sh: nbs-broken: disk quota exploded')
    expect(checks['failed-units'].details.units[0].journal.length).toBeLessThanOrEqual(5)
    expect(checks['journal-errors'].status).toBe('failed')
    expect(checks['journal-errors'].message).toMatch(/^\d+ journal errors since boot \(max 0\): .*nbs-errlog\.service: nbs-errlog: certificate expired/)
  })

  it('finds a failed unit from here too, through an nsenter exec', async () => {
    const exec: Exec = (file, args, o) => container!.exec(file, args, o)
    const r = await checkFailedUnits({ exec })
    expect(r.units.map((u) => u.unit)).toEqual(['nbs-broken.service'])
    expect(r.units[0]!.journal).toContain('sh: nbs-broken: disk quota exploded')
  })
})

describe('systemdIsPid1 on this machine', () => {
  it('answers by /run/systemd/system, naming PID 1 when it is not systemd', async () => {
    const comm = readFileSync('/proc/1/comm', 'utf8').trim()
    const r = await systemdIsPid1()
    if (comm === 'systemd') return expect(r).toEqual({ ok: true })
    expect(r).toEqual({ ok: false, reason: `systemd is not running as PID 1 (PID 1 is ${comm}; no /run/systemd/system)` })
    expect(await systemdIsPid1({ root: '/mnt/offline' })).toMatchObject({ ok: false, reason: expect.stringContaining('/mnt/offline') })
  })
})
