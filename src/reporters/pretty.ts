import pc from 'picocolors'
import { formatDuration } from '../checks/duration.js'
import { failsRun } from '../report/summary.js'
import { formatLocation, resultLocation } from '../report/location.js'
import type { CheckResult, PlannedCheck, RunReport, Severity } from '../report/types.js'
import { groupByHost, hostName } from './fleet.js'
import { fleetProgress, type FleetProgress } from './fleet-progress.js'
import { fleetTable, hostCounts } from './fleet-table.js'
import { displayName, oneLineMessage, sanitizeText } from './sanitize.js'
import type { ReporterFactory } from './types.js'

const TAIL_LINES = 10
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/** `(2 not on this machine, 3 on unreachable hosts)` after the skipped count, or nothing. */
function skipNotes(s: RunReport['summary']): string {
  const notes = []
  if (s.notThisMachine) notes.push(`${s.notThisMachine} not on this machine`)
  if (s.unreachable) notes.push(`${s.unreachable} on unreachable hosts`)
  return notes.length ? ` (${notes.join(', ')})` : ''
}

/**
 * For people: on a terminal a live status area (counts, running checks, elapsed) and at the end the
 * checks grouped by phase; when piped, one plain line per finished check. Both end with the details
 * of what failed and a summary. A fleet run (`--on`) shows one live line per host, prefixes piped
 * lines with the host, groups the checks by host and closes with a per-host table.
 */
