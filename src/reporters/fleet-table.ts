/**
 * The pretty reporter's closing table for a fleet run: one row per host with its counts, why it
 * could not be reached, and its slowest check.
 */
import { formatDuration } from '../checks/duration.js'
import type { HostSummary, RunReport } from '../report/types.js'
import { hostName } from './fleet.js'
import { displayName, oneLineMessage } from './sanitize.js'

export interface TableColors {
  bold(s: string): string
  dim(s: string): string
  red(s: string): string
  green(s: string): string
  yellow(s: string): string
}

export interface TableOptions {
  c: TableColors
  /** fit the unreachable reason into this many columns (a terminal); unset: print it whole */
  width?: number
}

const HEADERS = ['host', 'passed', 'failed', 'skipped', 'errored', 'unreachable', 'slowest check'] as const
/** columns holding numbers are right-aligned */
const NUMERIC = new Set([1, 2, 3, 4])
const NONE = '—'

/** What the unreachable column says: ssh's reason, that the host had no way in, or nothing. */
export function unreachableCell(h: HostSummary): string {
  if (h.reachable === 'no') return oneLineMessage(h.unreachableReason, 200) || 'unreachable'
  if (h.target === 'not reached') return 'not reached (no target)'
  return NONE
}

const slowestCell = (h: HostSummary): string => (h.slowest ? `${displayName(h.slowest.id)} ${formatDuration(h.slowest.durationMs)}` : NONE)

/** Cuts a one-line string to `max` characters with an ellipsis. */
export function fit(s: string, max: number): string {
  const chars = [...s]
  return chars.length <= max ? s : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`
}

const width = (s: string): number => [...s].length

/** The table's lines (no trailing newline), or none when the report has no hosts. */
export function fleetTable(report: Pick<RunReport, 'hosts'>, { c, width: columns }: TableOptions): string[] {
  if (report.hosts.length === 0) return []
  const rows = report.hosts.map((h) => {
    const s = h.summary
    return [hostName(h.name), String(s.passed), String(s.failed), String(s.skipped), String(s.errored), unreachableCell(h), slowestCell(h)]
  })
  const widths = HEADERS.map((head, i) => Math.max(width(head), ...rows.map((r) => width(r[i]!))))
  if (columns !== undefined) {
    // the reason is the one unbounded cell: give it what the other columns leave of the terminal
    const others = widths.reduce((t, w, i) => (i === 5 ? t : t + w + 2), 1)
    widths[5] = Math.max(width(HEADERS[5]), Math.min(widths[5]!, columns - others))
    for (const r of rows) r[5] = fit(r[5]!, widths[5]!)
  }
  const pad = (s: string, i: number) => {
    const n = widths[i]! + s.length - width(s)
    if (NUMERIC.has(i)) return s.padStart(n)
    return i === HEADERS.length - 1 ? s : s.padEnd(n)
  }
  const line = (cells: string[], paint: (s: string, i: number) => string) => ` ${cells.map((cell, i) => paint(pad(cell, i), i)).join('  ')}`
  const out = [line([...HEADERS], (s) => c.dim(s))]
  report.hosts.forEach((h, row) => {
    const s = h.summary
    out.push(
      line(rows[row]!, (cell, i) => {
        if (i === 0) return h.status === 'passed' ? c.bold(cell) : c.bold(c.red(cell))
        if (i === 1 && s.passed) return c.green(cell)
        if ((i === 2 && s.failed) || (i === 4 && s.errored)) return c.red(cell)
        if (i === 5) return h.reachable === 'no' ? c.red(cell) : c.dim(cell)
        if (cell.trim() === '0' || cell.trim() === NONE) return c.dim(cell)
        return cell
      }),
    )
  })
  return out
}

/** `1 passed · 1 failed · 1 unreachable (3)`: how the hosts of a fleet run came out (disjoint counts). */
export function hostCounts(report: Pick<RunReport, 'hosts'>, c: TableColors): string {
  const reached = report.hosts.filter((h) => h.reachable !== 'no')
  const n = (status: string) => reached.filter((h) => h.status === status).length
  const unreachable = report.hosts.length - reached.length
  const parts = [
    n('passed') && c.green(`${n('passed')} passed`),
    n('failed') && c.red(`${n('failed')} failed`),
    unreachable && c.red(`${unreachable} unreachable`),
    n('interrupted') && c.yellow(`${n('interrupted')} interrupted`),
  ].filter(Boolean)
  return `${parts.join(c.dim(' · ')) || '0'} ${c.dim(`(${report.hosts.length})`)}`
}
