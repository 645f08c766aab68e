import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { runProcess } from '../../../src/runner/process.js'
import { checkJournalErrors, describeJournalErrors, windowArgs } from '../../../src/status/journal.js'
import { BOOT_A, BOOT_B, writeJournalRoot, type ExportEntry } from '../../helpers/journal.js'

// Real journal files written by systemd-journal-remote, read by the real journalctl through -D.
const HOUR = 3_600_000
const calls: string[][] = []
const exec: Exec = (file, args = [], o) => {
  calls.push([file, ...args])
  return runProcess(file, args, o)
}

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
    const r = await checkJournalErrors({ exec, root })
    expect(calls).toHaveLength(1) // one journalctl call, whatever the number of entries
    expect(calls[0]).toEqual(expect.arrayContaining(['journalctl', '-D', `${root}/var/log/journal`, '-b', '-p', 'err']))
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
    const r = await checkJournalErrors({ exec, root, top: 20 })
    expect(r.top).toContainEqual({ unit: 'color.service', message: '\x1b[31mred alert\x1b[0m', count: 1 })
    expect(r.top).toContainEqual({ unit: 'nbs-broken.service', message: 'Failed to start nbs-broken.service.', count: 1 })
    expect(r.top).toHaveLength(6)
    // proof that this exercised the byte-array form: journalctl itself prints the array
    const raw = await runProcess('journalctl', ['-D', `${root}/var/log/journal`, '-o', 'json', '-u', 'color.service'])
    expect(JSON.parse(raw.stdout.text).MESSAGE).toEqual([...Buffer.from('\x1b[31mred alert\x1b[0m')])
  })

  it('leaves out messages matching an ignore pattern and counts them apart', async () => {
    const r = await checkJournalErrors({ exec, root, ignore: ['^harmless noise \\d+$', 'red alert'] })
    expect(r).toMatchObject({ count: 6, ignored: 2 })
    expect(r.units.map((u) => u.unit)).not.toContain('noise.service')
  })

  it('passes while the count stays within maxErrors', async () => {
    expect((await checkJournalErrors({ exec, root, maxErrors: 8 })).ok).toBe(true)
    expect((await checkJournalErrors({ exec, root, maxErrors: 7 })).ok).toBe(false)
  })

  it('reads a window instead of the boot with since', async () => {
    const hour = await checkJournalErrors({ exec, root, since: '1h' })
    expect(hour.count).toBe(6) // the last 50 minutes
    expect(hour.top[0]).toEqual({ unit: 'cert.service', message: 'certificate expired', count: 1 })
    const day = await checkJournalErrors({ exec, root, since: '1d' })
    expect(day.count).toBe(9) // across both boots
    expect(day.units).toContainEqual({ unit: 'old.service', count: 1 })
    const quarter = await checkJournalErrors({ exec, root, since: '15m' })
    expect(quarter.count).toBe(2)
  })

  it('describes the result in one line', async () => {
    const r = await checkJournalErrors({ exec, root, since: '15m' })
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
      const r = await checkJournalErrors({ exec, root: big, top: 3 })
      expect(calls).toHaveLength(1)
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

  it('names journalctl and its error when the journal directory is missing', async () => {
    await expect(checkJournalErrors({ exec, root: `${root}/nowhere` })).rejects.toThrow(/journalctl failed \(exit code 1\): .*nowhere/)
  })

  it('rejects a window that is neither boot nor a duration', () => {
    expect(windowArgs('boot')).toEqual(['-b'])
    expect(windowArgs('90m')).toEqual(['--since=-5400s'])
    expect(() => windowArgs('yesterday')).toThrow(/neither "boot" nor a duration/)
  })
})
