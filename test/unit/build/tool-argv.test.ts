/**
 * What nbs runs, per tool, version, privilege and action: planBuild with a PATH of empty
 * executables and a fake exec answering the probes (`nh --version`, `nixos-rebuild --help`,
 * `home-manager --version`, the homeConfigurations names) as each real version does.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { planBuild, type PlanOptions } from '../../../src/build/tool.js'

const bin = mkdtempSync(join(tmpdir(), 'nbs-tool-argv-'))
afterAll(() => rmSync(bin, { recursive: true, force: true }))
for (const t of ['nh', 'nixos-rebuild', 'home-manager', 'nix']) {
  writeFileSync(join(bin, t), '#!/bin/sh\n')
  chmodSync(join(bin, t), 0o755)
}
const USER = { root: false }
const SUDO = { root: true, sudoUser: 'alice' }
const ROOT = { root: true }

function fakeExec(answers: Record<string, string>, calls: string[][] = []): Exec {
  return async (file, args = []) => {
    calls.push([file, ...args])
    const key = file === 'nix' ? 'nix' : `${file} ${args[0]}`
    const out = answers[key] ?? ''
    const missing = out === 'MISSING'
    const text = (t: string) => ({ text: t, bytes: t.length, truncated: false })
    return {
      exitCode: missing ? 1 : 0,
      signal: null,
      stdout: text(missing ? '' : out),
      stderr: text(missing ? "error: flake 'path:/cfg' does not provide attribute 'packages.x86_64-linux.homeConfigurations', 'legacyPackages.x86_64-linux.homeConfigurations' or 'homeConfigurations'" : ''),
      durationMs: 1,
      timedOut: false,
      aborted: false,
      notFound: false,
    }
  }
}

function plan(o: Partial<PlanOptions> & { tools?: string[]; answers?: Record<string, string> }) {
  const onPath = o.tools ?? ['nh', 'nixos-rebuild', 'home-manager', 'nix']
  const dir = mkdtempSync(join(bin, 'p-'))
  for (const t of onPath) writeFileSync(join(dir, t), '#!/bin/sh\n', { mode: 0o755 })
  const calls: string[][] = []
  const p = planBuild({
    target: 'os',
    action: 'switch',
    flake: '/etc/nixos',
    host: 'web',
    extra: [],
    privilege: USER,
    env: { PATH: dir, USER: 'alice' },
    exec: fakeExec({ 'nh --version': 'nh 4.3.1\n', 'home-manager --version': '25.05-pre\n', 'nixos-rebuild --help': '  --sudo  Prefixes activation commands with sudo\n', nix: JSON.stringify(['alice', `alice@${hostname()}`]), ...o.answers }, calls),
    ...o,
  })
  return { p, calls }
}
const nhVersion = (v: string) => ({ 'nh --version': `nh ${v}\n` })
const LOG = ['--log-format', 'internal-json']

describe('nh', () => {
  it('as a user: nh elevates itself, nbs adds nothing for privilege; no -v; activation logs shown (4.3: the word true)', async () => {
    const c = await plan({}).p
    expect(c).toMatchObject({ tool: 'nh', file: 'nh', structured: true, exitsZeroOnActivationFailure: false })
    expect(c.args).toEqual(['os', 'switch', '/etc/nixos', '--hostname', 'web', '--no-nom', '--', ...LOG])
    expect(c.env).toEqual({ NH_SHOW_ACTIVATION_LOGS: 'true' })
  })

  it.each([
    ['3.6.0', false, {}],
    ['4.1.2', false, {}],
    ['4.2.0', false, {}],
    ['4.3.0', true, { NH_SHOW_ACTIVATION_LOGS: 'true' }],
    ['4.3.1', true, { NH_SHOW_ACTIVATION_LOGS: 'true' }],
  ])('under sudo, nh %s: root check bypassed with the word true; --elevation-strategy none from 4.3', async (v, strategy, env) => {
    const c = await plan({ privilege: SUDO, answers: nhVersion(v) }).p
    expect(c.env).toEqual({ NH_BYPASS_ROOT_CHECK: 'true', ...env })
    expect(c.args.slice(0, 2)).toEqual(strategy ? ['--elevation-strategy', 'none'] : ['os', 'switch'])
  })

  it('nh < 4.2 exits 0 on a failed activation: flagged, and 4.1 (which also hides it) says so', async () => {
    expect((await plan({ answers: nhVersion('3.6.0') }).p).exitsZeroOnActivationFailure).toBe(true)
    expect((await plan({ answers: nhVersion('4.0.3') }).p).notices).toEqual([])
    const v41 = await plan({ answers: nhVersion('4.1.2') }).p
    expect(v41.exitsZeroOnActivationFailure).toBe(true)
    expect(v41.notices[0]).toMatch(/^nh 4\.1\.2 hides activation output and exits 0 when activation fails/)
    expect((await plan({ answers: nhVersion('4.2.0') }).p).exitsZeroOnActivationFailure).toBe(false)
    expect((await plan({ action: 'build', answers: nhVersion('3.6.0') }).p).exitsZeroOnActivationFailure).toBe(false)
  })

  it("a specialisation after -- is nh's own flag (Nix would reject it), the rest still reaches Nix", async () => {
    const c = await plan({ action: 'test', extra: ['--specialisation', 'web', '--show-trace'] }).p
    const dashdash = c.args.indexOf('--')
    expect(c.args.slice(0, dashdash)).toEqual(expect.arrayContaining(['--specialisation', 'web']))
    expect(c.args.slice(dashdash + 1)).toEqual([...LOG, '--show-trace'])
  })

  it('extra args after -- reach Nix through nh, whatever they are', async () => {
    const c = await plan({ extra: ['--show-trace', '--anything-nix-knows'] }).p
    expect(c.args.slice(-4)).toEqual([...LOG, '--show-trace', '--anything-nix-knows'])
  })

  it('os dry-build is never `nh os build --dry` (it builds in full): nixos-rebuild dry-build, else nix build --dry-run', async () => {
    const { p, calls } = plan({ action: 'dry-build' })
    const c = await p
    expect(c).toMatchObject({ tool: 'nixos-rebuild', args: ['dry-build', '--flake', '/etc/nixos#web', ...LOG] })
    expect(calls).toEqual([]) // no sudo needed: no probe
    const n = await plan({ action: 'dry-build', tools: ['nh', 'nix'] }).p
    expect(n).toMatchObject({ tool: 'nix', file: 'nix', structured: true })
    expect(n.args).toEqual(['build', '/etc/nixos#nixosConfigurations.web.config.system.build.toplevel', '--dry-run', '--extra-experimental-features', 'nix-command flakes', ...LOG])
  })

  it('home: the fragment is the configuration; dry-build is nix build --dry-run of the resolved activationPackage', async () => {
    const c = await plan({ target: 'home', flake: 'path:/cfg#alice' }).p
    expect(c.args).toEqual(['home', 'switch', 'path:/cfg', '--configuration', 'alice', '--no-nom', '--', ...LOG])
    const d = await plan({ target: 'home', action: 'dry-build', flake: 'path:/cfg' }).p
    expect(d.args.slice(0, 3)).toEqual(['build', `path:/cfg#homeConfigurations."alice@${hostname()}".activationPackage`, '--dry-run'])
    // a home build has no root check to bypass
    expect((await plan({ target: 'home', privilege: ROOT }).p).env).toEqual({ NH_SHOW_ACTIVATION_LOGS: 'true' })
  })
})

describe('nixos-rebuild', () => {
  const nr = { tools: ['nixos-rebuild', 'nix'] }
  it('as a user: --sudo for switch/boot/test when its --help lists it (-ng), else --use-remote-sudo (bash)', async () => {
    for (const action of ['switch', 'boot', 'test'] as const) {
      expect((await plan({ ...nr, action }).p).args).toEqual([action, '--flake', '/etc/nixos#web', '--sudo', ...LOG])
    }
    const bash = await plan({ ...nr, answers: { 'nixos-rebuild --help': '  --use-remote-sudo  prefixes activation commands with sudo\n' } }).p
    expect(bash.args).toEqual(['switch', '--flake', '/etc/nixos#web', '--use-remote-sudo', ...LOG])
  })

  it('build and dry-build need no elevation and are not probed; as root no sudo flag', async () => {
    const { p, calls } = plan({ ...nr, action: 'build' })
    expect((await p).args).toEqual(['build', '--flake', '/etc/nixos#web', ...LOG])
    expect(calls).toEqual([])
    expect((await plan({ ...nr, privilege: SUDO }).p).args).toEqual(['switch', '--flake', '/etc/nixos#web', ...LOG])
  })

  it('extra args: only its own flags; another is refused up front (exit 3), naming it and nh', async () => {
    const ok = await plan({ ...nr, action: 'build', extra: ['--option', 'cores', '2', '--show-trace', '-j', '4'] }).p
    expect(ok.args.slice(-6)).toEqual(['--option', 'cores', '2', '--show-trace', '-j', '4'])
    const bad = plan({ ...nr, action: 'build', extra: ['--eval-store', 'x'] }).p
    await expect(bad).rejects.toMatchObject({ exitCode: 3 })
    await expect(plan({ ...nr, action: 'build', extra: ['--eval-store', 'x'] }).p).rejects.toThrow(/^-- --eval-store: nixos-rebuild accepts only its own flags .*only nh does/)
  })
})

describe('home-manager', () => {
  const hm = { target: 'home' as const, tools: ['home-manager', 'nix'] }
  it('25.05 and newer: --log-format internal-json (structured); 24.11: text', async () => {
    const c = await plan({ ...hm, flake: '/cfg#alice' }).p
    expect(c).toMatchObject({ tool: 'home-manager', structured: true, args: ['switch', '--flake', '/cfg#alice', ...LOG] })
    const old = await plan({ ...hm, flake: '/cfg#alice', answers: { 'home-manager --version': '24.11-pre\n' } }).p
    expect(old).toMatchObject({ structured: false, args: ['switch', '--flake', '/cfg#alice'] })
  })

  it('dry-build is home-manager build --dry-run (a real nix build --dry-run); extra flags checked per version', async () => {
    expect((await plan({ ...hm, action: 'dry-build', flake: '/cfg' }).p).args).toEqual(['build', '--flake', '/cfg', '--dry-run', ...LOG])
    const v24 = { 'home-manager --version': '24.11-pre\n' }
    await expect(plan({ ...hm, extra: ['--log-format', 'bar'], answers: v24 }).p).rejects.toThrow(/-- --log-format: home-manager accepts only its own flags/)
    expect((await plan({ ...hm, extra: ['--impure'], answers: v24 }).p).args).toEqual(['switch', '--flake', '/etc/nixos', '--impure'])
  })

  it('under sudo it refuses (it would build root\'s home), exit 3; a real root login may', async () => {
    await expect(plan({ ...hm, privilege: SUDO }).p).rejects.toMatchObject({ exitCode: 3, message: expect.stringMatching(/run it as alice, without sudo/) })
    await expect(plan({ ...hm, privilege: ROOT }).p).resolves.toMatchObject({ tool: 'home-manager' })
  })

  it('a flake without homeConfigurations: Home Manager is a NixOS module, use nbs build os (exit 3)', async () => {
    await expect(plan({ ...hm, answers: { nix: 'MISSING' } }).p).rejects.toMatchObject({ exitCode: 3, message: expect.stringMatching(/has no homeConfigurations: .*use nbs build os switch$/) })
    await expect(plan({ ...hm, flake: '/cfg#bob' }).p).rejects.toThrow(/homeConfigurations has no "bob" \(it has "alice", "alice@/)
  })
})
