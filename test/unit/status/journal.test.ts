import { lutimes, mkdir, mkdtemp, rm, symlink, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { NbsError } from '../../../src/errors.js'
import { localMachine } from '../../../src/machine/local.js'
import { runProcess } from '../../../src/runner/process.js'
import { checkJournalErrors, describeJournalErrors, windowArgs } from '../../../src/status/journal.js'
import { journalAccess, JournalUnavailableError } from '../../../src/status/journal-access.js'
import { journalErrorsOptionsSchema, journalOptionsFrom } from '../../../src/status/journal-options.js'
import { BOOT_A, BOOT_B, writeJournalRoot, type ExportEntry } from '../../helpers/journal.js'

// Real journal files written by systemd-journal-remote, read by the real journalctl through -D.
const HOUR = 3_600_000
const calls: string[][] = []
const exec: Exec = (file, args = [], o) => {
  calls.push([file, ...args])
  return runProcess(file, args, o)
}
/** An offline root read as `--root` does: files inside it, journalctl -D run here. */
const machine = (root: string) => localMachine({ root, exec })
const journalCalls = () => calls.filter((c) => c[0] === 'journalctl')

const entries: ExportEntry[] = [
  // an older boot: -b must not see it
  { bootId: BOOT_A, agoMs: 5 * HOUR, priority: 3, unit: 'old.service', message: 'from the previous boot' },
  { agoMs: 3 * HOUR, priority: 3, unit: 'disk.service', message: 'disk quota exploded' },
  { agoMs: 2 * HOUR, priority: 3, unit: 'disk.service', message: 'disk quota exploded' },
  { agoMs: 2 * HOUR, priority: 6, unit: 'disk.service', message: 'just information' },
  { agoMs: 2 * HOUR, priority: 4, unit: 'disk.service', message: 'only a warning' },
  { agoMs: 50 * 60_000, priority: 2, unit: 'cert.service', message: 'certificate expired' },
  { agoMs: 40 * 60_000, priority: 3, unit: 'disk.service', message: 'disk quota exploded' },
  { agoMs: 30 * 60_000, priority: 3, identifier: 'kernel', message: 'EXT4-fs error (device sda1)' },
  // control characters make journalctl print MESSAGE as an array of bytes
  { agoMs: 20 * 60_000, priority: 3, unit: 'color.service', message: Buffer.from('\x1b[31mred alert\x1b[0m') },
  // systemd's own lines come from init.scope and name their subject in UNIT=
  { agoMs: 10 * 60_000, priority: 3, unit: 'init.scope', identifier: 'systemd', aboutUnit: 'nbs-broken.service', message: 'Failed to start nbs-broken.service.' },
  { agoMs: 5 * 60_000, priority: 3, unit: 'noise.service', message: 'harmless noise 42' },
]

let root = ''
beforeAll(async () => {
  root = await writeJournalRoot(entries)
})
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

describe('checkJournalErrors on real journal files (--root)', () => {
  it('counts err-or-worse entries of the last boot in the files, grouped by unit then message', async () => {
    calls.length = 0
    const r = await checkJournalErrors({ machine: machine(root) })
    expect(journalCalls()).toHaveLength(1) // one journalctl call, whatever the number of entries
    expect(journalCalls()[0]).toEqual(expect.arrayContaining(['journalctl', '-D', `${root}/var/log/journal`, '-b', '-p', 'err']))
    expect(r.count).toBe(8)
    expect(r.ok).toBe(false)
    expect(r.top[0]).toEqual({ unit: 'disk.service', message: 'disk quota exploded', count: 3 })
    expect(r.top).toHaveLength(5)
    expect(r.units).toEqual([
      { unit: 'disk.service', count: 3 },
      { unit: 'cert.service', count: 1 },
      { unit: 'kernel', count: 1 },
      { unit: 'color.service', count: 1 },
      { unit: 'nbs-broken.service', count: 1 },
      { unit: 'noise.service', count: 1 },
    ])
  })

  it('decodes a byte-array MESSAGE as UTF-8', async () => {
    const r = await checkJournalErrors({ machine: machine(root), top: 20 })
    expect(r.top).toContainEqual({ unit: 'color.service', message: '\x1b[31mred alert\x1b[0m', count: 1 })
    expect(r.top).toContainEqual({ unit: 'nbs-broken.service', message: 'Failed to start nbs-broken.service.', count: 1 })
    expect(r.top).toHaveLength(6)
    // proof that this exercised the byte-array form: journalctl itself prints the array
    const raw = await runProcess('journalctl', ['-D', `${root}/var/log/journal`, '-o', 'json', '-u', 'color.service'])
    expect(JSON.parse(raw.stdout.text).MESSAGE).toEqual([...Buffer.from('\x1b[31mred alert\x1b[0m')])
  })

  it('leaves out messages matching an ignore pattern and counts them apart', async () => {
    const r = await checkJournalErrors({ machine: machine(root), ignore: ['^harmless noise \\d+$', 'red alert'] })
    expect(r).toMatchObject({ count: 6, ignored: 2 })
    expect(r.units.map((u) => u.unit)).not.toContain('noise.service')
  })

  it('passes while the count stays within maxErrors', async () => {
    expect((await checkJournalErrors({ machine: machine(root), maxErrors: 8 })).ok).toBe(true)
    expect((await checkJournalErrors({ machine: machine(root), maxErrors: 7 })).ok).toBe(false)
  })

  it('reads a window instead of the boot with since', async () => {
    const hour = await checkJournalErrors({ machine: machine(root), since: '1h' })
    expect(hour.count).toBe(6) // the last 50 minutes
    expect(hour.top[0]).toEqual({ unit: 'cert.service', message: 'certificate expired', count: 1 })
    const day = await checkJournalErrors({ machine: machine(root), since: '1d' })
    expect(day.count).toBe(9) // across both boots
    expect(day.units).toContainEqual({ unit: 'old.service', count: 1 })
    const quarter = await checkJournalErrors({ machine: machine(root), since: '15m' })
    expect(quarter.count).toBe(2)
  })

  it('describes the result in one line', async () => {
    const r = await checkJournalErrors({ machine: machine(root), since: '15m' })
    expect(describeJournalErrors(r)).toBe(
      '2 journal errors in the last 15m (max 0): nbs-broken.service: Failed to start nbs-broken.service.; noise.service: harmless noise 42',
    )
  })

  it('streams a large journal through one call', async () => {
    const many: ExportEntry[] = Array.from({ length: 20_000 }, (_, i) => ({
      agoMs: 60_000 - i,
      priority: 3,
      unit: i % 2 ? 'odd.service' : 'even.service',
      message: i % 2 ? 'odd failure' : `even failure ${i % 10}`,
    }))
    const big = await writeJournalRoot(many)
    try {
      calls.length = 0
      const r = await checkJournalErrors({ machine: machine(big), top: 3 })
      expect(journalCalls()).toHaveLength(1)
      expect(r.count).toBe(20_000)
      // ties keep the order of first appearance
      expect(r.units).toEqual([{ unit: 'even.service', count: 10_000 }, { unit: 'odd.service', count: 10_000 }])
      expect(r.top[0]).toEqual({ unit: 'odd.service', message: 'odd failure', count: 10_000 })
      expect(r.top.slice(1)).toEqual([
        { unit: 'even.service', message: 'even failure 0', count: 2000 },
        { unit: 'even.service', message: 'even failure 2', count: 2000 },
      ])
    } finally {
      await rm(big, { recursive: true, force: true })
    }
  })

  it('rejects a window that is neither boot, activation nor a duration', () => {
    expect(windowArgs('boot')).toEqual(['-b'])
    expect(windowArgs('90m')).toEqual(['--since=-5400s'])
    expect(windowArgs('activation', 1_700_000_000_123.5)).toEqual(['--since=@1700000000.123500'])
    expect(() => windowArgs('yesterday')).toThrow(/neither "boot", "activation" nor a duration/)
  })
})

describe('journalAccess on an offline root', () => {
  const temp: string[] = []
  afterAll(async () => void (await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })))))
  const emptyRoot = async () => {
    const d = await mkdtemp(join(tmpdir(), 'nbs-volatile-'))
    temp.push(d)
    return d
  }

  it('reads ROOT/var/log/journal with journalctl -D', async () => {
    expect(await journalAccess(machine(root))).toEqual({ ok: true, source: ['-D', `${root}/var/log/journal`] })
  })

  it('a root without var/log/journal (volatile storage) is a reason to skip, and checkJournalErrors says so instead of failing in journalctl', async () => {
    const volatile = await emptyRoot()
    await mkdir(join(volatile, 'run/log/journal'), { recursive: true }) // where a volatile journal lived: gone offline
    const reason = `no persistent journal under ${volatile} (journald storage is volatile)`
    expect(await journalAccess(machine(volatile))).toEqual({ ok: false, reason })
    calls.length = 0
    const err = await checkJournalErrors({ machine: machine(volatile) }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JournalUnavailableError)
    expect((err as Error).message).toBe(reason)
    expect(journalCalls()).toEqual([]) // journalctl -D on a missing folder would have failed the check
  })

  it('follows /var/log as a link inside the root (impermanence keeps it under /persist)', async () => {
    const persisted = await emptyRoot()
    await writeJournalRoot([{ priority: 3, unit: 'persisted.service', message: 'kept across boots' }], join(persisted, 'persist'))
    await mkdir(join(persisted, 'var'), { recursive: true })
    await symlink('/persist/var/log', join(persisted, 'var/log')) // absolute: means ROOT/persist/var/log
    expect(await journalAccess(machine(persisted))).toEqual({ ok: true, source: ['-D', `${persisted}/persist/var/log/journal`] })
    expect((await checkJournalErrors({ machine: machine(persisted) })).top).toEqual([{ unit: 'persisted.service', message: 'kept across boots', count: 1 }])
  })
})

