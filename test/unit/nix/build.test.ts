/**
 * buildDerivation and the platform probe against real Nix (Debian's 2.8, offline), plus the
 * error wordings of later versions, written from Nix's sources (reference/nix.md §5.2, §9): the
 * machine here shows none of them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { buildDerivation, buildPlatforms, classifyFailure, describeBuildFailure, unbuildableReason, type BuildPlatforms } from '../../../src/nix/build.js'
import { BuildLogParser } from '../../../src/nix/build-log.js'
import { extractNixErrors } from '../../../src/nix/errors.js'
import { evalToplevel } from '../../../src/nix/eval.js'
import { runProcess } from '../../../src/runner/process.js'
import { fixtureFlake, NIX_ENV } from '../../helpers/nix.js'
import { requireNix } from '../../helpers/profiles.js'
import { pidsMatching } from '../../helpers/project.js'

const exec: Exec = (file, args = [], opts = {}) => runProcess(file, args, { ...opts, timeoutMs: 120_000 })
const base = { exec, env: NIX_ENV }
const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

async function drvOf(flake: string, host = 'demo'): Promise<string> {
  const ev = await evalToplevel({ ...base, flake, host })
  if (!ev.ok) throw new Error(JSON.stringify(ev))
  return ev.drvPath
}

/** A throwaway flake whose toplevel runs `script`; `nonce` keeps it from being built already. */
function scriptFlake(script: string, attrs = 'system = "x86_64-linux";'): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-build-'))
  dirs.push(dir)
  const nonce = `${process.pid}-${Date.now()}-${dirs.length}`
  writeFileSync(
    join(dir, 'flake.nix'),
    `{ outputs = { self }: { nixosConfigurations.demo.config.system.build.toplevel = derivation {
  name = "nixos-system-script"; ${attrs} builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  nonce = "${nonce}"; args = [ "-c" ${JSON.stringify(script)} ];
}; }; }\n`,
  )
  return `path:${dir}`
}

