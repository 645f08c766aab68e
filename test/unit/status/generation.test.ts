import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getCurrentGeneration, isGenerationInSync, isNixOSRoot, listSystemGenerations, rebootNeeded } from '../../../src/status/generation.js'
import { parseNixosVersionScript, readNixosVersion } from '../../../src/status/nixos-version.js'
import { getCurrentCommit } from '../../../src/status/git.js'
import { compareRevision } from '../../../src/status/revision.js'
import { getHomeManagerGeneration, getHomeManagerState } from '../../../src/status/home-manager.js'
import { localMachine } from '../../../src/machine/local.js'
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
  sys.withSpecs = await buildSystem({ rev: rev2, specialisations: 'gaming,work' })
  sys.hmModule = await buildSystem({ rev: rev2, hmUser: 'alice', hmSalt: 'module' })
  sys.hmDashed = await buildSystem({ rev: rev2, hmUser: 'john-doe', hmSalt: 'dashed' })
  sys.noTool = await buildSystem({ versionTool: false, label: 'my-custom-label', salt: 'no-tool' })
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
    expect(gen).toMatchObject({ profile: { number: 2, path: sys.head }, newest: { number: 2 }, generations: 2, isNixOS: true, inSync: true, state: 'in-sync' })
    expect(await isGenerationInSync({ root: m.root })).toBe(true)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: false, differs: [] })

    const version = await readNixosVersion({ root: m.root })
    expect(version).toMatchObject({ source: 'files', configurationRevision: rev2, nixosVersion: '24.05.20240101.0123abc', codeName: 'Uakari' })
    expect(version.nixpkgsRevision).toMatch(/^0123abc/)
    const commit = await getCurrentCommit({ exec, flake: repo })
    expect(compareRevision({ configurationRevision: version.configurationRevision, commit })).toMatchObject({ status: 'equal', reason: 'revision-match', notes: [] })
  })

  it('runs nixos-version --json through exec on a live root, with the same answer as the files', async () => {
    const m = machine()
    await m.addGeneration(sys.head!)
    await m.setCurrent(sys.head!)
    const calls: string[] = []
    const spy: typeof exec = (f, a, o) => (calls.push([f, ...(a ?? [])].join(' ')), exec(f, a, o))
    // a live machine whose current system is the root's (the store paths are the same on this host)
    const live = await readNixosVersion({ machine: { ...localMachine({ exec: spy }), realPath: localMachine({ root: m.root, exec: spy }).realPath }, system: '/run/current-system' })
    expect(live.source).toBe('exec')
    expect(calls).toEqual([expect.stringMatching(/^\/nix\/store\/[^/]+-nixos-version\/bin\/nixos-version --json$/)])
    const files = await readNixosVersion({ machine: localMachine({ root: m.root, exec: spy }) }) // another root: never runs its programs
    expect(calls).toHaveLength(1)
    // --json has no codeName; the rest must agree
    const strip = ({ source: _s, codeName: _c, ...rest }: typeof live) => rest
    expect(strip(live)).toEqual(strip(files))
    expect(live).toMatchObject({ configurationRevision: rev2, nixpkgsRevision: files.nixpkgsRevision, nixosVersion: files.nixosVersion })
  })
})

