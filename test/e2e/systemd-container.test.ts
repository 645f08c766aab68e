import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../src/checks/types.js'
import { localMachine } from '../../src/machine/local.js'
import type { Machine } from '../../src/machine/types.js'
import type { JournalAccess } from '../../src/status/journal-access.js'
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
  activation: JournalErrorsResult
  calls: string[][]
}

/** What a user (not root) sees of the journal inside: nbs's probe, its count, and journalctl's own answer. */
interface Reader {
  id: string
  access: JournalAccess
  journal: JournalErrorsResult | { error: string }
  /** journalctl -o json -p err -b as that user: its exit code and the messages it printed */
  raw: { exitCode: number | null; messages: string[] }
}

/** The start of every script run in the container's node: the TypeScript sources through jiti (a dependency), so no stale dist. */
const JITI_PREAMBLE = `import { createJiti } from '${REPO}/node_modules/jiti/lib/jiti.mjs'
const jiti = createJiti(import.meta.url, { fsCache: false })
const { runProcess } = await jiti.import('${REPO}/src/runner/process.ts')
`

/** Runs in the container's node: failed units and the journal, as root. */
const script = `
${JITI_PREAMBLE}const { checkFailedUnits } = await jiti.import('${REPO}/src/status/units.ts')
const { checkJournalErrors } = await jiti.import('${REPO}/src/status/journal.ts')
const { systemdIsPid1 } = await jiti.import('${REPO}/src/status/systemd.ts')
const { localMachine } = await jiti.import('${REPO}/src/machine/local.ts')
const calls = []
const exec = (file, args = [], o) => (calls.push([file, ...args]), runProcess(file, args, o))
// as on systemd before 246: the JSON listing is refused, by the real systemctl
const old = (file, args = [], o) => exec(file, args.map((a) => (a === '--output=json' ? '--output=json-unknown' : a)), o)
const machine = localMachine({ exec })
const out = { pid1: await systemdIsPid1(machine), units: await checkFailedUnits({ machine }), calls: [...calls] }
out.plain = await checkFailedUnits({ machine: localMachine({ exec: old }) })
out.ignoring = await checkFailedUnits({ machine, ignore: ['nbs-*.service'] })
out.journal = await checkJournalErrors({ machine, top: 50 })
out.hour = await checkJournalErrors({ machine, since: '1h', ignore: ['^nbs-errlog:'], top: 50 })
// an activation now: relink /run/current-system (as NixOS's activation does), then one error after it
await runProcess('ln', ['-sfn', '/usr', '/run/current-system'])
await runProcess('logger', ['-p', 'user.err', '-t', 'nbs-activation', 'failed after activation'])
await runProcess('journalctl', ['--sync'])
out.activation = await checkJournalErrors({ machine, since: 'activation', top: 50 })
process.stdout.write(JSON.stringify(out))
`

/** Runs in the container's node as an unprivileged user (setpriv): nbs's journal probe and journalctl itself. */
const readerScript = `
${JITI_PREAMBLE}const { localMachine } = await jiti.import('${REPO}/src/machine/local.ts')
const { journalAccess } = await jiti.import('${REPO}/src/status/journal-access.ts')
const { checkJournalErrors } = await jiti.import('${REPO}/src/status/journal.ts')
const machine = localMachine({ exec: runProcess })
const id = (await runProcess('id', [])).stdout.text.trim()
const access = await journalAccess(machine)
const journal = await checkJournalErrors({ machine, top: 50 }).catch((e) => ({ error: e.name + ': ' + e.message }))
const r = await runProcess('journalctl', ['-o', 'json', '-p', 'err', '-b', '--no-pager'])
const messages = r.stdout.text.split('\\n').filter(Boolean).map((l) => JSON.parse(l).MESSAGE)
process.stdout.write(JSON.stringify({ id, access, journal, raw: { exitCode: r.exitCode, messages } }))
`

/** The container as a live Machine seen from here: its files through /proc/PID/root, its programs through nsenter. */
function containerMachine(c: Container): Machine {
  const exec: Exec = (file, args, o) => c.exec(file, args, o)
  const { hostPath: _offlineOnly, ...files } = localMachine({ root: `/proc/${c.initPid}/root`, exec })
  return { ...files, live: true, description: 'the container' }
}

