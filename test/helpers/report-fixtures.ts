/** Small builders for RunReport fixtures; summary, status and hosts are derived like the runner does. */
import { hostSummary, runStatus, summarize } from '../../src/report/summary.js'
import type { CheckResult, HostSummary, PlannedCheck, RunReport, RunStart, Severity } from '../../src/report/types.js'

export function check(overrides: Partial<CheckResult> & { id: string }): CheckResult {
  const status = overrides.status ?? 'passed'
  const durationMs = overrides.durationMs ?? 12.5
  return {
    host: 'testhost',
    title: `Title of ${overrides.id}`,
    phase: 'eval',
    severity: 'error',
    tags: [],
    needs: [],
    source: 'checks/example.ts',
    status,
    durationMs,
    startedAt: '2025-01-02T03:04:05.678Z',
    attempts: status === 'skipped' ? [] : [{ status, durationMs }],
    ...overrides,
  }
}

export interface ReportOptions {
  failOn?: Severity
  interrupted?: 'SIGINT' | 'SIGTERM'
  overrides?: Partial<RunReport>
}

type Phases = Record<string, CheckResult[]> | { name: string; checks: CheckResult[] }[]

/** A report from phases given as `{ phaseName: checks }` (insertion order is run order) or a list. */
export function report(phases: Phases, opts: ReportOptions = {}): RunReport {
  const list = Array.isArray(phases) ? phases : Object.entries(phases).map(([name, checks]) => ({ name, checks }))
  const all = list.flatMap((p) => p.checks)
  const failOn = opts.failOn ?? 'error'
  const interrupted = opts.interrupted !== undefined
  return {
    schemaVersion: 2,
    tool: { name: 'nbs', version: '0.1.0' },
    host: 'testhost',
    fleet: false,
    hosts: [hostSummary({ name: 'testhost', target: 'this machine' }, all, failOn, interrupted)],
    flake: '.#nixosConfigurations.testhost',
    root: '/work/project',
    startedAt: '2025-01-02T03:04:05.000Z',
    finishedAt: '2025-01-02T03:04:07.500Z',
    durationMs: 2500,
    status: runStatus(all, failOn, interrupted),
    ...(opts.interrupted ? { interrupted: { signal: opts.interrupted } } : {}),
    failOn,
    summary: summarize(all),
    phases: list.map(({ name, checks }) => ({ name, checks: checks.map((c) => ({ ...c, phase: name })) })),
    ...opts.overrides,
  }
}

const failed = check({
  id: 'flake-eval',
  title: 'Flake evaluates',
  status: 'failed',
  kind: 'CheckFailed',
  message: 'attribute "foo" missing\nat /etc/nixos/flake.nix:12',
  details: { file: '/etc/nixos/flake.nix', line: 12, assertions: [{ name: 'a', ok: false }], tags: ['x', 'y'] },
  stdout: { text: 'building...\n', bytes: 12, truncated: false },
  stderr: { text: 'error: attribute missing\n', bytes: 25, truncated: false },
})

export interface FleetHost {
  name: string
  target: string
  reachable?: 'yes' | 'no'
  unreachableReason?: string
  /** its results, each naming the phase it belongs to */
  checks: CheckResult[]
}

/**
 * A fleet run (`--on`) over `hosts`. The report's phases interleave the hosts round-robin, as events
 * of several hosts arrive, so a format that groups by host must really regroup.
 */
export function fleetReport(selection: string, hosts: FleetHost[], opts: ReportOptions = {}): RunReport {
  const failOn = opts.failOn ?? 'error'
  const interrupted = opts.interrupted !== undefined
  const withHost = hosts.map((h) => h.checks.map((c) => ({ ...c, host: h.name })))
  const phaseNames = [...new Set(withHost.flat().map((c) => c.phase))]
  const phases = phaseNames.map((name) => {
    const per = withHost.map((checks) => checks.filter((c) => c.phase === name))
    const checks: CheckResult[] = []
    for (let i = 0; i < Math.max(...per.map((p) => p.length)); i++) for (const p of per) if (p[i]) checks.push(p[i]!)
    return { name, checks }
  })
  const all = withHost.flat()
  const summaries: HostSummary[] = hosts.map(({ checks: _checks, ...h }) => hostSummary(h, all, failOn, interrupted))
  return {
    ...report(phases, opts),
    host: selection,
    fleet: true,
    hosts: summaries,
    ...opts.overrides,
  }
}

const SSH_REFUSED = 'ssh: connect to host 10.0.0.7 port 2222: Connection refused'

