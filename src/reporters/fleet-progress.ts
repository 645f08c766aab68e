/**
 * Live progress of a fleet run on a terminal: one status line per host (`web1  ⠋ 3/7  failed-units 1.2s`),
 * redrawn by the pretty reporter. Events of all hosts arrive interleaved; this keeps each host's tally.
 */
import { formatDuration } from '../checks/duration.js'
import { failsRun } from '../report/summary.js'
import type { CheckResult, PlannedCheck, RunStart, Severity } from '../report/types.js'
import { hostName } from './fleet.js'
import { displayName, oneLineMessage } from './sanitize.js'
import { fit, type TableColors } from './fleet-table.js'

/** host lines drawn at most; the rest are summed up in one line */
export const MAX_HOST_LINES = 12

interface HostState {
  host: string
  total: number
  done: number
  /** checks that fail the run */
  bad: number
  /** ssh's reason once its `reachable` step errored */
  unreachable?: string
  running: Map<string, number>
}

export interface FleetProgress {
  start(check: PlannedCheck, now: number): void
  end(result: CheckResult): void
  /**
   * the host lines, names padded to one width, each at most `width` columns (a wrapped line would
   * break the redraw), and a closing line if hosts were left out
   */
  lines(now: number, spinner: string, c: TableColors & { cyan(s: string): string }, width: number): string[]
}

export function fleetProgress(run: Pick<RunStart, 'hosts' | 'phases'>, failOn: Severity): FleetProgress {
  const hosts = new Map<string, HostState>()
  const state = (host: string) => {
    let s = hosts.get(host)
    if (!s) hosts.set(host, (s = { host, total: 0, done: 0, bad: 0, running: new Map() }))
    return s
  }
  for (const h of run.hosts) state(h)
  for (const p of run.phases) for (const check of p.checks) state(check.host).total++

  const line = (s: HostState, now: number, spinner: string, c: Parameters<FleetProgress['lines']>[2], nameWidth: number, width: number) => {
    const name = hostName(s.host)
    const label = name.padEnd(nameWidth + name.length - [...name].length)
    const count = `${s.done}/${s.total || '?'}`
    const finished = s.total > 0 && s.done >= s.total && s.running.size === 0
    // what is left of the line after `  ✗ <host>  <n>/<m>  `
    const room = (used: number) => Math.max(8, width - (8 + nameWidth + count.length) - used)
    if (s.unreachable !== undefined) return `  ${c.red('✗')} ${label}  ${count}  ${c.red(fit(`unreachable: ${s.unreachable}`, room(0)))}`
    if (s.running.size > 0) {
      const [id, since] = [...s.running].sort((a, b) => a[1] - b[1])[0]!
      const more = s.running.size > 1 ? ` +${s.running.size - 1}` : ''
      const bad = s.bad ? `  ${s.bad} failed` : ''
      const elapsed = formatDuration(now - since)
      const shown = fit(displayName(id), room(1 + elapsed.length + more.length + bad.length))
      return `  ${c.cyan(spinner)} ${label}  ${count}  ${shown} ${c.dim(elapsed)}${c.dim(more)}${c.red(bad)}`
    }
    if (finished) return s.bad ? `  ${c.red('✗')} ${label}  ${count}  ${c.red(`${s.bad} failed`)}` : `  ${c.green('✓')} ${label}  ${count}  ${c.dim('done')}`
    return `  ${c.dim('·')} ${label}  ${count}  ${c.dim(s.done ? 'waiting' : 'queued')}`
  }

  return {
    start(check, now) {
      state(check.host).running.set(check.id, now)
    },
    end(result) {
      const s = state(result.host)
      s.running.delete(result.id)
      s.done++
      if (failsRun(result, failOn)) s.bad++
      if (result.id === 'reachable' && result.status === 'errored') s.unreachable = oneLineMessage(result.message, 200) || 'no answer'
    },
    lines(now, spinner, c, width) {
      const all = [...hosts.values()]
      const finished = (s: HostState) => s.unreachable !== undefined || (s.total > 0 && s.done >= s.total && s.running.size === 0)
      // too many hosts for the screen: the ones still working stay visible, in inventory order
      const shown = all.length <= MAX_HOST_LINES ? all : [...all.filter((s) => !finished(s)), ...all.filter(finished)].slice(0, MAX_HOST_LINES - 1)
      const nameWidth = Math.max(...shown.map((s) => [...hostName(s.host)].length))
      const out = all.filter((s) => shown.includes(s)).map((s) => line(s, now, spinner, c, nameWidth, width))
      const hidden = all.length - shown.length
      if (hidden > 0) {
        const done = all.filter((s) => !shown.includes(s) && finished(s)).length
        out.push(c.dim(`  … ${hidden} more host${hidden === 1 ? '' : 's'}${done ? ` (${done} finished)` : ''}`))
      }
      return out
    },
  }
}
