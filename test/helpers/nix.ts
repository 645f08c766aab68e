/**
 * Real Nix for tests (Debian's nix-bin, Nix 2.8). Always offline: with no substituters Nix never
 * waits on network retries. Fixture flakes are passed as `path:` refs: a flake inside this git
 * repository would otherwise be copied through git, which only sees tracked files.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Environment for every Nix call in tests: flakes on, no binary caches. */
export const NIX_ENV: Record<string, string> = {
  NIX_CONFIG: 'experimental-features = nix-command flakes\nsubstituters =',
}

let cached: string | null | undefined

/** `nix --version` output (e.g. `nix (Nix) 2.8.0`), or null when nix is not on PATH. */
export function nixVersion(): string | null {
  if (cached === undefined) {
    const r = spawnSync('nix', ['--version'], { encoding: 'utf8', env: { ...process.env, ...NIX_ENV } })
    cached = r.status === 0 ? r.stdout.trim() : null
  }
  return cached
}

/** Whether a working `nix` is on PATH. */
export function hasNix(): boolean {
  return nixVersion() !== null
}

/** Title suffix for a real-Nix suite, saying why it is skipped. */
export const NIX_SKIP_REASON = 'skipped: nix is not on PATH (apt-get install nix-bin)'

/** Absolute directory of a fixture flake under test/fixtures/flakes. */
export function fixtureFlakeDir(name: string): string {
  return fileURLToPath(new URL(`../fixtures/flakes/${name}`, import.meta.url))
}

/** `path:` flake ref of a fixture flake (no git involved, untracked files included). */
export function fixtureFlake(name: string): string {
  return `path:${fixtureFlakeDir(name)}`
}

/**
 * PATH for `nbs build` tests without whatever nh/nom a developer has installed: node, Nix and the
 * basics; a test puts the folder of the doubles it wants in front.
 */
export const BUILD_BASE_PATH = (() => {
  const nixDir = dirname(spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix')
  return [dirname(process.execPath), nixDir, '/usr/bin', '/bin'].join(':')
})()

let flakeSeq = 0
/** A fresh copy of a test/fixtures/build-flakes flake under `dir` (new nonce: every store path changes), as a `path:` ref. */
export function freshBuildFlake(dir: string, name: string): string {
  const copy = join(dir, `${name}-${process.pid}-${++flakeSeq}`)
  cpSync(fileURLToPath(new URL(`../fixtures/build-flakes/${name}`, import.meta.url)), copy, { recursive: true })
  writeFileSync(join(copy, 'nonce'), `${process.pid}-${flakeSeq}-${Date.now()}`)
  return `path:${copy}`
}
