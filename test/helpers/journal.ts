import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runProcess } from '../../src/runner/process.js'

/** Where Debian's systemd-journal-remote lives (package `systemd-journal-remote`). */
export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote'
export const MACHINE_ID = '0123456789abcdef0123456789abcdef'

export interface ExportEntry {
  /** a Buffer is written in the binary form, which journalctl prints back as a byte array */
  message: string | Buffer
  priority: number
  unit?: string
  identifier?: string
  /** `UNIT=` (what systemd's own messages are about) */
  aboutUnit?: string
  /** how long before now the entry was logged (default: 60 s) */
  agoMs?: number
  /** 32 hex digits; entries of one boot share it */
  bootId?: string
}

export const BOOT_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
export const BOOT_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'

/**
 * Journal export format (https://systemd.io/JOURNAL_EXPORT_FORMATS/): `NAME=value` lines, or for
 * binary values `NAME\n`, a little-endian 64-bit length, the bytes and `\n`; a blank line ends an entry.
 */
export function exportFormat(entries: readonly ExportEntry[], now = Date.now()): Buffer {
  const parts: Buffer[] = []
  const field = (name: string, value: string | Buffer) => {
    const binary = Buffer.isBuffer(value) || value.includes('\n')
    if (!binary) return parts.push(Buffer.from(`${name}=${value}\n`))
    const data = Buffer.isBuffer(value) ? value : Buffer.from(value)
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(data.length))
    parts.push(Buffer.from(`${name}\n`), len, data, Buffer.from('\n'))
  }
  const bootStart = new Map<string, number>()
  for (const e of entries) {
    const boot = e.bootId ?? BOOT_B
    const realtimeMs = now - (e.agoMs ?? 60_000)
    // the monotonic clock counts from the boot's first entry, so it grows with realtime within a boot
    if (!bootStart.has(boot)) bootStart.set(boot, realtimeMs - 5_000)
    field('__REALTIME_TIMESTAMP', String(BigInt(Math.round(realtimeMs)) * 1000n))
    field('__MONOTONIC_TIMESTAMP', String(BigInt(Math.round(realtimeMs - bootStart.get(boot)!)) * 1000n))
    field('_BOOT_ID', boot)
    field('_MACHINE_ID', MACHINE_ID)
    field('_HOSTNAME', 'nbs-test')
    field('PRIORITY', String(e.priority))
    if (e.unit) field('_SYSTEMD_UNIT', e.unit)
    if (e.aboutUnit) field('UNIT', e.aboutUnit)
    field('SYSLOG_IDENTIFIER', e.identifier ?? e.unit?.replace(/\.service$/, '') ?? 'nbs-test')
    field('MESSAGE', e.message)
    parts.push(Buffer.from('\n'))
  }
  return Buffer.concat(parts)
}

/**
 * Writes real journal files under `ROOT/var/log/journal/<machine-id>/` with systemd-journal-remote,
 * as journald would have left them on a system that is now offline. Returns the root.
 */
export async function writeJournalRoot(entries: readonly ExportEntry[], root?: string): Promise<string> {
  const dir = root ?? (await mkdtemp(join(tmpdir(), 'nbs-journal-')))
  const machineDir = join(dir, 'var/log/journal', MACHINE_ID)
  await mkdir(machineDir, { recursive: true })
  const input = join(dir, 'entries.export')
  await writeFile(input, exportFormat(entries))
  // journalctl -D only looks into machine-id directories, and journal-remote wants a .journal name
  const r = await runProcess(JOURNAL_REMOTE, [`--output=${join(machineDir, 'remote.journal')}`, input])
  await rm(input)
  if (r.notFound) throw new Error(`${JOURNAL_REMOTE} not found: install Debian's systemd-journal-remote`)
  if (r.exitCode !== 0) throw new Error(`systemd-journal-remote failed (${r.exitCode}): ${r.stderr.text}`)
  return dir
}
