/**
 * Fleet runs (`--on`) hold one copy of the check graph per host, so the same check id appears once
 * per host and the report's phases interleave hosts. Every format reads them host by host, in
 * inventory order, through these helpers.
 */
import { failsRun } from '../report/summary.js'
import type { CheckResult, RunReport } from '../report/types.js'
import { displayName } from './sanitize.js'

/** Shown instead of an empty or whitespace-only host name. */
export const UNNAMED_HOST = '(unnamed host)'

/** A host name for one-line slots: single-line, trimmed, never empty. */
export const hostName = (host: string | undefined): string => displayName(host, UNNAMED_HOST)

export interface HostPhase {
  name: string
  checks: CheckResult[]
}

export interface HostGroup {
  /** the host as the results carry it (raw) */
  host: string
  /** its non-empty phases in run order, each with its checks in report order */
  phases: HostPhase[]
}

/**
 * The results per host: hosts in the order of `report.hosts` (inventory order), then any host only
 * the results name, in order of appearance; a host without results is left out.
 */
export function groupByHost(report: Pick<RunReport, 'hosts' | 'phases'>): HostGroup[] {
  const groups = new Map<string, Map<string, CheckResult[]>>()
  for (const h of report.hosts) groups.set(h.name, new Map())
  for (const phase of report.phases) {
    for (const check of phase.checks) {
      let phases = groups.get(check.host)
      if (!phases) groups.set(check.host, (phases = new Map()))
      let checks = phases.get(phase.name)
      if (!checks) phases.set(phase.name, (checks = []))
      checks.push(check)
    }
  }
  const order = report.phases.map((p) => p.name)
  return [...groups]
    .filter(([, phases]) => phases.size > 0)
    .map(([host, phases]) => ({
      host,
      phases: order.filter((name, i) => order.indexOf(name) === i && phases.has(name)).map((name) => ({ name, checks: phases.get(name)! })),
    }))
}

/** Every result with its phase, in reading order: report order, or host by host in a fleet run. */
export function resultsInOrder(report: Pick<RunReport, 'fleet' | 'hosts' | 'phases'>): { check: CheckResult; phase: string }[] {
  const phases = report.fleet ? groupByHost(report).flatMap((g) => g.phases) : report.phases
  return phases.flatMap((p) => p.checks.map((check) => ({ check, phase: p.name })))
}

/**
 * The failed and errored results of a run, those that fail it first (then the tolerated failed
 * warnings), each group in reading order: what CI outputs that show only the first few list.
 */
export function brokenChecks(report: Pick<RunReport, 'fleet' | 'hosts' | 'phases' | 'failOn'>): CheckResult[] {
  const broken = resultsInOrder(report).map((x) => x.check).filter((r) => r.status === 'failed' || r.status === 'errored')
  return [...broken.filter((r) => failsRun(r, report.failOn)), ...broken.filter((r) => !failsRun(r, report.failOn))]
}
