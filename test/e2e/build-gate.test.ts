/**
 * The build gate through the built CLI: the opt-in `build` check with real Nix on fixture flakes,
 * how opt-in checks are selected (default run, --only, enable, --tag/--phase), `nbs list`, and
 * dry-build's exact counts above the old capture bound. Run `npm run build` first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureFlake, NIX_ENV } from '../helpers/nix.js'
import { requireNix } from '../helpers/profiles.js'
import { nbs } from '../helpers/project.js'

const cleanups: (() => void)[] = []
afterAll(() => cleanups.forEach((c) => c()))

/** A project with only the built-in checks and this config. */
function project(config: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-gate-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ include: [], ...config }))
  return dir
}

type Result = { id: string; status: string; message?: string; details?: Record<string, unknown> }

/** `nbs check --reporter json`; every check's result by id. */
async function check(args: string[], config: Record<string, unknown> = {}) {
  const r = await nbs(['check', '--reporter', 'json', ...args], { cwd: project(config), env: NIX_ENV })
  expect(r.stderr).toBe('')
  const report = JSON.parse(r.stdout) as { phases: { checks: Result[] }[] }
  const checks: Record<string, Result> = Object.fromEntries(report.phases.flatMap((p) => p.checks).map((c) => [c.id, c]))
  return { exitCode: r.exitCode, checks }
}

const on = (name: string) => ['--flake', fixtureFlake(name), '--host', 'demo']

describe('the build check (opt-in), real Nix', () => {
  beforeAll(requireNix)

  it('is not part of a default run, nor of --tag or --phase selections', async () => {
    const all = await check([...on('good'), '--skip', 'generation-sync', '--skip', 'failed-units', '--skip', 'journal-errors'])
    expect(all.exitCode).toBe(0)
    expect(Object.keys(all.checks).sort()).toEqual(['dry-build', 'failed-units', 'flake-eval', 'generation-sync', 'journal-errors'])
    const tagged = await check([...on('good'), '--tag', 'nix'])
    expect(Object.keys(tagged.checks).sort()).toEqual(['dry-build', 'flake-eval'])
    const phase = await check([...on('good'), '--phase', 'build'])
    expect(Object.keys(phase.checks).sort()).toEqual(['dry-build', 'flake-eval'])
  })

  it('runs with --only build, and passes on a flake that builds', async () => {
    const { exitCode, checks } = await check([...on('good'), '--only', 'build'])
    expect(exitCode).toBe(0)
    expect(Object.keys(checks).sort()).toEqual(['build', 'flake-eval'])
    expect(checks.build).toMatchObject({ status: 'passed', message: expect.stringMatching(/^\/nix\/store\/\w{32}-nixos-system-demo-24\.05\.test \((1 built|already built)\)$/) })
  })

  it('runs when the config enables it, with the other checks of its phase', async () => {
    const { exitCode, checks } = await check([...on('good'), '--phase', 'build'], { enable: ['build'] })
    expect(exitCode).toBe(0)
    expect(Object.keys(checks).sort()).toEqual(['build', 'dry-build', 'flake-eval'])
    expect(checks.build?.status).toBe('passed')
  })

  it('fails on a builder that exits non-zero: the drv, the exit code and the last log lines', async () => {
    const { exitCode, checks } = await check([...on('build-fail'), '--only', 'build'])
    expect(exitCode).toBe(1)
    const drv = (checks['flake-eval']?.details as { drvPath: string }).drvPath
    expect(drv).toMatch(/-nixos-system-demo-build-fail\.drv$/)
    expect(checks.build).toMatchObject({
      status: 'failed',
      message: `${drv}: builder failed with exit code 3\n  > nbs-fixture: configuring\n  > nbs-fixture: compiling\n  > nbs-fixture: something went wrong`,
      details: { drvPath: drv, failedCount: 1, failed: [{ drv, exitCode: 3, logTail: ['nbs-fixture: configuring', 'nbs-fixture: compiling', 'nbs-fixture: something went wrong'] }] },
    })
  })

  it('is skipped, with the reason, for a toplevel of a platform this machine cannot build', async () => {
    const { exitCode, checks } = await check([...on('foreign-platform'), '--only', 'build'])
    expect(exitCode).toBe(0)
    expect(checks['flake-eval']).toMatchObject({ status: 'passed', details: { system: 'aarch64-linux' } })
    expect(checks.build).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^cannot build aarch64-linux here: Nix builds x86_64-linux.*; add aarch64-linux to extra-platforms/) })
  })

  it("is skipped when Nix itself refuses: a system feature this machine lacks (Nix's words)", async () => {
    const dir = project()
    writeFileSync(
      join(dir, 'flake.nix'),
      `{ outputs = { self }: { nixosConfigurations.demo.config.system.build.toplevel = derivation {
  name = "nixos-system-needs-feature"; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  requiredSystemFeatures = [ "nbs-no-such-feature" ]; args = [ "-c" "echo > $out" ];
}; }; }\n`,
    )
    const { exitCode, checks } = await check(['--flake', `path:${dir}`, '--host', 'demo', '--only', 'build'])
    expect(exitCode).toBe(0)
    expect(checks.build).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^cannot be built on this machine: a 'x86_64-linux' with features \{nbs-no-such-feature\} is required to build/) })
  })
})

describe('opt-in configuration and nbs list', () => {
  it('an unknown id in enable is exit 3, naming enable[0]', async () => {
    const r = await nbs(['check'], { cwd: project({ enable: ['biuld'] }) })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toMatch(/nbs\.config\.json: enable\[0\]: no check has the id "biuld"/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('nbs list marks opt-in checks, and says how to enable them', async () => {
    const text = await nbs(['list'], { cwd: project() })
    expect(text.exitCode).toBe(0)
    expect(text.stdout).toMatch(/^ {2}build +the system toplevel builds +\[needs: flake-eval · tags: nix · opt-in: enable with enable: \["build"\] in the config, or --only build · nbs:checks\/build\.check\.ts\]$/m)
    const json = JSON.parse((await nbs(['list', '--json'], { cwd: project() })).stdout) as { checks: Record<string, unknown>[] }
    expect(json.checks.find((c) => c.id === 'build')).toMatchObject({ phase: 'build', optIn: true, enabled: false })
    expect(json.checks.find((c) => c.id === 'dry-build')).not.toHaveProperty('optIn')
    const enabled = JSON.parse((await nbs(['list', '--json'], { cwd: project({ enable: ['build'] }) })).stdout) as { checks: Record<string, unknown>[] }
    expect(enabled.checks.find((c) => c.id === 'build')).toMatchObject({ optIn: true, enabled: true })
  })
})

describe('dry-build counts, real Nix', () => {
  beforeAll(requireNix)

  it("are Nix's own above the old 1 MiB capture bound (5001 derivations)", async () => {
    const { exitCode, checks } = await check(['--flake', fixtureFlake('many-derivations'), '--host', 'many', '--only', 'dry-build'])
    expect(exitCode).toBe(0)
    expect(checks['dry-build']).toMatchObject({ status: 'passed', message: '5001 derivations to build, 0 paths to fetch' })
    const details = checks['dry-build']?.details as { toBuild: { count: number; paths: string[] } }
    expect(details.toBuild.count).toBe(5001)
    expect(details.toBuild.paths).toHaveLength(100)
  })
})
