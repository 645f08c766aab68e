/** Small builders for RunReport fixtures; summary and status are derived like the runner does. */
import { runStatus, summarize } from '../../src/report/summary.js'
import type { CheckResult, RunReport, Severity } from '../../src/report/types.js'

export function check(overrides: Partial<CheckResult> & { id: string }): CheckResult {
  const status = overrides.status ?? 'passed'
  const durationMs = overrides.durationMs ?? 12.5
  return {
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
  return {
    schemaVersion: 1,
    tool: { name: 'nbs', version: '0.1.0' },
    host: 'testhost',
    flake: '.#nixosConfigurations.testhost',
    root: '/work/project',
    startedAt: '2025-01-02T03:04:05.000Z',
    finishedAt: '2025-01-02T03:04:07.500Z',
    durationMs: 2500,
    status: runStatus(all, failOn, opts.interrupted !== undefined),
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
} satisfies Record<string, RunReport>

export type FixtureName = keyof typeof fixtures