export const prettyReporter: ReporterFactory = ({ sink }) => {
  const c = pc.createColors(sink.color)
  const running = new Map<string, { check: PlannedCheck; since: number }>()
  let total = 0
  let done = 0
  let started = 0
  let liveLines = 0
  let frame = 0
  let timer: NodeJS.Timeout | undefined
  /** set in a fleet run */
  let fleet: FleetProgress | undefined
  let hostWidth = 0
  // one check id runs once per host in a fleet run
  const key = (check: PlannedCheck) => `${check.host}\0${check.id}`

  const icon = (r: CheckResult, failOn: Severity) => {
    if (r.status === 'passed') return c.green('✓')
    if (r.status === 'skipped') return c.dim('↓')
    return failsRun(r, failOn) ? c.red('✗') : c.yellow('⚠')
  }
  const time = (ms: number) => c.dim(formatDuration(ms))

  const line = (r: CheckResult, failOn: Severity) => {
    const title = r.title && r.title !== r.id ? `  ${c.dim(displayName(r.title))}` : ''
    const note = r.status === 'passed' && r.message ? c.dim(`  ${oneLineMessage(r.message, 200)}`) : ''
    const what = r.status === 'skipped' ? c.dim(`skipped: ${oneLineMessage(r.message, 200)}`) : `${time(r.durationMs)}${note}`
    const retried = r.attempts.length > 1 ? c.dim(` (${r.attempts.length} attempts)`) : ''
    return `${icon(r, failOn)} ${displayName(r.id)}${title}  ${what}${retried}`
  }

  const clearLive = () => {
    if (liveLines > 0) sink.write(`\x1b[${liveLines}A\x1b[J`)
    liveLines = 0
  }
  const drawLive = () => {
    const now = performance.now()
    const width = Math.max(20, sink.columns - 1)
    const rows = fleet ? fleet.lines(now, SPINNER[frame % SPINNER.length]!, c, width) : [...running.values()].slice(0, 6).map(({ check, since }) => `  ${c.cyan(SPINNER[frame % SPINNER.length]!)} ${displayName(check.id)} ${c.dim(formatDuration(now - since))}`)
    if (!fleet && running.size > 6) rows.push(c.dim(`  … and ${running.size - 6} more`))
    rows.push(`${c.bold(`${done}/${total}`)} done · ${running.size} running · ${formatDuration(now - started)}`)
    const text = rows.map((r) => (r.length > width + 20 ? r.slice(0, width + 20) : r)).join('\n')
    sink.write(`${text}\n`)
    liveLines = rows.length
  }
  const redraw = () => {
    frame++
    clearLive()
    drawLive()
  }

  const details = (r: CheckResult, inFleet: boolean): string[] => {
    const host = inFleet ? `${c.bold(hostName(r.host))} ${c.dim('·')} ` : ''
    const out = [`${icon(r, 'error')} ${host}${c.bold(displayName(r.id))} ${c.dim(`(${r.phase}, ${r.source})`)}`]
    // a Nix error: where it is first, as compilers print it, then Nix's code frame
    const loc = resultLocation(r)
    const [first = '', ...rest] = sanitizeText(r.message ?? r.status).split('\n')
    const where = loc && !first.includes(`${loc.file}:${loc.line}`) ? `${c.cyan(sanitizeText(formatLocation(loc)))}: ` : ''
    out.push(`    ${where}${c.red(first)}`, ...rest.map((l) => `    ${c.red(l)}`))
    if (loc?.codeFrame) out.push(...sanitizeText(loc.codeFrame).split('\n').map((l) => c.dim(`      ${l}`)))
    for (const stream of ['stderr', 'stdout'] as const) {
      const text = r[stream]?.text.trimEnd()
      if (!text) continue
      const lines = sanitizeText(text).split('\n').slice(-TAIL_LINES)
      out.push(c.dim(`    ── ${stream} (last ${lines.length} lines) ──`), ...lines.map((l) => c.dim(`    ${l}`)))
    }
    return out
  }

  /** The checks host by host, phase by phase; an unreachable host's skipped checks as one line. */
  const byHost = (report: RunReport): string[] => {
    const targets = new Map(report.hosts.map((h) => [h.name, h.target]))
    return groupByHost(report).flatMap((g) => {
      const target = targets.get(g.host)
      const out = [`${c.bold(hostName(g.host))}${target ? `  ${c.dim(displayName(target))}` : ''}`]
      for (const phase of g.phases) {
        out.push(`  ${c.bold(displayName(phase.name))}`)
        const cut = phase.checks.filter((r) => r.skip === 'unreachable').length
        out.push(...phase.checks.filter((r) => r.skip !== 'unreachable').map((r) => `    ${line(r, report.failOn)}`))
        if (cut) out.push(`    ${c.dim(`↓ ${cut} check${cut === 1 ? '' : 's'} skipped: host unreachable`)}`)
      }
      return out
    })
  }

  return {
    onRunStart(run) {
      total = run.total
      started = performance.now()
      if (run.fleet) {
        fleet = fleetProgress(run, run.failOn)
        hostWidth = Math.max(0, ...run.hosts.map((h) => [...hostName(h)].length))
      }
      if (sink.isTTY) timer = setInterval(redraw, 100).unref()
      else if (run.fleet) {
        const n = run.hosts.length
        sink.write(`nbs check: ${total} check${total === 1 ? '' : 's'} on ${n} host${n === 1 ? '' : 's'} (${run.hosts.map((h) => hostName(h)).join(', ')})\n`)
      } else sink.write(`nbs check: ${total} check${total === 1 ? '' : 's'} on ${displayName(run.host)}\n`)
    },
    onCheckStart(check) {
      running.set(key(check), { check, since: performance.now() })
      fleet?.start(check, performance.now())
    },
    onCheckEnd(result) {
      done++
      running.delete(key(result))
      fleet?.end(result)
      if (sink.isTTY) return
      // hosts finish interleaved: each plain line says whose check it was
      const host = fleet ? `${hostName(result.host).padEnd(hostWidth)}  ` : ''
      sink.write(`${host}${line(result, 'error')}\n`)
    },
    onRunEnd(report: RunReport) {
      if (timer) clearInterval(timer)
      clearLive()
      const out: string[] = []
      const all = report.fleet ? groupByHost(report).flatMap((g) => g.phases.flatMap((p) => p.checks)) : report.phases.flatMap((p) => p.checks)
      if (sink.isTTY && report.fleet) out.push(...byHost(report))
      else if (sink.isTTY) {
        for (const phase of report.phases) {
          if (phase.checks.length === 0) continue
          out.push(c.bold(phase.name))
          out.push(...phase.checks.map((r) => `  ${line(r, report.failOn)}`))
        }
      }
      const broken = all.filter((r) => r.status === 'failed' || r.status === 'errored')
      if (broken.length) out.push('', ...broken.flatMap((r) => [...details(r, report.fleet), '']))
      if (report.fleet) {
        if (out.at(-1) !== '') out.push('')
        out.push(...fleetTable(report, { c, ...(sink.isTTY ? { width: sink.columns - 1 } : {}) }))
      }
      const s = report.summary
      const parts = [
        s.passed && c.green(`${s.passed} passed`),
        s.failed && c.red(`${s.failed} failed`),
        s.errored && c.red(`${s.errored} errored`),
        s.skipped && c.dim(`${s.skipped} skipped${skipNotes(s)}`),
        s.warnings && c.yellow(`${s.warnings} warning${s.warnings === 1 ? '' : 's'}`),
      ].filter(Boolean)
      if (total === 0) out.push(c.dim('no checks selected'))
      out.push('', ` ${c.dim('Checks')}  ${parts.join(c.dim(' · ')) || '0'} ${c.dim(`(${s.total})`)}`)
      if (report.fleet) out.push(`  ${c.dim('Hosts')}  ${hostCounts(report, c)}`)
      out.push(`   ${c.dim('Time')}  ${formatDuration(report.durationMs)}`)
      if (report.interrupted) out.push(` ${c.yellow(`Interrupted by ${report.interrupted.signal}`)}`)
      sink.write(`${out.join('\n')}\n`)
    },
  }
}