describe('out of sync', () => {
  it('is pending after nixos-rebuild boot: the profile points to a newer generation than what runs', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!)
    await m.setCurrent(sys.old!)
    await m.setBooted(sys.old!)
    await m.addGeneration(sys.headNewKernel!) // `nixos-rebuild boot`: the profile moves, nothing is activated
    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ current: { number: 1, path: sys.old }, profile: { number: 2 }, newest: { number: 2 }, inSync: false, state: 'pending' })
    expect(gen.message).toContain('generation 2 is set to boot next')
    expect(await isGenerationInSync({ root: m.root })).toBe(false)
    // the kernel that boots next is new: a reboot is needed, though the running system is the booted one
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: true, differs: ['kernel', 'initrd', 'kernel-modules'] })
    expect(await rebootNeeded({ root: m.root, against: '/run/current-system' })).toMatchObject({ needed: false })
  })

  it('reports a revision mismatch when the running system was built from an older commit', async () => {
    const m = machine()
    await m.addGeneration(sys.old!)
    await m.setCurrent(sys.old!)
    const version = await readNixosVersion({ root: m.root })
    expect(version.configurationRevision).toBe(rev1)
    const sync = compareRevision({ configurationRevision: version.configurationRevision, commit: await getCurrentCommit({ exec, flake: repo }) })
    expect(sync).toMatchObject({ status: 'differs', reason: 'revision-differs' })
    expect(sync.message).toContain(rev1)
  })

  it('a dirty tree is a note, not a verdict: HEAD matches, or the evaluated toplevel equals the running one', async () => {
    const dirty = tempDir()
    await git(dirty, 'clone', '-q', repo, dirty)
    writeFileSync(join(dirty, 'README.md'), 'an edit that changes no system\n')
    await git(dirty, 'add', 'README.md')
    const commit = await getCurrentCommit({ exec, flake: `git+file://${dirty}` })
    expect(commit).toMatchObject({ rev: rev2, dirty: true })
    const byRev = compareRevision({ configurationRevision: rev2, commit })
    expect(byRev).toMatchObject({ status: 'equal', reason: 'revision-match' })
    expect(byRev.notes.join()).toContain('uncommitted changes (1 file)')
    // the flake evaluated with the edit still gives the running toplevel: equal wins
    const running = await evalSystem({ salt: 'no-rev' })
    const byEval = compareRevision({ configurationRevision: `${rev2}-dirty`, commit, runningToplevel: running, evaluatedToplevel: running })
    expect(byEval).toMatchObject({ status: 'equal', reason: 'toplevel-match' })
    expect(byEval.notes.join()).toContain('uncommitted changes')
  })

  it('reads each configurationRevision idiom: self.rev, self.dirtyRev, "dirty", self.shortRev', async () => {
    const commit = await getCurrentCommit({ exec, flake: repo })
    expect(compareRevision({ configurationRevision: rev2, commit }).status).toBe('equal')
    expect(compareRevision({ configurationRevision: rev2.slice(0, 7), commit }).status).toBe('equal')
    expect(compareRevision({ configurationRevision: rev1.slice(0, 7), commit }).status).toBe('differs')
    expect(compareRevision({ configurationRevision: `${rev2}-dirty`, commit })).toMatchObject({ status: 'unknown', reason: 'dirty-build' })
    expect(compareRevision({ configurationRevision: 'dirty', commit })).toMatchObject({ status: 'unknown', reason: 'dirty-build' })
    expect(compareRevision({ configurationRevision: rev2, commit: { error: 'git is not installed' } })).toMatchObject({ status: 'unknown', reason: 'no-commit' })
    expect(compareRevision({ commit })).toMatchObject({ status: 'unknown', reason: 'unrecorded' })
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
    expect(compareRevision({ commit, runningToplevel: current!.toplevel, evaluatedToplevel: same })).toMatchObject({ status: 'equal', reason: 'toplevel-match' })
    expect(compareRevision({ commit, runningToplevel: current!.toplevel, evaluatedToplevel: other })).toMatchObject({ status: 'differs', reason: 'toplevel-differs' })
  })
})

