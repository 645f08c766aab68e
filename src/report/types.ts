/**
 * The data every reporter receives. The runner computes these once; reporters only render them.
 * Strings here are raw (as the check produced them): each format sanitises on output.
 */

export type CheckStatus = 'passed' | 'failed' | 'errored' | 'skipped'
export type Severity = 'error' | 'warning'
export type RunStatus = 'passed' | 'failed' | 'interrupted'

/** Why a check errored, or failed: a short category, used as the JUnit `type`. */
export type ErrorKind =
  | 'CheckFailed' // the check ran and what it asserts does not hold
  | 'Timeout' // it ran past its timeout; its process tree was killed
  | 'CommandNotFound' // its command does not exist
  | 'Exception' // run(ctx) threw
  | 'Interrupted' // the run was stopped by SIGINT/SIGTERM while it ran
  | 'Unreachable' // the host could not be reached over ssh (the `reachable` step)

/** Output captured from a command, bounded: head and tail are kept, the middle dropped. */
export interface CapturedText {
  text: string
  /** bytes the process actually wrote */
  bytes: number
  truncated: boolean
}

export interface Attempt {
  status: CheckStatus
  durationMs: number
  message?: string
}

/** A check as planned, before it runs. */
export interface PlannedCheck {
  id: string
  /**
   * the inventory host this check runs for: every result of a fleet run (`--on`) carries it, so
   * one check id appears once per host; single-host runs carry their one host too
   */
  host: string
  title: string
  phase: string
  severity: Severity
  tags: string[]
  needs: string[]
  /** check file, relative to the project root when inside it */
  source: string
}

export interface CheckResult extends PlannedCheck {
  status: CheckStatus
  /** one line for humans: the failure, the error or the skip reason */
  message?: string
  kind?: ErrorKind
  /** structured facts (JSON-serialisable), e.g. the failing assertions, a Nix error's file:line */
  details?: unknown
  startedAt?: string
  durationMs: number
  /** every attempt, in order; empty when the check never started */
  attempts: Attempt[]
  stdout?: CapturedText
  stderr?: CapturedText
  /**
   * why a skip happened, when it is one nbs counts apart: the host is not this machine (and has no
   * target to reach it), or its `reachable` step failed
   */
  skip?: 'not-this-machine' | 'unreachable'
}

export interface RunSummary {
  total: number
  passed: number
  failed: number
  errored: number
  skipped: number
  /** failed or errored checks of severity `warning` (included in failed/errored) */
  warnings: number
  /** machine checks skipped because the host is not this machine (included in skipped) */
  notThisMachine: number
  /** machine checks skipped because their host could not be reached (included in skipped) */
  unreachable: number
}

/** One host of a run: how it was reached and how its checks went. */
export interface HostSummary {
  /** inventory name (nixosConfigurations attribute) */
  name: string
  /** how it was reached: `this machine`, `root /mnt`, `ssh root@10.0.0.7:2222`, or `not reached` (no target, not this machine) */
  target: string
  /** the `reachable` step: `yes`/`no` for ssh hosts, absent for this machine and hosts without a target */
  reachable?: 'yes' | 'no'
  /** ssh's reason when unreachable */
  unreachableReason?: string
  /** `failed` when one of its checks fails the run */
  status: 'passed' | 'failed' | 'interrupted'
  summary: RunSummary
  /** its slowest check that ran */
  slowest?: { id: string; durationMs: number }
}

export interface RunStart {
  startedAt: string
  /** the host of a single-host run; for a fleet run, the `--on` selection */
  host: string
  /** the selected hosts, in inventory order (one for a single-host run) */
  hosts: string[]
  /** a fleet run (`--on`): reports group by host */
  fleet: boolean
  /** whether failed warnings fail the run (`--fail-on warning`) */
  failOn: Severity
  phases: { name: string; checks: PlannedCheck[] }[]
  total: number
}

export interface RunReport {
  /** 2 since fleets: `host` on every result, the `hosts` summary, `fleet` */
  schemaVersion: 2
  tool: { name: 'nbs'; version: string }
  /** the host of a single-host run; for a fleet run, the `--on` selection */
  host: string
  /** a fleet run (`--on`): results of several hosts, grouped by host in the reports */
  fleet: boolean
  /** one entry per selected host, in inventory order */
  hosts: HostSummary[]
  flake?: string
  root: string
  startedAt: string
  finishedAt: string
  durationMs: number
  status: RunStatus
  /** set when SIGINT/SIGTERM stopped the run */
  interrupted?: { signal: 'SIGINT' | 'SIGTERM' }
  /** whether failed warnings fail the run (`--fail-on warning`) */
  failOn: Severity
  summary: RunSummary
  phases: { name: string; checks: CheckResult[] }[]
}
