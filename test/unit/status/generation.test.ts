import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getCurrentGeneration, isGenerationInSync, isNixOSRoot, listSystemGenerations, parseNixosVersionScript, readNixosVersion, rebootNeeded } from '../../../src/status/generation.js'
import { compareRevision, getCurrentCommit } from '../../../src/status/git.js'
import { getHomeManagerGeneration } from '../../../src/status/home-manager.js'
import { readLinkInRoot, resolveInRoot } from '../../../src/machine/root-path.js'
import { buildHomeGeneration, buildSystem, evalSystem, exec, makeMachine, requireNix, SYSTEM_FIXTURES, type FakeMachine, type StoreMode } from '../../helpers/profiles.js'

const cleanups: (() => unknown)[] = []
afterAll(async () => void (await Promise.all(cleanups.map((c) => c()))))
function machine(store?: StoreMode): FakeMachine {
  const m = makeMachine({ store })
  cleanups.push(() => m.cleanup())
  return m
}
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nbs-gen-'))
  cleanups.push(() => rmSync(d, { recursive: true, force: true }))
  return d
}
const git = (dir: string, ...args: string[]) =>
  execa('git', ['-C', dir, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', '-c', 'init.defaultBranch=main', ...args])

// A real flake checkout: two commits, the systems are "built from" them via configurationRevision.
let repo: string, rev1: string, rev2: string
const sys: Record<string, string> = {}

beforeAll(async () => {
  await requireNix()
  repo = tempDir()
  await git(repo, 'init', '-q')
  writeFileSync(join(repo, 'flake.nix'), '{ outputs = _: { }; }\n')
  await git(repo, 'add', '.')
  await git(repo, 'commit', '-qm', 'first')
  rev1 = (await git(repo, 'rev-parse', 'HEAD')).stdout.trim()
  writeFileSync(join(repo, 'flake.nix'), '{ outputs = _: { x = 1; }; }\n')
  await git(repo, 'commit', '-qam', 'second')
  rev2 = (await git(repo, 'rev-parse', 'HEAD')).stdout.trim()
  const t = performance.now()
  // One at a time: concurrent builds of the shared kernel paths wait on Nix's path locks (~5 s).
  sys.old = await buildSystem({ rev: rev1 })
  sys.head = await buildSystem({ rev: rev2 })
  sys.headNewKernel = await buildSystem({ rev: rev2, kernel: '6.6.1' })
  sys.headNewInitrd = await buildSystem({ rev: rev2, initrd: '2' })
  sys.unrecorded = await buildSystem({ salt: 'no-rev' }) // configurationRevision not recorded
  sys.home = await buildHomeGeneration('alice')
  console.log(`built fixtures in ${Math.round(performance.now() - t)} ms`)
})

describe('a NixOS root in sync with the flake', () => {
  it.each(['nix-copy', 'cp'] as const)('finds the running generation as the newest, from HEAD, with no reboot needed (store: %s)', async (store) => {
    const m = machine(store)
    m.markNixOS()
    expect(await m.addGeneration(sys.old!)).toBe(1)
    expect(await m.addGeneration(sys.head!)).toBe(2)
    await m.setCurrent(sys.head!)
    await m.setBooted(sys.head!)
    expect(m.storeMode).toBe(store)

    const gens = await listSystemGenerations(m.root)
    expect(gens.map((g) => [g.number, g.path])).toEqual([[1, sys.old], [2, sys.head]])
    expect(gens[0]!.link).toBe('/nix/var/nix/profiles/system-1-link')
    expect(Date.parse(gens[1]!.mtime)).toBeGreaterThan(Date.now() - 600_000)

    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ generation: 'g2', generationRaw: '2', current: { number: 2, path: sys.head }, booted: sys.head })
    expect(gen).toMatchObject({ profile: { number: 2, path: sys.head }, newest: { number: 2 }, generations: 2, isNixOS: true, inSync: true })
    expect(await isGenerationInSync({ root: m.root })).toBe(true)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: false, differs: [] })

    const version = await readNixosVersion({ root: m.root })
    expect(version).toMatchObject({ source: 'files', configurationRevision: rev2, nixosVersion: '24.05.20240101.0123abc', codeName: 'Uakari' })
    expect(version.nixpkgsRevision).toMatch(/^0123abc/)
    const commit = await getCurrentCommit({ exec, flake: repo })
    expect(compareRevision({ configurationRevision: version.configurationRevision, commit })).toMatchObject({ status: 'in-sync', reason: 'match' })
  })

  it('runs nixos-version --json through exec on a live root, with the same answer as the files', async () => {
    const m = machine()
    await m.addGeneration(sys.head!)
    await m.setCurrent(sys.head!)
    const calls: string[] = []
    const spy: typeof exec = (f, a, o) => (calls.push([f, ...(a ?? [])].join(' ')), exec(f, a, o))
    const live = await readNixosVersion({ root: m.root, exec: spy, live: true })
    expect(live.source).toBe('exec')
    // the script resolved inside the root (its absolute links would otherwise leave it)
    expect(calls).toEqual([expect.stringMatching(new RegExp(`^${m.root}/nix/store/[^/]+-nixos-version/bin/nixos-version --json$`))])
    const files = await readNixosVersion({ root: m.root, exec: spy }) // another root: never runs its programs
    expect(calls).toHaveLength(1)
    // --json has no codeName; the rest must agree
    const strip = ({ source: _s, codeName: _c, ...rest }: typeof live) => rest
    expect(strip(live)).toEqual(strip(files))
    expect(live).toMatchObject({ configurationRevision: rev2, nixpkgsRevision: files.nixpkgsRevision, nixosVersion: files.nixosVersion })
  })
})

