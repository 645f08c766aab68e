import pc from 'picocolors'
import { firstError, formatWhen } from '../records/view.js'
import { displayName, oneLineMessage } from '../reporters/sanitize.js'
import type { StatusReport } from './report.js'

const SUMMARY: Record<StatusReport['overallStatus'], string> = {
  success: 'System is healthy and in sync',
  'out-of-sync': 'System is out of sync with the flake',
  'build-errors': 'Build errors detected',
  degraded: 'System is degraded',
}

function homeManagerText(h: NonNullable<StatusReport['homeManager']>): string {
  if (h.mode === 'standalone') return `${h.generation} (standalone)`
  return `NixOS module (${h.unit})${h.staleLinks ? `; stale profile link home-manager-${h.staleLinks.newest}-link` : ''}`
}

/** The seed's human sections: generation, build errors, boot/systemd, summary. */
export function formatStatus(r: StatusReport, opts: { verbose?: boolean; color?: boolean; now?: Date } = {}): string {
  const c = pc.createColors(opts.color ?? false)
  const ok = (s: string) => `${c.green('✓')} ${s}`
  const bad = (s: string) => `${c.red('✗')} ${s}`
  const warn = (s: string) => `${c.yellow('!')} ${s}`
  const field = (name: string, value: string) => `  ${`${name}:`.padEnd(20)}${value}`
  const g = r.generation
  const out = [c.bold('=== NixOS Build Status ==='), '', c.bold('Generation Information:')]
  if (!g.isNixOS) out.push(field('NixOS generation', c.dim(g.reason ?? 'not a NixOS system')))
  else {
    const spec = g.runningSpecialisation ? `, specialisation ${g.runningSpecialisation}` : ''
    const running = g.running === null ? (g.currentSystem ?? 'unknown') : `g${g.running}${spec}`
    out.push(field('NixOS generation', `${g.generation ?? 'none'} (running ${running}, newest ${g.newest === null ? '—' : `g${g.newest}`})`))
  }
  out.push(field('Home Manager', r.homeManager ? homeManagerText(r.homeManager) : c.dim('none')))
  const stateText = g.state === 'in-sync' ? c.green(g.state) : g.state === 'rolled-back' ? c.cyan(g.state) : g.state === 'unknown' ? c.yellow(g.state) : c.red(g.state)
  out.push(field('Status', stateText))
  if ((g.state !== 'in-sync' || opts.verbose) && g.isNixOS) out.push(`  ${' '.repeat(20)}${c.dim(oneLineMessage(g.message, 300))}`)
  const rev = r.revision
  const revText = rev.status === 'equal' ? c.green('equal') : rev.status === 'differs' ? c.red('differs') : c.yellow('unknown')
  out.push(field('Flake revision', revText))
  if ((rev.status !== 'equal' || opts.verbose) && g.isNixOS) out.push(`  ${' '.repeat(20)}${c.dim(oneLineMessage(rev.message, 300))}`)
  for (const n of rev.notes) out.push(`  ${' '.repeat(20)}${c.dim(oneLineMessage(n, 300))}`)
  out.push(field('Commit', r.commit ? `${r.commit}${r.commitDirty ? c.yellow(' (dirty)') : ''}` : c.dim('unknown')))
  out.push(field('Nixpkgs', r.nixpkgsRev ? r.nixpkgsRev.slice(0, 12) : c.dim('unknown')))
  if (r.nixosVersion) out.push(field('NixOS version', r.nixosVersion))
  else if (r.nixosLabel) out.push(field('NixOS label', r.nixosLabel))
  out.push(field('Reboot needed', r.rebootNeeded.needed ? c.yellow(`yes (${r.rebootNeeded.differs.join(', ')} changed)`) : 'no'))
  if (opts.verbose && g.currentSystem) out.push(field('Running system', g.currentSystem))

  out.push('', c.bold('Build Error Check:'))
  const b = r.lastBuild
  if (!b) out.push(`  ${c.dim('no build recorded yet (nbs build records every rebuild)')}`)
  else if (b.success) out.push(`  ${ok(`Last build succeeded: ${b.target} ${b.action}, ${formatWhen(b.buildEnd, opts.now ?? new Date())}`)}`)
  else {
    out.push(`  ${bad(`Last build failed: ${b.target} ${b.action}, ${formatWhen(b.buildEnd, opts.now ?? new Date())}, exit ${b.exitCode}`)}`)
    const first = firstError(b)
    if (first) out.push(`    ${c.red(displayName(first))}`)
    if (opts.verbose) for (const e of b.errorDetails.slice(0, 5)) out.push(`    ${c.dim(`${e.kind}${e.drv ? ` ${e.drv}` : ''}${e.file ? ` ${e.file}:${e.line ?? '?'}:${e.column ?? '?'}` : ''}`)}`)
    out.push(`    ${c.dim(`log: ${b.buildLogPath}`)}`)
  }

  out.push('', c.bold('Boot Status:'))
  if (r.systemState === null) out.push(`  ${c.dim('systemd state not read (no running systemd as PID 1 for this root)')}`)
  else out.push(field('System state', r.systemState === 'running' ? c.green(r.systemState) : c.yellow(r.systemState)))
  if (r.failedUnits.length) {
    out.push(`  ${bad(`${r.failedUnits.length} failed unit${r.failedUnits.length === 1 ? '' : 's'}: ${r.failedUnits.join(', ')}`)}`)
    if (opts.verbose) for (const u of r.failedUnitDetails) out.push(...u.journal.map((l) => `    ${c.dim(`${u.unit}: ${displayName(l)}`)}`))
  } else if (r.systemState !== null) out.push(`  ${ok('All systemd units started successfully')}`)
  const window = r.journal.since === 'boot' ? 'since boot' : r.journal.since === 'activation' ? 'since activation' : `in the last ${r.journal.since}`
  const journalLine = `${r.journalErrors} journal error${r.journalErrors === 1 ? '' : 's'} ${window}${r.journal.maxErrors ? ` (max ${r.journal.maxErrors})` : ''}`
  if (!r.journalRead) out.push(`  ${c.dim(`journal not read${r.journal.reason ? `: ${r.journal.reason}` : ''}`)}`)
  else out.push(`  ${!r.journal.ok ? warn(journalLine) : ok(journalLine)}`)
  if (r.journalErrors && (opts.verbose || r.journalTop.length <= 3)) for (const t of r.journalTop.slice(0, 5)) out.push(`    ${c.dim(`${t.unit}: ${oneLineMessage(t.message, 160)}${t.count > 1 ? ` (×${t.count})` : ''}`)}`)

  if (r.notes.length && opts.verbose) out.push('', c.bold('Notes:'), ...r.notes.map((n) => `  ${c.dim(n)}`))
  out.push('', c.bold('=== Summary ==='))
  const line = r.overallStatus === 'success' && r.revision.status === 'unknown' ? `No problems found; flake revision unknown (${oneLineMessage(r.revision.message, 120)})` : SUMMARY[r.overallStatus]
  out.push(r.overallStatus === 'success' ? ok(line) : r.overallStatus === 'degraded' ? warn(line) : bad(line))
  if (r.overallStatus !== 'success') for (const reason of r.reasons) out.push(`  ${c.dim(oneLineMessage(reason, 200))}`)
  return `${out.join('\n')}\n`
}
