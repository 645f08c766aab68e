import pc from 'picocolors'
import { formatWhen } from '../records/view.js'
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
    // no systemd to ask (not running, not readable): "0" would claim units were looked at
    r.systemState === null ? 'not read' : String(r.failedUnits.length),
    r.journalRead ? String(r.journalErrors) : 'not read',
    g.isNixOS ? (r.rebootNeeded.needed ? 'yes' : 'no') : '—',
    g.isNixOS ? r.overallStatus : 'not NixOS',
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
    status === 'success' ? c.green(text) : status === 'degraded' ? c.yellow(text) : status === 'not-reached' || status === 'interrupted' ? c.dim(text) : c.red(text)
  const out = [c.bold(line(HEADERS))]
  f.hosts.forEach((h, i) => {
    const r = rows[i]!
    out.push(line(r.slice(0, -1).concat(paint(r.at(-1)!, r.at(-1)!))))
  })
  const why: string[] = []
  for (const h of f.hosts) {
    if (h.reason) why.push(`  ${h.name}: ${oneLineMessage(h.reason, 200)}`)
    if (h.report && !h.report.generation.isNixOS) why.push(`  ${h.name}: ${oneLineMessage(h.report.generation.reason ?? 'not a NixOS system', 200)}`)
    else if (h.report && h.report.overallStatus !== 'success') for (const reason of h.report.reasons) why.push(`  ${h.name}: ${oneLineMessage(reason, 200)}`)
  }
  if (why.length) out.push('', ...why.map((w) => c.dim(w)))
  const count = (pred: (h: FleetStatusRow) => boolean) => f.hosts.filter(pred).length
  const healthy = (h: FleetStatusRow) => h.report?.overallStatus === 'success' && h.report.generation.isNixOS
  const unknownRevision = count((h) => healthy(h) && h.report!.revision.status === 'unknown')
  const extra = [
    ...(count((h) => h.state === 'unreachable') ? [`${count((h) => h.state === 'unreachable')} unreachable`] : []),
    ...(count((h) => h.state === 'not-reached') ? [`${count((h) => h.state === 'not-reached')} not reached`] : []),
    // healthy, but nothing said which revision runs: "in sync" would be a guess
    ...(unknownRevision ? [`revision unknown on ${unknownRevision} (nbs status --on … --eval compares with the flake)`] : []),
  ]
  out.push('', `${count(healthy)} of ${f.hosts.length} host${f.hosts.length === 1 ? '' : 's'} healthy${extra.length ? `; ${extra.join(', ')}` : ''}`)
  return `${out.join('\n')}\n`
}
