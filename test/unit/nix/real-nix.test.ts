/**
 * The library against real Nix (Debian's nix-bin, 2.8), offline, on the fixture flakes. Flakes are
 * given as `path:` refs so untracked fixture files count (a git flake sees tracked files only).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { dryBuild } from '../../../src/nix/dry-build.js'
import { evalToplevel } from '../../../src/nix/eval.js'
import { flakeInstallable } from '../../../src/nix/flake.js'
import { runProcess } from '../../../src/runner/process.js'
import { DEFAULT_HEAD_BYTES, DEFAULT_TAIL_BYTES } from '../../../src/runner/capture.js'
import { fixtureFlake, hasNix, NIX_ENV, NIX_SKIP_REASON, nixVersion } from '../../helpers/nix.js'
import { needs } from '../../helpers/real.js'

const exec: Exec = (file, args = [], opts = {}) => runProcess(file, args, { ...opts, timeoutMs: 60_000 })
const base = { exec, env: NIX_ENV }
const none = { count: 0, paths: [] }
const FLAKE_NIX = /^\/nix\/store\/[a-z0-9]{32}-source\/flake\.nix$/

describe('without nix', () => {
  it('reports nix missing from PATH as notFound', async () => {
    const noNix: Exec = (_file, args = [], opts = {}) => runProcess('/nonexistent/bin/nix', args, opts)
    expect(await evalToplevel({ exec: noNix, flake: fixtureFlake('good'), host: 'demo' })).toEqual({ ok: false, notFound: true })
    expect(await dryBuild({ exec: noNix, installable: 'x' })).toEqual({ ok: false, notFound: true })
  })
})

needs('nix').describe(`real ${nixVersion() ?? 'Nix'}: evalToplevel`, () => {
  it('good: returns the toplevel derivation and its output path', async () => {
    const r = await evalToplevel({ ...base, flake: fixtureFlake('good'), host: 'demo' })
    expect(r).toMatchObject({ ok: true })
    if (!r.ok) return
    expect(r.drvPath).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixos-system-demo-24\.05\.test\.drv$/)
    expect(r.outPath).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixos-system-demo-24\.05\.test$/)
    // a dotted host name is quoted in the attribute path and reaches the same toplevel
    expect(await evalToplevel({ ...base, flake: fixtureFlake('good'), host: 'demo.example' })).toEqual(r)
  })

  it('undefined-variable: the message and the exact position in the fixture', async () => {
    const r = await evalToplevel({ ...base, flake: fixtureFlake('undefined-variable'), host: 'demo' })
    if (r.ok || !('errors' in r)) throw new Error(`expected errors, got ${JSON.stringify(r)}`)
    expect(r.errors).toHaveLength(1)
    const [e] = r.errors
    expect(e).toMatchObject({ kind: 'eval', message: "undefined variable 'undefinedPackage'", line: 10, column: 16 })
    expect(e?.file).toMatch(FLAKE_NIX)
    expect(e?.codeFrame).toContain('10|       PATH = [ undefinedPackage ];')
    expect(r.stderr).toContain("error: undefined variable 'undefinedPackage'")
    expect(r.stderr).not.toContain('@nix')
  })

  it('failed-assertion and missing-option: the NixOS texts', async () => {
    const assertion = await evalToplevel({ ...base, flake: fixtureFlake('failed-assertion'), host: 'demo' })
    expect(assertion).toMatchObject({
      ok: false,
      errors: [{ kind: 'assertion', message: 'The ‘fileSystems’ option does not specify your root file system.' }],
    })
    const option = await evalToplevel({ ...base, flake: fixtureFlake('missing-option'), host: 'demo' })
    expect(option).toMatchObject({
      ok: false,
      errors: [{ kind: 'missing-option', message: "The option `services.nbs-demo.enable' does not exist.", file: '/etc/nixos/configuration.nix' }],
    })
  })

  it('an unknown host is an error naming the attribute; build-fail evaluates', async () => {
    const r = await evalToplevel({ ...base, flake: fixtureFlake('good'), host: 'nohost' })
    expect(r).toMatchObject({ ok: false, errors: [{ kind: 'eval' }] })
    if (!r.ok && 'errors' in r) expect(r.errors[0]?.message).toContain("does not provide attribute")
    expect(await evalToplevel({ ...base, flake: fixtureFlake('build-fail'), host: 'demo' })).toMatchObject({ ok: true })
  })

  it("an error inside nbs's own --apply expression points at «string» (Nix 2.8's record gives the expression's text as file)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-nix-apply-'))
    try {
      writeFileSync(join(dir, 'flake.nix'), '{ outputs = { self }: { nixosConfigurations.demo = { config = { networking.hostName = "x"; }; }; }; }\n')
      const r = await evalToplevel({ ...base, flake: `path:${dir}`, host: 'demo' })
      expect(r).toMatchObject({ ok: false, errors: [{ kind: 'eval', message: "attribute 'system' missing", file: '«string»', line: 1 }] })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('under systemd (IN_SYSTEMD=1, a timer-run check): the <3>-prefixed records give the same errors', async () => {
    const plain = await evalToplevel({ ...base, flake: fixtureFlake('undefined-variable'), host: 'demo' })
    let stderr = ''
    const seen: Exec = async (file, args, opts) => {
      const r = await exec(file, args, opts)
      stderr += r.stderr.text
      return r
    }
    const systemd = await evalToplevel({ exec: seen, env: { ...NIX_ENV, IN_SYSTEMD: '1' }, flake: fixtureFlake('undefined-variable'), host: 'demo' })
    expect(stderr).toMatch(/^<3>@nix \{"action":"msg"/m)
    expect(systemd).toMatchObject({ ok: false, errors: [{ kind: 'eval', message: "undefined variable 'undefinedPackage'", file: expect.stringMatching(FLAKE_NIX), line: 10, column: 16 }] })
    expect(systemd).toEqual(plain)
  })
})

needs('nix').describe(`real ${nixVersion() ?? 'Nix'}: dryBuild`, () => {
  it('good: one derivation to build (none once someone has built it), by drv path and by installable', async () => {
    const ev = await evalToplevel({ ...base, flake: fixtureFlake('good'), host: 'demo' })
    if (!ev.ok) throw new Error(JSON.stringify(ev))
    // Other tests build this fixture into the shared store; then nothing is left to build.
    for (const target of [{ drvPath: ev.drvPath }, { installable: flakeInstallable(fixtureFlake('good'), 'demo') }]) {
      const built = existsSync(ev.outPath ?? '')
      const r = await dryBuild({ ...base, ...target })
      if (built !== existsSync(ev.outPath ?? '')) continue // built concurrently meanwhile: either answer is right
      expect(r).toEqual({ ok: true, toBuild: built ? none : { count: 1, paths: [ev.drvPath] }, toFetch: none })
    }
  })

  it('good builds the NixOS-shaped layout other tests rely on', async () => {
    const installable = flakeInstallable(fixtureFlake('good'), 'demo')
    const build = await exec('nix', ['build', '--no-link', installable], { env: NIX_ENV })
    expect(build.exitCode, build.stderr.text).toBe(0)
    const ev = await evalToplevel({ ...base, flake: fixtureFlake('good'), host: 'demo' })
    const out = ev.ok ? ev.outPath ?? '' : ''
    expect(readFileSync(join(out, 'nixos-version'), 'utf8')).toBe('24.05.test\n')
    for (const link of ['kernel', 'initrd', 'kernel-modules']) expect(readlinkSync(join(out, link))).toMatch(/^\/nix\/store\//)
    expect(readFileSync(join(out, 'kernel'), 'utf8')).toContain('6.1.0')
    expect(existsSync(join(out, 'kernel-modules/lib/modules/6.1.0/modules.dep'))).toBe(true)
    expect(await dryBuild({ ...base, installable })).toEqual({ ok: true, toBuild: none, toFetch: none })
  })

  it('paths a substituter has are listed to fetch, with sizes (a local file:// binary cache)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-nix-fetch-'))
    try {
      const nonce = `${process.pid}-${Date.now()}`
      mkdirSync(join(dir, 'flake'))
      writeFileSync(join(dir, 'flake/flake.nix'), fetchFlake(nonce))
      const flake = `path:${join(dir, 'flake')}`
      const run = async (...args: string[]) => {
        const r = await exec('nix', args, { env: NIX_ENV })
        expect(r.exitCode, r.stderr.text).toBe(0)
        return r.stdout.text
      }
      await run('build', '--no-link', `${flake}#lib`)
      const lib = await run('eval', '--raw', `${flake}#lib.outPath`)
      await run('copy', '--to', `file://${dir}/cache`, lib)
      await run('store', 'delete', lib)
      const env = { NIX_CONFIG: `experimental-features = nix-command flakes\nsubstituters = file://${dir}/cache\nrequire-sigs = false` }
      const r = await dryBuild({ exec, env, installable: flakeInstallable(flake, 'demo') })
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, toFetch: { count: 1, paths: [lib] }, toBuild: { count: 1, paths: [expect.stringMatching(/-nixos-system-fetch\.drv$/)] } })
      if (r.ok) expect(r.fetchSizes).toEqual({ download: expect.stringMatching(/MiB$/), unpacked: expect.stringMatching(/MiB$/) })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('build-fail dry-builds fine: its derivation is always still to build', async () => {
    const r = await dryBuild({ ...base, installable: flakeInstallable(fixtureFlake('build-fail'), 'demo') })
    expect(r).toMatchObject({ ok: true, toFetch: none })
    if (r.ok) expect(r.toBuild).toEqual({ count: 1, paths: [expect.stringMatching(/-nixos-system-demo-build-fail\.drv$/)] })
  })

  let bytes = 0
  it("a dry run listing more than the capture bound: Nix's exact counts, a bounded sample of paths", async () => {
    const ev = await evalToplevel({ ...base, flake: fixtureFlake('many-derivations'), host: 'many' })
    if (!ev.ok) throw new Error(JSON.stringify(ev))
    // the fixture is only a test of the bound if Nix's own output is larger than what a capture keeps
    const raw = await runProcess('nix-store', ['--realise', '--dry-run', '--log-format', 'internal-json', ev.drvPath], { env: NIX_ENV, capture: false, onStderr: (c) => void (bytes += c.length) })
    expect(raw.exitCode).toBe(0)
    expect(bytes).toBeGreaterThan(DEFAULT_HEAD_BYTES + DEFAULT_TAIL_BYTES)
    const r = await dryBuild({ ...base, drvPath: ev.drvPath })
    expect(r).toMatchObject({ ok: true, toBuild: { count: 5001 }, toFetch: none })
    if (r.ok) expect(r.toBuild.paths).toHaveLength(100)
    if (r.ok) expect(r.toBuild.paths.every((p) => /^\/nix\/store\/[a-z0-9]{32}-.*\.drv$/.test(p))).toBe(true)
  })

  it('an evaluation error surfaces with its position; a missing drv is an error too', async () => {
    const r = await dryBuild({ ...base, installable: flakeInstallable(fixtureFlake('undefined-variable'), 'demo') })
    expect(r).toMatchObject({ ok: false, errors: [{ kind: 'eval', line: 10, column: 16 }] })
    const missing = await dryBuild({ ...base, drvPath: '/nix/store/00000000000000000000000000000000-missing.drv' })
    expect(missing).toMatchObject({ ok: false, errors: [{ message: expect.stringContaining('missing.drv') }] })
  })
})

/** A toplevel depending on `lib`, a 64 KiB path unique to this run (so it is never already present). */
function fetchFlake(nonce: string): string {
  return `{
  outputs = { self }: let
    mk = name: args: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; } // args);
    lib = mk "fetchme-${nonce}" { args = [ "-c" "head -c 65536 /dev/urandom > $out" ]; };
  in {
    inherit lib;
    nixosConfigurations.demo.config.system.build.toplevel = mk "nixos-system-fetch" { args = [ "-c" "echo \${lib} > $out" ]; };
  };
}
`
}
