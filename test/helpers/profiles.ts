/**
 * Real NixOS-shaped machine roots for tests: toplevels built by real Nix from
 * test/fixtures/system/default.nix, generations made by real `nix-env -p … --set`, and the store
 * paths copied into the root with `nix copy --to ROOT` (a local chroot store, real files) so that
 * links re-rooted under `--root` resolve. When nix copy is unusable the closure is copied with
 * `cp -a` (`storeMode` says which). A symlink ROOT/nix/store → /nix/store cannot stand in: seen
 * from inside the root, as `--root` resolves it, that link points at itself.
 */
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import type { Exec } from '../../src/checks/types.js'
import { runProcess } from '../../src/runner/process.js'
import { NIX_ENV } from './nix.js'

/** Offline Nix: flakes on, and no substituters (there is no network; Nix would retry for seconds). */
export { NIX_ENV }
export const SYSTEM_FIXTURES = fileURLToPath(new URL('../fixtures/system/', import.meta.url))

/** `ctx.exec` for tests: the real process runner. */
export const exec: Exec = (file, args = [], options = {}) => runProcess(file, args, options)

async function nix(file: string, args: string[], cwd?: string): Promise<string> {
  const r = await execa(file, args, { env: NIX_ENV, reject: false, cwd, stdin: 'ignore' })
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.exitCode}):\n${r.stderr}`)
  return r.stdout.trim()
}

/** Fails early, with the fix, when Nix is missing (these tests need the real thing). */
export async function requireNix(): Promise<void> {
  const r = await execa('nix-build', ['--version'], { reject: false, env: NIX_ENV })
  if (r.exitCode !== 0) throw new Error('nix-build not found: install Debian\'s Nix (apt-get install nix-bin)')
}

export interface SystemArgs {
  /** configurationRevision; omitted = not recorded */
  rev?: string
  kernel?: string
  initrd?: string
  label?: string
  nixpkgsRev?: string
  /** changes the toplevel and nothing else */
  salt?: string
  /** `specialisation/<name>` links to child toplevels: "gaming,work" */
  specialisations?: string
  /** the Home Manager NixOS module's `home-manager-<user>.service` in the toplevel's etc */
  hmUser?: string
  hmSalt?: string
  /** false: no sw/bin/nixos-version (system.disableInstallerTools) */
  versionTool?: boolean
}

function argstrs(args: Record<string, string | boolean | undefined>): string[] {
  return Object.entries(args).flatMap(([k, v]) => (v === undefined ? [] : typeof v === 'boolean' ? ['--arg', k, String(v)] : ['--argstr', k, v]))
}

/** Builds a NixOS-toplevel-shaped store path with real nix-build; returns its store path. */
export function buildSystem(args: SystemArgs = {}): Promise<string> {
  return nix('nix-build', [join(SYSTEM_FIXTURES, 'default.nix'), '--no-out-link', ...argstrs({ ...args })])
}

/** The out path Nix evaluates for the same arguments, without building (`nix eval`, as a check would). */
export function evalSystem(args: SystemArgs = {}): Promise<string> {
  const attrs = Object.entries(args)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)};`).join(' ')
  const expr = `(import ${join(SYSTEM_FIXTURES, 'default.nix')} { ${attrs} }).outPath`
  return nix('nix', ['eval', '--raw', '--impure', '--expr', expr])
}

/** Builds a Home-Manager-generation-shaped store path. */
export function buildHomeGeneration(salt = ''): Promise<string> {
  return nix('nix-build', [join(SYSTEM_FIXTURES, 'home.nix'), '--no-out-link', '--argstr', 'salt', salt])
}

export type StoreMode = 'nix-copy' | 'cp'

export interface FakeMachine {
  root: string
  /** how store paths got into the root; decided by the first one added */
  storeMode: StoreMode | undefined
  /** `nix-env -p ROOT/nix/var/nix/profiles/<profile> --set PATH` (default profile `system`); returns the generation number */
  addGeneration(storePath: string, profile?: string): Promise<number>
  /** `nix-env -p … --rollback`, as `nixos-rebuild switch --rollback` does to the profile */
  rollback(profile?: string): Promise<number>
  /** `/run/current-system` → storePath (also copies it into the root's store) */
  setCurrent(storePath: string): Promise<void>
  setBooted(storePath: string): Promise<void>
  markNixOS(): void
  addPasswd(user: string, home: string): void
  /** a Home Manager generation in `~/.local/state/nix/profiles` (xdg) or `per-user/<user>` (legacy) */
  addHomeGeneration(user: string, home: string, storePath: string, layout: 'xdg' | 'per-user'): Promise<void>
  cleanup(): Promise<void>
}