needs('nspawn').describe('failed-units and journal-errors against systemd in systemd-nspawn', () => {
  let container: Container | undefined
  let inside: Inside
  const readers: Record<string, Reader> = {}
  let plainCheck: Awaited<ReturnType<Container['exec']>>

  beforeAll(async () => {
    const root = await ensureBookwormRoot()
    container = await bootContainer(root, { bindRo: [`${process.execPath}:${NODE}`, `${REPO}:${REPO}`] })
    const r = await container.exec(NODE, ['--input-type=module', '-e', script], { timeoutMs: 120_000 })
    if (r.exitCode !== 0) throw new Error(`nbs inside the container failed (${r.exitCode}):\n${r.stderr.text}`)
    inside = JSON.parse(r.stdout.text) as Inside

    // two users: one only in their own group, one in systemd-journal; each has logged an error of their own
    const asUser = (user: string, file: string, args: string[], o?: Parameters<Container['exec']>[2]) =>
      container!.exec('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', file, ...args], o)
    for (const [user, groups] of [['nbs-plain', []], ['nbs-reader', ['-G', 'systemd-journal']]] as const) {
      const added = await container.exec('useradd', ['-m', ...groups, user])
      if (added.exitCode !== 0) throw new Error(`useradd ${user}: ${added.stderr.text}`)
      await asUser(user, 'logger', ['-p', 'user.err', `${user}: an error of my own`])
    }
    await container.exec('journalctl', ['--sync'])
    for (const user of ['nbs-plain', 'nbs-reader']) {
      const run = await asUser(user, NODE, ['--input-type=module', '-e', readerScript], { timeoutMs: 120_000 })
      if (run.exitCode !== 0) throw new Error(`nbs as ${user} inside the container failed (${run.exitCode}):\n${run.stderr.text}`)
      readers[user] = JSON.parse(run.stdout.text) as Reader
    }
    plainCheck = await asUser('nbs-plain', NODE, [
      `${REPO}/dist/cli.js`, 'check', '--config', `${REPO}/test/fixtures/container/nbs.config.json`,
      '--only', 'journal-errors', '--reporter', 'json',
    ], { timeoutMs: 120_000, env: { JITI_FS_CACHE: 'false' } })
  }, 600_000)

  afterAll(async () => {
    if (!container) return
    const left = await container.stop()
    expect(left, 'processes left in the container after shutdown').toEqual([])
    expect(alive(container.nspawnPid)).toBe(false)
  }, 120_000)

  it('sees systemd as PID 1 inside, and answers the same through an nsenter exec from here', async () => {
    expect(inside.pid1).toEqual({ ok: true })
    expect(await systemdIsPid1(containerMachine(container!))).toEqual({ ok: true })
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

  it("since: 'activation' counts only what was logged after /run/current-system was relinked", () => {
    expect(inside.activation).toMatchObject({ since: 'activation', count: 1, top: [{ unit: 'nbs-activation', message: 'failed after activation', count: 1 }] })
    expect(Date.parse(inside.activation.activatedAt!)).toBeGreaterThan(Date.now() - 10 * 60_000)
  })

  it('an unprivileged user who cannot see the system journal: journalAccess says so, with the fix, where journalctl exits 0 with only their own entries', () => {
    const plain = readers['nbs-plain']!
    expect(plain.id).toMatch(/^uid=\d+\(nbs-plain\) gid=\d+\(nbs-plain\) groups=\d+\(nbs-plain\)$/)
    // the trap: journalctl succeeds and shows this user's own error only, not the units' errors
    expect(plain.raw).toEqual({ exitCode: 0, messages: ['nbs-plain: an error of my own'] })
    const reason = 'nbs-plain cannot see the system journal (journalctl shows them only their own entries); add nbs-plain to the systemd-journal group, or run as root'
    expect(plain.access).toEqual({ ok: false, reason })
    expect(plain.journal).toEqual({ error: `JournalUnavailableError: ${reason}` })
  })

  it('the same kind of user in group systemd-journal sees the system errors', () => {
    const reader = readers['nbs-reader']!
    expect(reader.id).toMatch(/groups=.*\(systemd-journal\)/)
    expect(reader.access).toEqual({ ok: true, source: [] })
    const journal = reader.journal as JournalErrorsResult
    expect(journal.top).toContainEqual({ unit: 'nbs-errlog.service', message: 'nbs-errlog: certificate expired', count: 1 })
    expect(journal.top.find((g) => g.unit === 'nbs-broken.service')?.message).toMatch(/^Failed to start nbs-broken\.service/)
    expect(journal.count).toBeGreaterThan(inside.journal.count) // and the users' own errors besides
  })

  it('nbs check run by that unprivileged user inside skips journal-errors with the reason instead of passing', () => {
    expect(plainCheck.exitCode, plainCheck.stderr.text).toBe(0)
    const check = JSON.parse(plainCheck.stdout.text).phases.flatMap((p: { checks: unknown[] }) => p.checks)[0]
    expect(check).toMatchObject({ id: 'journal-errors', status: 'skipped', message: expect.stringMatching(/^nbs-plain cannot see the system journal .*add nbs-plain to the systemd-journal group, or run as root$/) })
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
    expect(checks['journal-errors']).toMatchObject({ status: 'failed', severity: 'warning' }) // the exit code of 1 is failed-units'
    expect(checks['journal-errors'].message).toMatch(/^\d+ journal errors since boot \(max 0\): .*nbs-errlog\.service: nbs-errlog: certificate expired/)
  })

  it('finds a failed unit from here too, through an nsenter exec', async () => {
    const r = await checkFailedUnits({ machine: containerMachine(container!) })
    expect(r.units.map((u) => u.unit)).toEqual(['nbs-broken.service'])
    expect(r.units[0]!.journal).toContain('sh: nbs-broken: disk quota exploded')
  })
})

describe('systemdIsPid1 on this machine', () => {
  it('answers by /run/systemd/system, naming PID 1 when it is not systemd', async () => {
    const comm = readFileSync('/proc/1/comm', 'utf8').trim()
    const exec: Exec = () => Promise.reject(new Error('systemdIsPid1 reads files, it runs nothing'))
    const r = await systemdIsPid1(localMachine({ exec }))
    if (comm === 'systemd') return expect(r).toEqual({ ok: true })
    expect(r).toEqual({ ok: false, reason: `systemd is not running as PID 1 (PID 1 is ${comm}; no /run/systemd/system)` })
    expect(await systemdIsPid1(localMachine({ root: '/mnt/offline', exec }))).toEqual({ ok: false, reason: 'systemd is not running as PID 1 (root /mnt/offline is not the running system)' })
  })
})