describe('buildDerivation with real Nix', () => {
  beforeAll(requireNix)

  it('good: builds, and returns the output path', async () => {
    const r = await buildDerivation({ ...base, drvPath: await drvOf(fixtureFlake('good')) })
    expect(r).toMatchObject({ ok: true, outPaths: [expect.stringMatching(/^\/nix\/store\/\w{32}-nixos-system-demo-24\.05\.test$/)] })
  })

  it('counts what it built', async () => {
    const r = await buildDerivation({ ...base, drvPath: await drvOf(scriptFlake('echo built > $out')) })
    expect(r).toMatchObject({ ok: true, built: 1 })
  })

  it('build-fail: the derivation, the builder exit code and its last log lines (Nix leaves them out in JSON mode)', async () => {
    const drvPath = await drvOf(fixtureFlake('build-fail'))
    const r = await buildDerivation({ ...base, drvPath })
    expect(r).toMatchObject({
      ok: false,
      failed: [{ drv: drvPath, exitCode: 3, reason: 'builder failed with exit code 3', logTail: ['nbs-fixture: configuring', 'nbs-fixture: compiling', 'nbs-fixture: something went wrong'] }],
    })
    if (!('failed' in r)) throw new Error('not a failure')
    const { message, details } = describeBuildFailure(r, drvPath)
    expect(message).toBe(`${drvPath}: builder failed with exit code 3\n  > nbs-fixture: configuring\n  > nbs-fixture: compiling\n  > nbs-fixture: something went wrong`)
    expect(details).toMatchObject({ drvPath, failedCount: 1, failed: [{ drv: drvPath, exitCode: 3 }] })
  })

  it('a log far larger than any capture: the tail is the real last lines, memory stays bounded', async () => {
    // 60,000 lines of 40 bytes ≈ 5 MiB of internal-json records
    const script = 'i=0; while [ $i -lt 60000 ]; do echo "log line $i ................"; i=$((i+1)); done; echo "the end"; exit 4'
    const r = await buildDerivation({ ...base, drvPath: await drvOf(scriptFlake(script)), tailLines: 5 })
    expect(r).toMatchObject({ ok: false, failed: [{ exitCode: 4, logTail: ['log line 59996 ................', 'log line 59997 ................', 'log line 59998 ................', 'log line 59999 ................', 'the end'] }] })
  }, 120_000)

  it('--keep-going: every failed dependency is named; the dependency summary is not a failure of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-build-'))
    dirs.push(dir)
    const nonce = `${process.pid}-${Date.now()}`
    writeFileSync(
      join(dir, 'flake.nix'),
      `{ outputs = { self }: let
  mk = name: args: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; nonce = "${nonce}"; } // args);
  a = mk "fail-a" { args = [ "-c" "echo a-out; exit 2" ]; };
  b = mk "fail-b" { args = [ "-c" "echo b-out; exit 5" ]; };
  c = mk "ok-c" { args = [ "-c" "echo c > $out" ]; };
in { nixosConfigurations.demo.config.system.build.toplevel = mk "nixos-system-multi" { args = [ "-c" "echo > $out" ]; inherit a b c; }; }; }\n`,
    )
    const drvPath = await drvOf(`path:${dir}`)
    const r = await buildDerivation({ ...base, drvPath })
    if (!('failed' in r)) throw new Error(JSON.stringify(r))
    expect(r.failed.map((f) => [f.drv.replace(/^.*?-/, ''), f.exitCode, f.logTail]).sort()).toEqual([
      ['fail-a.drv', 2, ['a-out']],
      ['fail-b.drv', 5, ['b-out']],
    ])
    const { message } = describeBuildFailure(r, drvPath)
    expect(message).toMatch(/^2 derivations failed to build: .*-fail-[ab]\.drv \(exit code [25]\), .*-fail-[ab]\.drv \(exit code [25]\)\n/)
    expect(message).toContain('  > a-out')
    expect(message).toContain('  > b-out')
  })

  // never built, whatever else ran on this store: a platform's output built once would be valid
  it("another platform, a missing system feature: Nix 2.8's own refusal is a configuration problem, not a failed build", async () => {
    const arm = await buildDerivation({ ...base, drvPath: await drvOf(scriptFlake('echo > $out', 'system = "aarch64-linux";')) })
    expect(arm).toMatchObject({ ok: false, unsupported: expect.stringMatching(/^a 'aarch64-linux' with features \{\} is required to build '.*-nixos-system-script\.drv', but I am a 'x86_64-linux'/) })
    const kvm = await buildDerivation({ ...base, drvPath: await drvOf(scriptFlake('echo > $out', 'system = "x86_64-linux"; requiredSystemFeatures = [ "nbs-no-such-feature" ];')) })
    expect(kvm).toMatchObject({ ok: false, unsupported: expect.stringMatching(/^a 'x86_64-linux' with features \{nbs-no-such-feature\} is required to build/) })
  })

  it('under systemd (IN_SYSTEMD=1, a timer-run check): the <3>-prefixed records give the same failure and the same refusal', async () => {
    const systemd = { ...base, env: { ...NIX_ENV, IN_SYSTEMD: '1' } }
    const drvPath = await drvOf(fixtureFlake('build-fail'))
    expect(await buildDerivation({ ...systemd, drvPath })).toMatchObject({
      ok: false,
      failed: [{ drv: drvPath, exitCode: 3, logTail: ['nbs-fixture: configuring', 'nbs-fixture: compiling', 'nbs-fixture: something went wrong'] }],
    })
    const arm = await buildDerivation({ ...systemd, drvPath: await drvOf(scriptFlake('echo > $out', 'system = "aarch64-linux";')) })
    expect(arm).toMatchObject({ ok: false, unsupported: expect.stringMatching(/^a 'aarch64-linux' with features \{\} is required to build/) })
  })

  it("--keep-going over two derivations: nix-store's summary names both, each failure keeps its exit code", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-build-'))
    dirs.push(dir)
    const nonce = `${process.pid}-${Date.now()}`
    writeFileSync(
      join(dir, 'flake.nix'),
      `{ outputs = { self }: let
  mk = name: args: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; nonce = "${nonce}"; } // args);
in { a = mk "kg-a" { args = [ "-c" "exit 3" ]; }; b = mk "kg-b" { args = [ "-c" "exit 4" ]; }; }; }\n`,
    )
    const drvs: string[] = []
    for (const attr of ['a', 'b']) {
      const r = await exec('nix', ['eval', '--raw', `path:${dir}#${attr}.drvPath`], { env: NIX_ENV })
      drvs.push(r.stdout.text.trim())
    }
    const parser = new BuildLogParser()
    const r = await runProcess('nix-store', ['--realise', '--keep-going', '--log-format', 'internal-json', ...drvs], {
      env: { ...NIX_ENV, IN_SYSTEMD: '1' },
      onStderr: (c) => parser.write(c),
    })
    parser.end()
    expect(r.exitCode).not.toBe(0)
    const errors = parser.errors()
    const summary = errors.find((e) => e.drvs)
    expect(summary?.drvs?.slice().sort()).toEqual(drvs.slice().sort())
    const failed = classifyFailure(errors)
    const expected = [
      [drvs[0], 3],
      [drvs[1], 4],
    ].sort()
    expect('failed' in failed && failed.failed.map((f) => [f.drv, f.exitCode]).sort()).toEqual(expected)
  })

  it('aborting (a check timeout) kills nix-store and the builder under it', async () => {
    const sleep = `sleep ${300 + (process.pid % 97)}` // a command line no other test runs
    const drvPath = await drvOf(scriptFlake(`exec ${sleep}`))
    const ac = new AbortController()
    const started = Date.now()
    let before: number[] = []
    setTimeout(async () => {
      before = await pidsMatching(sleep) // the builder is running: the abort has something to kill
      ac.abort()
    }, 1500)
    const r = await buildDerivation({ ...base, drvPath, signal: ac.signal })
    expect(before).toHaveLength(1)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(r).toMatchObject({ ok: false })
    expect(await pidsMatching(sleep)).toEqual([])
  }, 30_000)

  it('nix-store missing is notFound', async () => {
    expect(await buildDerivation({ exec, env: { PATH: '/nonexistent' }, drvPath: '/nix/store/x.drv' })).toEqual({ ok: false, notFound: true })
  })
})