describe('out of sync', () => {
  it('is behind when a newer generation exists than the running one', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!)
    await m.addGeneration(sys.head!)
    await m.setCurrent(sys.old!) // e.g. after `nixos-rebuild boot`
    await m.setBooted(sys.old!)
    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ current: { number: 1, path: sys.old }, profile: { number: 2 }, newest: { number: 2 }, inSync: false })
    expect(await isGenerationInSync({ root: m.root })).toBe(false)
  })

  it('reports a revision mismatch when the running system was built from an older commit', async () => {
    const m = machine()
    await m.addGeneration(sys.old!)
    await m.setCurrent(sys.old!)
    const version = await readNixosVersion({ root: m.root })
    expect(version.configurationRevision).toBe(rev1)
    const sync = compareRevision({ configurationRevision: version.configurationRevision, commit: await getCurrentCommit({ exec, flake: repo }) })
    expect(sync).toMatchObject({ status: 'out-of-sync', reason: 'mismatch' })
    expect(sync.message).toContain(rev1)
  })

  it('treats a dirty flake tree as out of sync even when HEAD matches', async () => {
    const dirty = tempDir()
    await git(dirty, 'clone', '-q', repo, dirty)
    writeFileSync(join(dirty, 'flake.nix'), '{ outputs = _: { x = 2; }; }\n')
    const commit = await getCurrentCommit({ exec, flake: `git+file://${dirty}` })
    expect(commit).toMatchObject({ rev: rev2, dirty: true })
    expect(compareRevision({ configurationRevision: rev2, commit })).toMatchObject({ status: 'out-of-sync', reason: 'dirty-tree' })
  })

  it('says when the configuration does not record its revision, and falls back to the evaluated toplevel', async () => {
    const m = machine()
    await m.addGeneration(sys.unrecorded!)
    await m.setCurrent(sys.unrecorded!)
    const version = await readNixosVersion({ root: m.root })
    expect(version.configurationRevision).toBeUndefined()
    expect(version.nixosVersion).toBe('24.05.20240101.0123abc')
    const commit = await getCurrentCommit({ exec, flake: repo })
    const unrecorded = compareRevision({ configurationRevision: version.configurationRevision, commit })
    expect(unrecorded).toMatchObject({ status: 'unknown', reason: 'unrecorded' })
    expect(unrecorded.message).toContain('system.configurationRevision')

    const { current } = await getCurrentGeneration({ root: m.root })
    const same = await evalSystem({ salt: 'no-rev' })
    const other = await evalSystem({ salt: 'edited' })
    expect(compareRevision({ commit, currentPath: current!.path, evaluatedToplevel: same })).toMatchObject({ status: 'in-sync', reason: 'toplevel-match' })
    expect(compareRevision({ commit, currentPath: current!.path, evaluatedToplevel: other })).toMatchObject({ status: 'out-of-sync', reason: 'toplevel-differs' })
  })
})

describe('reboot needed', () => {
  it('names kernel, initrd and modules when the booted kernel differs from the running one', async () => {
    const m = machine()
    await m.setBooted(sys.head!)
    await m.setCurrent(sys.headNewKernel!)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: true, differs: ['kernel', 'initrd', 'kernel-modules'] })
  })

  it('names only what changed; no reboot for a new toplevel with the same kernel, nor without /run/booted-system', async () => {
    const m = machine()
    await m.setBooted(sys.old!)
    await m.setCurrent(sys.headNewInitrd!)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: true, differs: ['initrd'] })
    await m.setCurrent(sys.head!)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: false, differs: [] })
    rmSync(join(m.root, 'run/booted-system')) // cannot tell without it
    const r = await rebootNeeded({ root: m.root })
    expect(r).toMatchObject({ needed: false, differs: [] })
    expect(r.reason).toContain('/run/booted-system')
  })
})

