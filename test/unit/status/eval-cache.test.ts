/**
 * The --eval cache against real Nix and real git. A `nix` wrapper on PATH appends a line per call
 * to a counter file and runs the real nix: "no evaluation" is proven by its count, not by timing.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { execa } from 'execa'
import { afterAll, beforeEach, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { runProcess } from '../../../src/runner/process.js'
import { evalCacheDir, evalToplevelCached, type CachedEvalOptions } from '../../../src/status/eval-cache.js'
import { NIX_ENV } from '../../helpers/nix.js'
import { needs } from '../../helpers/real.js'

const work = mkdtempSync(join(tmpdir(), 'nbs-eval-cache-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const realNix = spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix'
const bin = join(work, 'bin')
const calls = join(work, 'nix-calls')
mkdirSync(bin)
writeFileSync(join(bin, 'nix'), `#!/bin/sh\necho call >> '${calls}'\nexec '${realNix}' "$@"\n`)
chmodSync(join(bin, 'nix'), 0o755)
const nixCalls = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean).length
beforeEach(() => writeFileSync(calls, ''))

const exec: Exec = (file, args = [], o = {}) =>
  runProcess(file, args, { ...o, timeoutMs: 60_000, env: { ...o.env, PATH: `${bin}:${dirname(realNix)}:${process.env.PATH}` } })

const FLAKE = `{
  outputs = { self }: let
    sys = name: derivation { name = "nixos-system-\${name}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo \${builtins.readFile ./config.txt} > $out" ]; };
  in {
    nixosConfigurations.a.config.system.build.toplevel = sys "a";
    nixosConfigurations.b.config.system.build.toplevel = sys "b";
    nixosConfigurations.broken.config.system.build.toplevel = throw "nbs: broken on purpose";
  };
}
`
const LOCK = '{ "nodes": { "root": {} }, "root": "root", "version": 7 }\n'

const git = (dir: string, ...args: string[]) =>
  execa('git', ['-C', dir, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', '-c', 'init.defaultBranch=main', ...args])

let seq = 0
function flakeDir(): string {
  const dir = join(work, `flake${++seq}`)
  mkdirSync(dir)
  writeFileSync(join(dir, 'flake.nix'), FLAKE)
  writeFileSync(join(dir, 'flake.lock'), LOCK)
  writeFileSync(join(dir, 'config.txt'), `one-${seq}`)
  return dir
}
async function gitFlake(): Promise<string> {
  const dir = flakeDir()
  await git(dir, 'init', '-q')
  await git(dir, 'add', '.')
  await git(dir, 'commit', '-qm', 'init')
  return dir
}

const opts = (flake: string, extra: Partial<CachedEvalOptions> = {}): CachedEvalOptions => ({ exec, flake, host: 'a', env: NIX_ENV, cacheDir: join(work, 'cache'), ...extra })

it('evalCacheDir: $XDG_CACHE_HOME/nbs/eval, else ~/.cache/nbs/eval', () => {
  expect(evalCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/a' })).toBe('/x/cache/nbs/eval')
  expect(evalCacheDir({ HOME: '/home/a' })).toBe('/home/a/.cache/nbs/eval')
  expect(evalCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/a' })).toBe('/home/a/.cache/nbs/eval') // the spec ignores relative paths
})

needs('nix', 'git').describe('evalToplevelCached with real Nix and git', () => {
  it('git flake: the second call does not run nix; a tracked edit or staged file evaluates again; untracked files do not', async () => {
    const dir = await gitFlake()
    const first = await evalToplevelCached(opts(`git+file://${dir}`))
    expect(first).toMatchObject({ ok: true, outPath: expect.stringMatching(/-nixos-system-a$/) })
    expect(first).not.toHaveProperty('cached')
    expect(nixCalls()).toBe(1)
    const second = await evalToplevelCached(opts(`git+file://${dir}`))
    expect(second).toEqual({ ...first, cached: true })
    expect(nixCalls()).toBe(1)

    writeFileSync(join(dir, 'notes.txt'), 'untracked: Nix does not see it')
    expect(await evalToplevelCached(opts(`git+file://${dir}`))).toMatchObject({ cached: true })
    expect(nixCalls()).toBe(1)

    writeFileSync(join(dir, 'config.txt'), 'two')
    const edited = await evalToplevelCached(opts(`git+file://${dir}`))
    expect(nixCalls()).toBe(2)
    expect(edited.ok && edited.outPath).not.toBe(first.ok && first.outPath)
    expect(await evalToplevelCached(opts(`git+file://${dir}`))).toEqual({ ...edited, cached: true })

    // committing the same content: HEAD moved, so the key did too (one evaluation), then cached again
    await git(dir, 'commit', '-qam', 'two')
    expect(await evalToplevelCached(opts(`git+file://${dir}`))).toMatchObject({ ok: true, outPath: edited.ok ? edited.outPath : '' })
    expect(nixCalls()).toBe(3)
    // a plain path inside a git work tree is read through git too
    expect(await evalToplevelCached(opts(dir))).toMatchObject({ ok: true })
    expect(await evalToplevelCached(opts(dir))).toMatchObject({ cached: true })
    expect(nixCalls()).toBe(4)
  })

  it('another host, other nix options or another flake.lock do not share an entry', async () => {
    const dir = await gitFlake()
    const a = await evalToplevelCached(opts(dir))
    const b = await evalToplevelCached(opts(dir, { host: 'b' }))
    expect(nixCalls()).toBe(2)
    expect(b.ok && b.outPath).toMatch(/-nixos-system-b$/)
    expect(b.ok && b.outPath).not.toBe(a.ok && a.outPath)
    await evalToplevelCached(opts(dir, { extraArgs: ['--option', 'max-jobs', '1'] }))
    expect(nixCalls()).toBe(3)
    writeFileSync(join(dir, 'flake.lock'), LOCK.replace('7', '7 ')) // untracked or not, the lock is keyed by content
    await evalToplevelCached(opts(dir))
    expect(nixCalls()).toBe(4)
    expect(await evalToplevelCached(opts(dir, { host: 'b' }))).not.toHaveProperty('cached')
    expect(nixCalls()).toBe(5)
  })

  it('path: flake: keyed by every file\'s content, untracked ones included', async () => {
    const dir = flakeDir()
    const ref = `path:${dir}`
    await evalToplevelCached(opts(ref))
    expect(await evalToplevelCached(opts(ref))).toMatchObject({ cached: true })
    expect(nixCalls()).toBe(1)
    writeFileSync(join(dir, 'extra.txt'), 'Nix copies this too')
    await evalToplevelCached(opts(ref))
    expect(nixCalls()).toBe(2)
    writeFileSync(join(dir, 'config.txt'), 'changed')
    await evalToplevelCached(opts(ref))
    expect(await evalToplevelCached(opts(ref))).toMatchObject({ cached: true })
    expect(nixCalls()).toBe(3)
  })

  it('failed evaluations are not cached; corrupt entries and an unusable cache folder are ignored', async () => {
    const dir = await gitFlake()
    const cacheDir = join(work, `cache-${seq}`)
    expect(await evalToplevelCached(opts(dir, { host: 'broken', cacheDir }))).toMatchObject({ ok: false })
    expect(await evalToplevelCached(opts(dir, { host: 'broken', cacheDir }))).toMatchObject({ ok: false })
    expect(nixCalls()).toBe(2)

    const good = await evalToplevelCached(opts(dir, { cacheDir }))
    const [entry] = readdirSync(cacheDir)
    expect(entry).toMatch(/^[0-9a-f]{64}\.json$/)
    for (const junk of ['{ not json', JSON.stringify({ format: 1, key: 'x', createdAt: '', result: { ok: true, drvPath: '/x.drv' } }), '']) {
      writeFileSync(join(cacheDir, entry!), junk)
      expect(await evalToplevelCached(opts(dir, { cacheDir }))).toEqual(good) // evaluated again, not cached, no throw
    }
    expect(nixCalls()).toBe(6)
    expect(await evalToplevelCached(opts(dir, { cacheDir }))).toMatchObject({ cached: true }) // rewritten

    const file = join(work, `not-a-dir-${seq}`)
    writeFileSync(file, '')
    expect(await evalToplevelCached(opts(dir, { cacheDir: file }))).toEqual(good)
    expect(await evalToplevelCached(opts(dir, { cacheDir: join(file, 'sub') }))).toEqual(good)
  })

  it('entries are private to the user', async () => {
    const dir = await gitFlake()
    const cacheDir = join(work, `private-${seq}`, 'nbs', 'eval')
    await evalToplevelCached(opts(dir, { cacheDir }))
    const { statSync } = await import('node:fs')
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(cacheDir, readdirSync(cacheDir)[0]!)).mode & 0o777).toBe(0o600)
  })

  it('an entry another user could have written is not believed (a planted "in sync" under sudo -E or a shared cache)', async () => {
    const dir = await gitFlake()
    const cacheDir = join(work, `planted-${seq}`, 'nbs', 'eval')
    const first = await evalToplevelCached(opts(dir, { cacheDir }))
    expect(nixCalls()).toBe(1)
    const entry = join(cacheDir, readdirSync(cacheDir)[0]!)
    // a group-writable entry, and a folder others can write: neither is read
    chmodSync(entry, 0o660)
    expect(await evalToplevelCached(opts(dir, { cacheDir }))).toEqual(first)
    expect(nixCalls()).toBe(2)
    chmodSync(entry, 0o600)
    expect(await evalToplevelCached(opts(dir, { cacheDir }))).toMatchObject({ cached: true })
    chmodSync(cacheDir, 0o777)
    expect(await evalToplevelCached(opts(dir, { cacheDir }))).toEqual(first)
    expect(nixCalls()).toBe(3)
    // another owner: nobody's file is not ours
    chmodSync(cacheDir, 0o700)
    if (process.getuid?.() === 0) {
      const { chownSync } = await import('node:fs')
      chownSync(entry, 65534, 65534)
      expect(await evalToplevelCached(opts(dir, { cacheDir }))).toEqual(first)
      expect(nixCalls()).toBe(4)
    }
  })
})
