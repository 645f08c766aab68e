import type { Exec } from '../checks/types.js'
import { z } from 'zod'
import type { Machine } from '../machine/types.js'
import { commandError, journalText, matchesAnyGlob, streamJournal } from './systemd.js'

export interface FailedUnit {
  unit: string
  load: string
  active: string
  sub: string
  description: string
  /** the unit's last journal lines this boot, oldest first, as `identifier: message` */
  journal: string[]
}

export interface FailedUnitsResult {
  units: FailedUnit[]
  /** failed units left out by `ignore` */
  ignored: string[]
  /** set when the journal could not be read: the units are still reported, without their lines */
  journalError?: string
}

export interface FailedUnitsOptions {
  /** the running machine whose units are listed (its `systemctl` and `journalctl` run through `machine.exec`) */
  machine: Machine
  /** unit-name globs (`*`, `?`, `[...]`) to leave out, e.g. `user@*.service` */
  ignore?: readonly string[]
  /** journal lines kept per unit (default 10) */
  journalLines?: number
}

/** The `failed-units` options, shared by the check and `nbs status`. */
export const failedUnitsOptionsSchema = z.object({
  ignore: z.array(z.string()).default([]).describe('unit globs to leave out, e.g. "user@*.service"'),
  journalLines: z.number().int().min(0).max(1000).default(10),
})

type UnitRow = Omit<FailedUnit, 'journal'>

/**
 * The failed units of the running system with their last journal lines: one `systemctl
 * list-units` call (JSON; the plain listing where systemd predates `--output=json`) and one
 * `journalctl` call for all of them, never one process per unit. Throws when systemctl fails; a
 * journal that cannot be read only costs the lines (`journalError`), not the answer.
 */
export async function checkFailedUnits(opts: FailedUnitsOptions): Promise<FailedUnitsResult> {
  const { exec } = opts.machine
  const rows = await listFailedUnits(exec)
  const ignore = opts.ignore ?? []
  const kept = rows.filter((r) => !matchesAnyGlob(r.unit, ignore))
  const ignored = rows.filter((r) => matchesAnyGlob(r.unit, ignore)).map((r) => r.unit)
  const { lines, error } = await lastJournalLines(exec, kept.map((r) => r.unit), opts.journalLines ?? 10)
  const units = kept.map((r) => ({ ...r, journal: lines.get(r.unit) ?? [] }))
  return error ? { units, ignored, journalError: error } : { units, ignored }
}

const LIST = ['list-units', '--state=failed', '--all', '--no-pager']

async function listFailedUnits(exec: Exec): Promise<UnitRow[]> {
  const json = await exec('systemctl', [...LIST, '--output=json'])
  if (json.notFound) throw commandError('systemctl list-units', json)
  if (json.exitCode === 0) {
    const rows = parseUnitsJson(json.stdout.text)
    if (rows) return rows
  }
  // systemd before 246 rejects --output=json (or prints a table): ask for the plain listing
  const plain = await exec('systemctl', [...LIST, '--plain', '--no-legend'])
  if (plain.exitCode !== 0) throw commandError('systemctl list-units', plain)
  return parseUnitsText(plain.stdout.text)
}

/** `systemctl list-units --output=json` rows; undefined when the text is not that JSON. */
export function parseUnitsJson(text: string): UnitRow[] | undefined {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(data)) return undefined
  return data.flatMap((d: Record<string, unknown>) =>
    d && typeof d.unit === 'string'
      ? [{ unit: d.unit, load: str(d.load), active: str(d.active), sub: str(d.sub), description: str(d.description) }]
      : [],
  )
}

/**
 * `systemctl list-units --plain --no-legend` lines: `UNIT LOAD ACTIVE SUB DESCRIPTION...`.
 * Older systemd prints a `●` marker before units that are not found or failed even with --plain.
 */
export function parseUnitsText(text: string): UnitRow[] {
  const rows: UnitRow[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s*[●*]\s*/u, '').trim()
    if (!line) continue
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line)
    if (!m) continue
    rows.push({ unit: m[1]!, load: m[2]!, active: m[3]!, sub: m[4]!, description: m[5]! })
  }
  return rows
}

/** Fields whose value names the unit an entry is about, most specific first. */
const UNIT_FIELDS = ['UNIT', 'OBJECT_SYSTEMD_UNIT', 'COREDUMP_UNIT', '_SYSTEMD_UNIT'] as const

async function lastJournalLines(
  exec: Exec,
  units: string[],
  keep: number,
): Promise<{ lines: Map<string, string[]>; error?: string }> {
  const lines = new Map<string, string[]>(units.map((u) => [u, []]))
  if (units.length === 0 || keep <= 0) return { lines }
  const fields = [...UNIT_FIELDS, 'MESSAGE', 'SYSLOG_IDENTIFIER', '_COMM'].join(',')
  // bounded: a crash-looping unit must not stream its whole boot
  const args = ['-o', 'json', '--no-pager', '-b', '-n', String(Math.max(1000, units.length * 200)), `--output-fields=${fields}`, ...units.flatMap((u) => ['-u', u])]
  const r = await streamJournal(exec, args, (e) => {
    // systemd's own "Failed to start x" lines come from init.scope with UNIT=x: attribute them to x
    const unit = UNIT_FIELDS.map((f) => journalText(e[f])).find((u) => u !== undefined && lines.has(u))
    if (!unit) return
    const list = lines.get(unit)!
    const who = journalText(e.SYSLOG_IDENTIFIER) ?? journalText(e._COMM)
    const msg = journalText(e.MESSAGE) ?? '(message not shown: too large or missing)'
    list.push(who ? `${who}: ${msg}` : msg)
    if (list.length > keep) list.shift() // a ring of the newest `keep`
  })
  return r.exitCode === 0 ? { lines } : { lines, error: commandError('journalctl', r).message }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : ''
}

/** One line for a check's message: `2 failed units: a.service, b.service`. */
export function describeFailedUnits(result: FailedUnitsResult): string {
  const n = result.units.length
  if (n === 0) return result.ignored.length ? `no failed units (${result.ignored.length} ignored)` : 'no failed units'
  return `${n} failed unit${n === 1 ? '' : 's'}: ${result.units.map((u) => u.unit).join(', ')}`
}