describe('Home Manager generations', () => {
  it('finds the newest generation in ~/.local/state (home from the root\'s passwd) or per-user, and null when absent', async () => {
    const m = machine()
    m.addPasswd('alice', '/srv/alice')
    await m.addHomeGeneration('alice', '/srv/alice', sys.home!, 'xdg')
    await m.addHomeGeneration('alice', '/srv/alice', await buildHomeGeneration('alice-2'), 'xdg')
    await m.addHomeGeneration('bob', '/home/bob', sys.home!, 'per-user')

    const alice = await getHomeManagerGeneration({ root: m.root, user: 'alice' })
    expect(alice).toMatchObject({ number: 2, generation: 'hm2', active: 2, profileDir: '/srv/alice/.local/state/nix/profiles' })
    const bob = await getHomeManagerGeneration({ root: m.root, user: 'bob' })
    expect(bob).toMatchObject({ number: 1, path: sys.home, profileDir: '/nix/var/nix/profiles/per-user/bob' })
    expect(await getHomeManagerGeneration({ root: m.root, user: 'carol' })).toBeNull()
  })
})

describe('not a NixOS root', () => {
  it('gives the reason, and empty generation info', async () => {
    const root = tempDir()
    const info = await isNixOSRoot(root)
    expect(info).toMatchObject({ isNixOS: false, found: [] })
    expect(info.reason).toContain('/etc/NIXOS')
    const gen = await getCurrentGeneration({ root })
    expect(gen).toMatchObject({ isNixOS: false, current: null, profile: null, newest: null, generations: 0, inSync: false })
    expect(gen.reason).toBe(info.reason)
    expect(await readNixosVersion({ root })).toMatchObject({ source: 'none' })
    expect((await isNixOSRoot(join(root, 'missing'))).reason).toContain('not a directory')
  })

  it('recognises a NixOS image whose store is not there (dangling links)', async () => {
    const root = tempDir()
    mkdirSync(join(root, 'run'))
    symlinkSync('/nix/store/00000000000000000000000000000000-nixos-system-gone', join(root, 'run/current-system'))
    expect(await isNixOSRoot(root)).toMatchObject({ isNixOS: true, found: ['/run/current-system'] })
    expect((await getCurrentGeneration({ root })).current).toEqual({ path: '/nix/store/00000000000000000000000000000000-nixos-system-gone' })
  })
})

describe('resolveInRoot', () => {
  it('re-roots absolute links, follows relative ones, and never climbs above the root', async () => {
    const root = tempDir()
    mkdirSync(join(root, 'a/b'), { recursive: true })
    writeFileSync(join(root, 'a/b/file'), 'x')
    symlinkSync('/a/b', join(root, 'abs'))
    symlinkSync('../a/b/file', join(root, 'a/rel'))
    symlinkSync('/abs/../../../../a', join(root, 'climb'))
    symlinkSync('loop2', join(root, 'loop1'))
    symlinkSync('loop1', join(root, 'loop2'))
    expect(await resolveInRoot(root, '/abs/file')).toBe('/a/b/file')
    expect(await resolveInRoot(root, 'a/rel')).toBe('/a/b/file')
    expect(await resolveInRoot(root, '/climb/b')).toBe('/a/b')
    expect(await resolveInRoot(root, '/abs/..')).toBe('/a') // the link first, then `..`, like realpath
    expect(await readLinkInRoot(root, '/abs/../rel')).toBe('../a/b/file')
    await expect(resolveInRoot(root, '/loop1')).rejects.toMatchObject({ code: 'ELOOP' })
    await expect(resolveInRoot(root, '/abs/missing')).rejects.toMatchObject({ code: 'ENOENT' })
    // as a chroot sees it, a store linked to "the host's" /nix/store points at itself
    mkdirSync(join(root, 'nix'))
    symlinkSync('/nix/store', join(root, 'nix/store'))
    await expect(resolveInRoot(root, '/nix/store/x')).rejects.toMatchObject({ code: 'ELOOP' })
  })

  it('is plain realpath with root /', async () => {
    const dir = tempDir()
    symlinkSync(dir, join(dir, 'self'))
    expect(await resolveInRoot('/', join(dir, 'self/self/.'))).toBe(realpathSync(dir))
  })
})

describe('parseNixosVersionScript', () => {
  it('reads the values baked into the fixture script and into an older script without --json', () => {
    const text = readFileSync(join(sys.head!, 'sw/bin/nixos-version'), 'utf8')
    expect(parseNixosVersionScript(text)).toMatchObject({ configurationRevision: rev2, nixosVersion: '24.05.20240101.0123abc' })
    const old = readFileSync(join(SYSTEM_FIXTURES, 'nixos-version-21.05.sh'), 'utf8')
    const values = { nixpkgsRevision: '0123456789abcdef0123456789abcdef01234567', nixosVersion: '21.05.1234.0123456', codeName: 'Okapi' }
    expect(parseNixosVersionScript(old)).toEqual(values) // no configurationRevision: its placeholder was left
  })
})