describe('buildPlatforms with real Nix (nix show-config on 2.8)', () => {
  beforeAll(requireNix)

  it("reads this machine's platform, and the --option overrides nbs passes", async () => {
    const here = await buildPlatforms(base)
    expect(here).toMatchObject({ system: 'x86_64-linux', builderSystems: [] })
    expect(unbuildableReason('x86_64-linux', here!)).toBeUndefined()
    expect(unbuildableReason('aarch64-linux', here!)).toMatch(/^cannot build aarch64-linux here: Nix builds x86_64-linux.*no builder is configured; add aarch64-linux to extra-platforms \(binfmt emulation\) or builders$/)
    const emulated = await buildPlatforms({ ...base, extraArgs: ['--option', 'extra-platforms', 'aarch64-linux'] })
    expect(unbuildableReason('aarch64-linux', emulated!)).toBeUndefined()
    const remote = await buildPlatforms({ ...base, extraArgs: ['--option', 'builders', 'ssh://arm64.example aarch64-linux,armv7l-linux - 4'] })
    expect(remote?.builderSystems).toEqual(['aarch64-linux', 'armv7l-linux'])
    expect(unbuildableReason('aarch64-linux', remote!)).toBeUndefined()
  })

  it('a builders @file is read (a missing one means no builders; an unreadable one may build anything)', async () => {
    const files: Record<string, string> = { '/etc/nix/machines': '# comment\nssh://a aarch64-linux\nssh://b - 2\n' }
    const readFile = async (path: string) => files[path] ?? null
    const p = await buildPlatforms({ ...base, extraArgs: ['--option', 'builders', '@/etc/nix/machines'], readFile })
    expect(p?.builderSystems).toEqual(['aarch64-linux', 'x86_64-linux'])
    const none = await buildPlatforms({ ...base, extraArgs: ['--option', 'builders', '@/nowhere'], readFile })
    expect(none).toMatchObject({ builderSystems: [], builderUnknown: false })
    const denied = await buildPlatforms({ ...base, extraArgs: ['--option', 'builders', '@/etc/nix/machines'], readFile: () => Promise.reject(new Error('EACCES')) })
    expect(unbuildableReason('aarch64-linux', denied!)).toBeUndefined()
  })
})