describe("since: 'activation' on real journal files", () => {
  it('counts only entries after /run/current-system was last linked (the link’s own mtime, not its target’s)', async () => {
    const system = join(root, 'nix/store/0000000000000000000000000000000a-nixos-system-demo')
    await mkdir(system, { recursive: true })
    await utimes(system, 1, 1) // store paths are dated 1970: following the link would count the whole boot
    await mkdir(join(root, 'run'), { recursive: true })
    await symlink('/nix/store/0000000000000000000000000000000a-nixos-system-demo', join(root, 'run/current-system'))
    const activated = Math.floor(Date.now() / 1000 - 45 * 60) * 1000 // whole seconds: lutimes' precision varies by filesystem
    await lutimes(join(root, 'run/current-system'), activated / 1000, activated / 1000)
    try {
      const r = await checkJournalErrors({ machine: machine(root), since: 'activation', top: 1 })
      // after 45 minutes ago: disk (40m), kernel (30m), color (20m), nbs-broken (10m), noise (5m); not cert (50m)
      expect(r).toMatchObject({ count: 5, since: 'activation', activatedAt: new Date(activated).toISOString() })
      expect(r.units.map((u) => u.unit)).not.toContain('cert.service')
      expect(describeJournalErrors(r)).toBe('5 journal errors since activation (max 0): disk.service: disk quota exploded')
      expect(journalCalls().at(-1)).toContain(`--since=@${(activated / 1000).toFixed(6)}`)
    } finally {
      await rm(join(root, 'run'), { recursive: true })
    }
  })

  it('is a reason to skip where there is no /run/current-system link', async () => {
    const err = await checkJournalErrors({ machine: machine(root), since: 'activation' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JournalUnavailableError)
    expect((err as Error).message).toBe(`no /run/current-system link on root ${root}: the activation time is unknown, so "since: activation" cannot apply`)
  })
})

describe('journal-errors options', () => {
  it('default to this boot, no errors allowed, nothing ignored, severity warning', () => {
    expect(journalErrorsOptionsSchema.parse({})).toEqual({ since: 'boot', maxErrors: 0, ignore: [], severity: 'warning' })
    expect(journalErrorsOptionsSchema.parse({ since: 'activation', severity: 'error' })).toMatchObject({ since: 'activation', severity: 'error' })
    expect(journalErrorsOptionsSchema.parse({ since: '90m' }).since).toBe('90m')
    expect(journalErrorsOptionsSchema.safeParse({ since: 'yesterday' }).success).toBe(false)
    expect(journalErrorsOptionsSchema.safeParse({ since: '0s' }).success).toBe(false)
    expect(journalErrorsOptionsSchema.safeParse({ severity: 'info' }).success).toBe(false)
  })

  it('journalOptionsFrom (for nbs status) validates regexes when the config loads: exit 3 naming the field', () => {
    expect(journalOptionsFrom({})).toEqual({ since: 'boot', maxErrors: 0, ignore: [], severity: 'warning' })
    expect(journalOptionsFrom({ 'journal-errors': { maxErrors: 2, ignore: ['^ACPI'] } })).toMatchObject({ maxErrors: 2, ignore: ['^ACPI'] })
    const err = (() => {
      try {
        journalOptionsFrom({ 'journal-errors': { ignore: ['fine', '(unclosed'] } }, 'nbs.config.ts')
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(NbsError)
    expect(err).toMatchObject({ exitCode: 3 })
    expect((err as Error).message).toMatch(/^nbs\.config\.ts: options\.journal-errors\.ignore\[1\]: invalid regular expression: .*\(unclosed.*Unterminated group/)
  })
})