/** One host's checks in a fleet run: two local phases, then `reachable` and the machine checks. */
function hostChecks(ip: string, opts: { toplevelMs: number; failedUnits?: Partial<CheckResult>; unreachable?: string }): CheckResult[] {
  const machine = (id: string, title: string, extra: Partial<CheckResult> = {}): CheckResult =>
    opts.unreachable
      ? check({ id, title, phase: 'post-build', status: 'skipped', message: `host unreachable: ${opts.unreachable}`, skip: 'unreachable' })
      : check({ id, title, phase: 'post-build', ...extra })
  return [
    check({ id: 'flake-eval', title: 'Flake evaluates', phase: 'pre-build', durationMs: 800 }),
    check({ id: 'toplevel', title: 'System closure builds', phase: 'build', durationMs: opts.toplevelMs }),
    check({
      id: 'reachable',
      title: `ssh root@${ip} answers`,
      phase: 'post-build',
      durationMs: 150,
      ...(opts.unreachable ? { status: 'errored', message: opts.unreachable, attempts: [{ status: 'errored', durationMs: 150, message: opts.unreachable }] } : {}),
    }),
    machine('failed-units', 'no systemd unit has failed', opts.failedUnits),
    machine('current-system', 'runs the built system', { durationMs: 40 }),
  ]
}

/**
 * Three hosts: web1 all passed, web2 with a failed check, db1 unreachable (its `reachable` errored,
 * its machine checks skipped).
 */
export const fleetFixture = fleetReport('web*,db1', [
  { name: 'web1', target: 'ssh root@10.0.0.5', reachable: 'yes', checks: hostChecks('10.0.0.5', { toplevelMs: 41_234 }) },
  {
    name: 'web2',
    target: 'ssh root@10.0.0.6',
    reachable: 'yes',
    checks: hostChecks('10.0.0.6', {
      toplevelMs: 38_000,
      failedUnits: { status: 'failed', kind: 'CheckFailed', message: 'nginx.service has failed', durationMs: 300, attempts: [{ status: 'failed', durationMs: 300 }] },
    }),
  },
  {
    name: 'db1',
    target: 'ssh root@10.0.0.7:2222',
    reachable: 'no',
    unreachableReason: SSH_REFUSED,
    checks: hostChecks('10.0.0.7', { toplevelMs: 40_100, unreachable: SSH_REFUSED }),
  },
])

/** Named fixtures covering every outcome the formats must express. */
export const fixtures = {
  passed: report({ eval: [check({ id: 'flake-eval', title: 'Flake evaluates' })] }),
  failed: report({ eval: [failed] }),
  errored: report({
    build: [check({ id: 'toplevel', status: 'errored', kind: 'Timeout', message: 'timed out after 300s', details: ['a', 1, null] })],
  }),
  skipped: report({ lint: [check({ id: 'statix', status: 'skipped', message: 'statix not installed' })] }),
  warning: report({
    lint: [check({ id: 'deadnix', severity: 'warning', status: 'failed', message: '3 unused bindings' })],
  }),
  warningFailOnWarning: report(
    { lint: [check({ id: 'deadnix', severity: 'warning', status: 'failed', message: '3 unused bindings' })] },
    { failOn: 'warning' },
  ),
  interrupted: report(
    {
      eval: [check({ id: 'flake-eval' })],
      build: [check({ id: 'toplevel', status: 'errored', kind: 'Interrupted', message: 'interrupted' })],
    },
    { interrupted: 'SIGINT' },
  ),
  zero: report({}),
  emptyPhases: report({ eval: [], build: [] }),
  multi: report({
    eval: [check({ id: 'flake-eval' }), failed],
    build: [
      check({ id: 'toplevel', durationMs: 61234.5678 }),
      check({ id: 'toplevel' }), // duplicate name
      check({ id: 'closure-size', status: 'skipped', message: 'no baseline' }),
      check({ id: 'drv', status: 'errored', kind: 'CommandNotFound', message: 'nix: command not found' }),
    ],
    lint: [check({ id: 'deadnix', severity: 'warning', status: 'failed', message: 'unused' })],
  }),
  fleet: fleetFixture,
} satisfies Record<string, RunReport>

export type FixtureName = keyof typeof fixtures

/** The RunStart event the runner sends before the checks of `r` (planned checks, in report order). */
export function runStartOf(r: RunReport): RunStart {
  const planned = ({ id, host, title, phase, severity, tags, needs, source }: CheckResult): PlannedCheck => ({ id, host, title, phase, severity, tags, needs, source })
  return {
    startedAt: r.startedAt,
    host: r.host,
    hosts: r.hosts.map((h) => h.name),
    fleet: r.fleet,
    failOn: r.failOn,
    phases: r.phases.map((p) => ({ name: p.name, checks: p.checks.map(planned) })),
    total: r.phases.reduce((t, p) => t + p.checks.length, 0),
  }
}