describe('what cannot be built here, across Nix versions', () => {
  const local: BuildPlatforms = { system: 'x86_64-linux', extraPlatforms: ['i686-linux'], builderSystems: [], builderUnknown: false }

  it('unbuildableReason: own platform, extra-platforms, builtin; max-jobs = 0 without builders', () => {
    expect(unbuildableReason('i686-linux', local)).toBeUndefined()
    expect(unbuildableReason('builtin', local)).toBeUndefined()
    expect(unbuildableReason('x86_64-linux', { ...local, maxJobs: 0 })).toMatch(/^local builds are disabled \(max-jobs = 0\)/)
    expect(unbuildableReason('x86_64-linux', { ...local, maxJobs: 0, builderSystems: ['x86_64-linux'] })).toBeUndefined()
  })

  const E = '\u001b[31;1merror:\u001b[0m '
  const record = (msg: string) => `@nix ${JSON.stringify({ action: 'msg', column: null, file: null, level: 0, line: null, msg })}`

  it('Nix ≥ 2.30 "required system or feature not available", and 2.35 "platform mismatch": skip-worthy, with the systems', () => {
    for (const reason of ['required system or feature not available', 'platform mismatch']) {
      const text = record(
        `${E}Cannot build '\u001b[35;1m/nix/store/abc-nixos-system-arm.drv\u001b[0m'.\n       Reason: \u001b[31;1m${reason}\u001b[0m\n       Required system: 'aarch64-linux' with features {}\n       Current system: 'x86_64-linux' with features {benchmark, big-parallel, kvm, nixos-test}`,
      )
      const r = classifyFailure(extractNixErrors(text))
      expect(r).toMatchObject({ ok: false, unsupported: `/nix/store/abc-nixos-system-arm.drv: ${reason}; required: 'aarch64-linux' with features {}; this machine: 'x86_64-linux' with features {benchmark, big-parallel, kvm, nixos-test}` })
    }
  })

  it('a dependency that cannot be built here, and the failures that follow from it: still a skip', () => {
    const text = [
      "error: a 'aarch64-linux' with features {} is required to build '/nix/store/dep.drv', but I am a 'x86_64-linux' with features {kvm}",
      "error: 1 dependencies of derivation '/nix/store/top.drv' failed to build",
      "error: build of '/nix/store/top.drv^out' failed",
    ].join('\n')
    expect(classifyFailure(extractNixErrors(text))).toMatchObject({ ok: false, unsupported: expect.stringContaining("'/nix/store/dep.drv'") })
    expect(classifyFailure(extractNixErrors("error: unable to start any build; either increase '--max-jobs' or enable remote builds"))).toMatchObject({ unsupported: expect.stringContaining('max-jobs') })
  })

  it('a real builder failure next to a platform problem is a failed build (≥ 2.29 wording)', () => {
    const text = [
      "error: Cannot build '/nix/store/x-a.drv'.\n       Reason: builder failed with exit code 1.\n       Output paths:\n         /nix/store/x-a",
      "error: Cannot build '/nix/store/y-b.drv'.\n       Reason: missing system features\n       Required system: 'x86_64-linux' with features {kvm}",
      "error: Cannot build '/nix/store/z-top.drv'.\n       Reason: 2 dependencies failed.",
    ].join('\n')
    const r = classifyFailure(extractNixErrors(text))
    expect(r).toMatchObject({ ok: false, failed: [{ drv: '/nix/store/x-a.drv', exitCode: 1, reason: 'builder failed with exit code 1' }] })
  })
})
