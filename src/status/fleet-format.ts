import pc from 'picocolors'
import { formatWhen } from '../build/history-view.js'
import { oneLineMessage } from '../reporters/sanitize.js'
import type { FleetStatus, FleetStatusRow } from './fleet.js'

const HEADERS = ['HOST', 'RUNNING', 'PROFILE', 'SYNC', 'REVISION', 'LAST BUILD', 'FAILED UNITS', 'JOURNAL', 'REBOOT', 'STATUS'] as const

function cells(h: FleetStatusRow, now: Date): string[] {
  const r = h.report
  if (!r) return [h.name, '—', '—', '—', '—', '—', '—', '—', '—', h.state]
  const g = r.generation
  const running = g.running === null ? (g.currentSystem ? 'not a generation' : '—') : `g${g.running}${g.runningSpecialisation ? `/${g.runningSpecialisation}` : ''}`
  const b = r.lastBuild
  return [
    h.name,
    running,
    g.profile ? `g${g.profile.number}` : '—',
    g.state,
    r.revision.status,
    b ? `${b.success ? 'ok' : 'failed'} ${formatWhen(b.buildEnd, now)}` : 'none',
    String(r.failedUnits.length),
    r.journalRead ? String(r.journalErrors) : 'not read',
    r.rebootNeeded.needed ? 'yes' : 'no',
    r.overallStatus,
  ]
}

/** `nbs status --on`: one row per host, then why each host that is not healthy is not. */
export function formatFleetStatus(f: FleetStatus, opts: { color?: boolean; now?: Date } = {}): string {
  const c = pc.createColors(opts.color ?? false)
  const now = opts.now ?? new Date()
  const rows = f.hosts.map((h) => cells(h, now))
  const widths = HEADERS.map((head, i) => Math.max(head.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: readonly string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')
  const paint = (status: string, text: string) =>
    status === 'success' ? c.green(text) : status === 'degraded' ? c.yellow(text) : status === 'not-reached' ? c.dim(text) : c.red(text)
  const out = [c.bold(line(HEADERS))]
  f.hosts.forEach((h, i) => {
    const r = rows[i]!
    out.push(line(r.slice(0, -1).concat(paint(r.at(-1)!, r.at(-1)!))))
  })
  const why: string[] = []
  for (const h of f.hosts) {
    if (h.reason) why.push(`  ${h.name}: ${oneLineMessage(h.reason, 200)}`)
    if (h.report && h.report.overallStatus !== 'success') for (const reason of h.report.reasons) why.push(`  ${h.name}: ${oneLineMessage(reason, 200)}`)
  }
  if (why.length) out.push('', ...why.map((w) => c.dim(w)))
  const count = (pred: (h: FleetStatusRow) => boolean) => f.hosts.filter(pred).length
  const healthy = count((h) => h.report?.overallStatus === 'success')
  out.push('', `${healthy} of ${f.hosts.length} host${f.hosts.length === 1 ? '' : 's'} healthy and in sync${count((h) => h.state === 'unreachable') ? `, ${count((h) => h.state === 'unreachable')} unreachable` : ''}`)
  return `${out.join('\n')}\n`
}