describe('real machine states (nixpkgs activation, nixos-rebuild, reference/nix.md §10)', () => {
  it('rolled back: `nix-env --rollback` moves the profile to N-1, N-1 runs, N still exists: healthy, named', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!)
    await m.addGeneration(sys.head!)
    expect(await m.rollback()).toBe(1)
    await m.setCurrent(sys.old!) // what `nixos-rebuild switch --rollback` activates
    await m.setBooted(sys.head!)
    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ generation: 'g1', current: { number: 1 }, profile: { number: 1 }, newest: { number: 2 }, state: 'rolled-back', inSync: true })
    expect(gen.message).toBe('running generation 1, rolled back from generation 2')
    // a rebuild after the rollback makes generation 3, the newest again
    expect(await m.addGeneration(sys.headNewInitrd!)).toBe(3)
    await m.setCurrent(sys.headNewInitrd!)
    expect(await getCurrentGeneration({ root: m.root })).toMatchObject({ state: 'in-sync', current: { number: 3 } })
  })

  it('a specialisation runs: /run/current-system is its own toplevel, found under its generation and named', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!)
    expect(await m.addGeneration(sys.withSpecs!)).toBe(2)
    const gaming = realpathSync(join(sys.withSpecs!, 'specialisation/gaming'))
    expect(gaming).not.toBe(sys.withSpecs)
    await m.setCurrent(gaming) // `switch-to-configuration` of specialisation/gaming links its own toplevel
    await m.setBooted(gaming)
    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ state: 'in-sync', inSync: true, current: { path: gaming, number: 2, specialisation: 'gaming', toplevel: sys.withSpecs } })
    expect(gen.bootedSystem).toMatchObject({ generation: 2, specialisation: 'gaming' })
    expect(gen.message).toBe('running generation 2, specialisation gaming, the newest')
    // the booted specialisation boots again: compared with the profile's own gaming, no reboot
    expect(await rebootNeeded({ root: m.root, bootedSpecialisation: 'gaming' })).toEqual({ needed: false, differs: [] })
    // the flake comparison goes through the parent toplevel
    const commit = await getCurrentCommit({ exec, flake: repo })
    expect(compareRevision({ commit, runningToplevel: gen.current!.toplevel, evaluatedToplevel: sys.withSpecs })).toMatchObject({ status: 'equal' })
    // a specialisation of an older generation that is not the profile's: pending
    await m.setCurrent(realpathSync(join(sys.withSpecs!, 'specialisation/work')))
    await m.addGeneration(sys.head!)
    expect(await getCurrentGeneration({ root: m.root })).toMatchObject({ state: 'pending', current: { number: 2, specialisation: 'work' }, profile: { number: 3 } })
  })

  it('pending, not drifted: nixos-rebuild boot, then nix-collect-garbage -d removed the running generation\'s link', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!)
    await m.setCurrent(sys.old!)
    await m.setBooted(sys.old!)
    await m.addGeneration(sys.head!)
    rmSync(join(m.root, 'nix/var/nix/profiles/system-1-link')) // what `nix-collect-garbage -d` keeps: only the current link
    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ state: 'pending', profile: { number: 2 }, current: { path: sys.old } })
    expect(gen.message).toContain('whose generation link is gone (garbage-collected); generation 2 is set to boot next')
  })

  it('drifted: `nixos-rebuild test` activated a system that is in no generation', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!)
    await m.setCurrent(sys.unrecorded!)
    const gen = await getCurrentGeneration({ root: m.root })
    expect(gen).toMatchObject({ state: 'drifted', inSync: false, current: { path: sys.unrecorded }, profile: { number: 1 } })
    expect(gen.current!.number).toBeUndefined()
    expect(gen.message).toContain('in no generation of the system profile (nixos-rebuild test')
  })

  it('another system profile (`nixos-rebuild --profile-name work`, comin): system-profiles/work-N-link', async () => {
    const m = machine()
    m.markNixOS()
    await m.addGeneration(sys.old!) // the default profile, not the one this machine boots from
    expect(await m.addGeneration(sys.old!, 'system-profiles/work')).toBe(1)
    expect(await m.addGeneration(sys.head!, 'system-profiles/work')).toBe(2)
    await m.setCurrent(sys.head!)
    expect(await getCurrentGeneration({ root: m.root })).toMatchObject({ state: 'drifted' })
    const gen = await getCurrentGeneration({ root: m.root, profile: 'system-profiles/work' })
    expect(gen).toMatchObject({ state: 'in-sync', profile: { number: 2, link: '/nix/var/nix/profiles/system-profiles/work' }, newest: { link: '/nix/var/nix/profiles/system-profiles/work-2-link' } })
    expect((await listSystemGenerations({ root: m.root }, 'system-profiles/work')).map((g) => g.number)).toEqual([1, 2])
  })

  it('NixOS without /etc/NIXOS is recognised by ID=nixos in /etc/os-release', async () => {
    const root = tempDir()
    mkdirSync(join(root, 'etc'))
    writeFileSync(join(root, 'etc/os-release'), 'NAME=NixOS\nID=nixos\nVERSION_ID="24.05"\n')
    expect(await isNixOSRoot(root)).toMatchObject({ isNixOS: true, found: ['/etc/os-release'] })
    writeFileSync(join(root, 'etc/os-release'), 'NAME="Debian GNU/Linux"\nID=debian\n')
    expect(await isNixOSRoot(root)).toMatchObject({ isNixOS: false })
  })

  it('without nixos-version (disableInstallerTools) the label is reported as the label, not as the version', async () => {
    const m = machine()
    await m.addGeneration(sys.noTool!)
    await m.setCurrent(sys.noTool!)
    const v = await readNixosVersion({ root: m.root })
    expect(v).toMatchObject({ source: 'label', label: 'my-custom-label' })
    expect(v.nixosVersion).toBeUndefined()
    expect(v.reason).toContain('disableInstallerTools')
    // with the tool, the version comes from it, and the label file stays the label
    expect(await readNixosVersion({ root: (await (async () => { const n = machine(); await n.addGeneration(sys.head!); await n.setCurrent(sys.head!); return n })()).root })).toMatchObject({ nixosVersion: '24.05.20240101.0123abc', label: '24.05.20240101.0123abc' })
  })

  it('Home Manager as a NixOS module: the unit names the active generation; old profile links are stale', async () => {
    const m = machine()
    m.addPasswd('alice', '/home/alice')
    await m.addGeneration(sys.hmModule!)
    await m.setCurrent(sys.hmModule!)
    const module = await getHomeManagerState({ root: m.root, user: 'alice' })
    const unitGeneration = /\/nix\/store\/\S+-home-manager-generation/.exec(readFileSync(join(sys.hmModule!, 'etc/systemd/system/home-manager-alice.service'), 'utf8'))![0]
    expect(module).toEqual({ mode: 'nixos-module', user: 'alice', unit: 'home-manager-alice.service', path: unitGeneration })
    // links made before 25.11 stay behind: reported as stale, not as what is active
    await m.addHomeGeneration('alice', '/home/alice', sys.home!, 'per-user')
    expect(await getHomeManagerState({ root: m.root, user: 'alice' })).toMatchObject({ mode: 'nixos-module', staleLinks: { newest: 1, path: sys.home } })
    // standalone: links only, no unit in the running system
    await m.addHomeGeneration('bob', '/home/bob', sys.home!, 'per-user')
    expect(await getHomeManagerState({ root: m.root, user: 'bob' })).toMatchObject({ mode: 'standalone', generation: { generation: 'hm1' } })
    expect(await getHomeManagerState({ root: m.root, user: 'carol' })).toBeNull()
  })

  it('Home Manager module for a user whose name systemd escapes (john-doe → home-manager-john\\x2ddoe.service)', async () => {
    const m = machine()
    await m.addGeneration(sys.hmDashed!)
    await m.setCurrent(sys.hmDashed!)
    expect(await getHomeManagerState({ root: m.root, user: 'john-doe' })).toMatchObject({ mode: 'nixos-module', unit: 'home-manager-john\\x2ddoe.service', path: expect.stringMatching(/-home-manager-generation$/) })
  })
})

describe('reboot needed', () => {
  it('names kernel, initrd and modules when the booted kernel differs from what the profile boots', async () => {
    const m = machine()
    await m.setBooted(sys.head!)
    await m.addGeneration(sys.headNewKernel!)
    await m.setCurrent(sys.headNewKernel!)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: true, differs: ['kernel', 'initrd', 'kernel-modules'] })
  })

  it('names only what changed; no reboot for a new toplevel with the same kernel, nor without /run/booted-system', async () => {
    const m = machine()
    await m.setBooted(sys.old!)
    await m.addGeneration(sys.headNewInitrd!)
    expect(await rebootNeeded({ root: m.root })).toEqual({ needed: true, differs: ['initrd'] })
    await m.addGeneration(sys.head!)
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
    expect(gen).toMatchObject({ isNixOS: false, current: null, profile: null, newest: null, generations: 0, inSync: false, state: 'unknown' })
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
