/**
 * `nbs status` runs no Nix evaluation unless --eval, and --eval answers from its cache the second
 * time. The built CLI on a machine root whose generation real Nix built from a git flake; a `nix`
 * wrapper on PATH counts every call, so "nix did not run" is a count, not a timing.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { execa } from 'execa'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { makeMachine, NIX_ENV, type FakeMachine } from '../helpers/profiles.js'
import { nbs } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const tmp = mkdtempSync(join(tmpdir(), 'nbs-status-eval-'))
const realNix = spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix'
const bin = join(tmp, 'bin')
const calls = join(tmp, 'nix-calls')
mkdirSync(bin)
// one line per call: "eval" for an evaluation, "other" for the rest (nbs debug asks nix --version)
writeFileSync(join(bin, 'nix'), `#!/bin/sh\nkind=other\nfor a in "$@"; do [ "$a" = eval ] && kind=eval; done\necho $kind >> '${calls}'\nexec '${realNix}' "$@"\n`)
chmodSync(join(bin, 'nix'), 0o755)
writeFileSync(calls, '')
/** nix calls so far; `evals`: only the evaluations */
const nixCalls = (evals = false) => readFileSync(calls, 'utf8').split('\n').filter((l) => l && (!evals || l === 'eval')).length
const cache = join(tmp, 'cache')
const env = { ...NIX_ENV, PATH: `${bin}:${dirname(process.execPath)}:${dirname(realNix)}:/usr/bin:/bin`, XDG_CACHE_HOME: cache, NBS_LOG_DIR: join(tmp, 'logs') }

const FLAKE = `{
  outputs = { self }: let
    sys = name: derivation { name = "nixos-system-\${name}"; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" "mkdir $out; echo \${builtins.readFile ./config.txt} > $out/config" ]; };
  in {
    nixosConfigurations.a.config.system.build.toplevel = sys "a";
    nixosConfigurations.b.config.system.build.toplevel = sys "b";
  };
}
`
const flake = join(tmp, 'flake')
const git = (...args: string[]) => execa('git', ['-C', flake, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', '-c', 'init.defaultBranch=main', ...args])
let m: FakeMachine

needs('nix', 'git').describe('nbs status --eval and its cache (built CLI, real Nix and git)', () => {
  beforeAll(async () => {
    mkdirSync(flake)
    writeFileSync(join(flake, 'flake.nix'), FLAKE)
    writeFileSync(join(flake, 'flake.lock'), '{ "nodes": { "root": {} }, "root": "root", "version": 7 }\n')
    writeFileSync(join(flake, 'config.txt'), `one-${process.pid}-${Date.now()}`)
    await git('init', '-q')
    await git('add', '.')
    await git('commit', '-qm', 'init')
    const built = await execa('nix', ['build', '--no-link', '--json', `git+file://${flake}#nixosConfigurations.a.config.system.build.toplevel`], { env: NIX_ENV })
    const out = (JSON.parse(built.stdout) as { outputs: { out: string } }[])[0]!.outputs.out
    m = makeMachine({ hostname: 'a' }) // the root is the machine host `a` describes
    m.markNixOS()
    await m.addGeneration(out)
    await m.setCurrent(out)
  })
  afterAll(async () => {
    await m?.cleanup()
    rmSync(tmp, { recursive: true, force: true })
  })

  const status = async (...args: string[]) => {
    const r = await nbs(['status', '--json', '--root', m.root, '--flake', `git+file://${flake}`, '--host', 'a', ...args], { cwd: tmp, env })
    return { ...r, report: JSON.parse(r.stdout) as { revision: { status: string; reason: string; message: string; notes: string[] } } }
  }

  it('without --eval (or with --no-eval) nix is never run; nbs debug only asks its version', async () => {
    for (const args of [[], ['--no-eval']]) {
      const r = await status(...args)
      expect(r.exitCode).toBe(0)
      expect(r.report.revision).toMatchObject({ status: 'unknown', reason: 'unrecorded' })
    }
    expect(nixCalls()).toBe(0)
    const debug = await nbs(['debug', '--json', '--root', m.root, '--flake', `git+file://${flake}`, '--host', 'a'], { cwd: tmp, env })
    expect(debug.exitCode).toBe(0)
    expect(nixCalls(true)).toBe(0)
  })

  it('--eval evaluates once; the second run answers from the cache without running nix', async () => {
    const before = nixCalls()
    const first = await status('--eval')
    expect(first.report.revision).toMatchObject({ status: 'equal', reason: 'toplevel-match' })
    expect(nixCalls()).toBe(before + 1)
    expect(readdirSync(join(cache, 'nbs/eval'))).toHaveLength(1)
    const second = await status('--eval')
    expect(second.report.revision).toEqual(first.report.revision)
    expect(nixCalls()).toBe(before + 1) // no nix process at all
    // nbs debug --eval shares the cache: no evaluation (only its nix --version)
    const evals = nixCalls(true)
    const debug = await nbs(['debug', '--json', '--eval', '--root', m.root, '--flake', `git+file://${flake}`, '--host', 'a'], { cwd: tmp, env })
    expect(JSON.parse(debug.stdout).status.revision).toEqual(first.report.revision)
    expect(nixCalls(true)).toBe(evals)
  })

  it('another host does not share the entry', async () => {
    const before = nixCalls()
    const r = await nbs(['status', '--json', '--eval', '--root', m.root, '--flake', `git+file://${flake}`, '--host', 'b'], { cwd: tmp, env })
    // b is not this machine (its root says `a`): evaluated, but not compared with what `a` runs
    expect(JSON.parse(r.stdout).revision).toMatchObject({ status: 'unknown', reason: 'not-this-machine', message: expect.stringContaining('b is not this machine (a)') })
    expect(nixCalls()).toBe(before + 1)
  })

  it('an edit to a tracked file is seen: evaluated again (and out of sync); untracked files are not', async () => {
    writeFileSync(join(flake, 'scratch.txt'), 'untracked: Nix does not copy it')
    const before = nixCalls()
    expect((await status('--eval')).report.revision.reason).toBe('toplevel-match')
    expect(nixCalls()).toBe(before)
    // a tracked edit that changes no system: evaluated again, the toplevel is the running one: equal, the dirt a note
    writeFileSync(join(flake, 'flake.lock'), '{ "nodes": { "root": {} }, "root": "root", "version": 7 }\n\n')
    const harmless = await status('--eval')
    expect(harmless.report.revision).toMatchObject({ status: 'equal', reason: 'toplevel-match', notes: [expect.stringContaining('uncommitted changes (1 file)')] })
    expect(harmless.exitCode).toBe(0)
    expect(nixCalls()).toBe(before + 1)
    await git('checkout', '--', 'flake.lock')
    writeFileSync(join(flake, 'config.txt'), 'edited')
    const edited = await status('--eval')
    // the edit changes the toplevel: the revision differs (evaluated again, not from the cache)
    expect(edited.report.revision).toMatchObject({ status: 'differs', reason: 'toplevel-differs' })
    expect(edited.exitCode).toBe(1)
    expect(nixCalls()).toBe(before + 2)
    await status('--eval')
    expect(nixCalls()).toBe(before + 2)
  })
})