/**
 * A new generation of the profile at `profile` (a path on this machine) pointing at `storePath`,
 * made by real `nix-env -p … --set` as nixos-rebuild does; returns its number.
 */
export async function setProfile(profile: string, storePath: string): Promise<number> {
  mkdirSync(dirname(profile), { recursive: true })
  await nix('nix-env', ['-p', profile, '--set', storePath])
  return profileGeneration(profile)
}

/** `nix-env -p … --rollback`, as `nixos-rebuild switch --rollback` does to the profile; returns the generation it now points at. */
export async function rollbackProfile(profile: string): Promise<number> {
  await nix('nix-env', ['-p', profile, '--rollback'])
  return profileGeneration(profile)
}

function profileGeneration(profile: string): number {
  return Number(/-(\d+)-link$/.exec(readlinkSync(profile))![1])
}

/** The host name fixture roots have in /etc/hostname: what `--host` must say for machine checks to run there. */
export const ROOT_HOSTNAME = 'testhost'

/** A machine root in a temp dir, holding only /etc/hostname (`testhost`); add what the test needs. `store: 'cp'` skips nix copy. */
export function makeMachine(opts: { store?: StoreMode; hostname?: string } = {}): FakeMachine {
  const root = mkdtempSync(join(tmpdir(), 'nbs-root-'))
  mkdirSync(join(root, 'etc'), { recursive: true })
  writeFileSync(join(root, 'etc/hostname'), `${opts.hostname ?? ROOT_HOSTNAME}\n`)
  const m: FakeMachine = {
    root,
    storeMode: opts.store,
    async addGeneration(storePath, name = 'system') {
      await intoStore(storePath)
      return setProfile(join(root, 'nix/var/nix/profiles', name), storePath)
    },
    rollback(name = 'system') {
      return rollbackProfile(join(root, 'nix/var/nix/profiles', name))
    },
    async setCurrent(storePath) {
      await intoStore(storePath)
      link(join(root, 'run/current-system'), storePath)
    },
    async setBooted(storePath) {
      await intoStore(storePath)
      link(join(root, 'run/booted-system'), storePath)
    },
    markNixOS() {
      mkdirSync(join(root, 'etc'), { recursive: true })
      writeFileSync(join(root, 'etc/NIXOS'), '')
    },
    addPasswd(user, home) {
      mkdirSync(join(root, 'etc'), { recursive: true })
      writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:System administrator:/root:/bin/sh\n${user}:x:1000:100::${home}:/bin/sh\n`, { flag: 'a' })
    },
    async addHomeGeneration(user, home, storePath, layout) {
      await intoStore(storePath)
      const dir = layout === 'xdg' ? join(root, home, '.local/state/nix/profiles') : join(root, 'nix/var/nix/profiles/per-user', user)
      mkdirSync(dir, { recursive: true })
      await nix('nix-env', ['-p', join(dir, 'home-manager'), '--set', storePath])
    },
    async cleanup() {
      // store paths are read-only directories: make them writable so a non-root run can delete them
      await execa('chmod', ['-R', 'u+w', root], { reject: false })
      rmSync(root, { recursive: true, force: true })
    },
  }

  async function intoStore(storePath: string): Promise<void> {
    if (m.storeMode === undefined || m.storeMode === 'nix-copy') {
      const r = await execa('nix', ['copy', '--no-check-sigs', '--to', root, storePath], { env: NIX_ENV, reject: false })
      if (r.exitCode === 0) {
        m.storeMode = 'nix-copy'
        return
      }
      if (m.storeMode === 'nix-copy') throw new Error(`nix copy --to ${root} ${storePath} failed:\n${r.stderr}`)
      m.storeMode = 'cp'
    }
    // Plain copies of the closure: real files, but no store database in the root.
    mkdirSync(join(root, 'nix/store'), { recursive: true })
    for (const p of (await nix('nix-store', ['-qR', storePath])).split('\n')) {
      if (!existsSync(join(root, p))) await execa('cp', ['-a', p, join(root, p)])
    }
  }

  return m
}

function link(at: string, target: string): void {
  mkdirSync(dirname(at), { recursive: true })
  rmSync(at, { force: true })
  symlinkSync(target, at)
}
