import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { getCurrentCommit, getCurrentNixpkgsRev, localFlakeDir, type CommitInfo } from '../../../src/status/git.js'
import { compareRevision } from '../../../src/status/revision.js'
import { exec, NIX_ENV, requireNix } from '../../helpers/profiles.js'

const work = mkdtempSync(join(tmpdir(), 'nbs-git-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const git = (dir: string, ...args: string[]) =>
  execa('git', ['-C', dir, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', '-c', 'init.defaultBranch=main', ...args])

/** A real repository with one commit of `files`; returns its HEAD. */
async function repo(name: string, files: Record<string, string>): Promise<{ dir: string; rev: string }> {
  const dir = join(work, name)
  mkdirSync(dir, { recursive: true })
  await git(dir, 'init', '-q')
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text)
  await git(dir, 'add', '.')
  await git(dir, 'commit', '-qm', 'init')
  return { dir, rev: (await git(dir, 'log', '-1', '--format=%H')).stdout.trim() }
}

describe('localFlakeDir', () => {
  it('accepts path:, git+file: and filesystem paths, with ?dir=', () => {
    expect(localFlakeDir('/etc/nixos')).toEqual({ dir: '/etc/nixos', kind: 'path' })
    expect(localFlakeDir('./cfg#host', '/home/a')).toEqual({ dir: '/home/a/cfg', kind: 'path' })
    expect(localFlakeDir('.', '/home/a')).toEqual({ dir: '/home/a', kind: 'path' })
    expect(localFlakeDir('path:/etc/nixos#nixosConfigurations.h')).toEqual({ dir: '/etc/nixos', kind: 'path' })
    expect(localFlakeDir('git+file:///srv/my%20cfg?dir=hosts&ref=main')).toEqual({ dir: '/srv/my cfg/hosts', kind: 'git' })
    expect(localFlakeDir('git+file:/srv/cfg')).toEqual({ dir: '/srv/cfg', kind: 'git' })
  })

  it('refuses remote and registry references', () => {
    for (const ref of ['github:NixOS/nixpkgs', 'sourcehut:~user/cfg', 'flake:nixpkgs', 'nixpkgs', 'tarball+file:///x.tgz']) {
      expect(localFlakeDir(ref)).toMatchObject({ notLocal: true, error: expect.stringContaining('not a local flake') })
    }
  })
})

describe('getCurrentCommit', () => {
  it('reads HEAD and a clean tree with one rev-parse and one status call', async () => {
    const r = await repo('clean', { 'flake.nix': '{ outputs = _: { }; }\n' })
    const calls: string[][] = []
    const spy: Exec = (f, a = [], o) => (calls.push([f, ...a]), exec(f, a, o))
    const commit = await getCurrentCommit({ exec: spy, flake: r.dir })
    expect(commit).toEqual({ rev: r.rev, shortRev: r.rev.slice(0, 7), dirty: false, changes: [], dir: r.dir })
    expect(calls.map((c) => c.slice(3, 5))).toEqual([['rev-parse', '--is-inside-work-tree'], ['status', '--porcelain']])
  })

  it('a plain path inside a git work tree is read as Nix reads it (git+file): untracked files do not count', async () => {
    const r = await repo('plainpath', { 'flake.nix': '{ outputs = _: { }; }\n' })
    writeFileSync(join(r.dir, 'scratch.txt'), 'notes\n')
    expect(await getCurrentCommit({ exec, flake: r.dir })).toMatchObject({ dirty: false })
    expect(await getCurrentCommit({ exec, flake: `path:${r.dir}` })).toMatchObject({ dirty: true })
  })

  it('is dirty with a modified tracked file; untracked files count for path: flakes only (what Nix copies)', async () => {
    const r = await repo('dirty', { 'flake.nix': '{ outputs = _: { }; }\n' })
    writeFileSync(join(r.dir, 'new.nix'), '{ }\n')
    expect(await getCurrentCommit({ exec, flake: `git+file://${r.dir}` })).toMatchObject({ dirty: false })
    expect(await getCurrentCommit({ exec, flake: `path:${r.dir}` })).toMatchObject({ dirty: true, changes: ['?? new.nix'] })
    writeFileSync(join(r.dir, 'flake.nix'), '{ outputs = _: { x = 1; }; }\n')
    const commit = (await getCurrentCommit({ exec, flake: `git+file://${r.dir}` })) as CommitInfo
    expect(commit).toMatchObject({ rev: r.rev, dirty: true, changes: [' M flake.nix'] })
    // built from HEAD: equal, with the uncommitted change as a note
    expect(compareRevision({ configurationRevision: r.rev, commit })).toMatchObject({ status: 'equal', notes: [expect.stringContaining('uncommitted changes (1 file)')] })
  })

  it('explains a directory that is not a repository, a repository without commits, a remote flake and a missing git', async () => {
    const plain = join(work, 'plain')
    mkdirSync(plain)
    expect(await getCurrentCommit({ exec, flake: plain })).toEqual({ error: expect.stringMatching(/not a git repository/) })
    const empty = join(work, 'empty')
    mkdirSync(empty)
    await git(empty, 'init', '-q')
    expect(await getCurrentCommit({ exec, flake: empty })).toEqual({ error: expect.stringContaining(empty) })
    expect(await getCurrentCommit({ exec, flake: 'github:NixOS/nixpkgs' })).toMatchObject({ notLocal: true })
    const noGit: Exec = (f, a, o) => exec(f, a, { ...o, env: { ...o?.env, PATH: join(work, 'no-such-dir') } })
    expect(await getCurrentCommit({ exec: noGit, flake: plain })).toEqual({ error: 'git is not installed' })
  })
})

describe('getCurrentNixpkgsRev', () => {
  let np: { dir: string; rev: string }
  beforeAll(async () => {
    await requireNix()
    np = await repo('nixpkgs', { 'flake.nix': '{ outputs = _: { lib = { }; }; }\n' })
    await repo('upstream', { 'flake.nix': `{ inputs.nixpkgs.url = "git+file://${np.dir}"; outputs = _: { }; }\n` })
  })

  /** A flake directory locked by real `nix flake lock` (offline: every input is a local git repo). */
  async function locked(name: string, flakeNix: string): Promise<string> {
    const dir = join(work, name)
    mkdirSync(dir)
    writeFileSync(join(dir, 'flake.nix'), flakeNix)
    const r = await execa('nix', ['flake', 'lock', dir], { env: NIX_ENV, reject: false })
    if (r.exitCode !== 0) throw new Error(r.stderr)
    return dir
  }

  it('reads the root nixpkgs input from a lock file written by Nix', async () => {
    const dir = await locked('direct', `{ inputs.nixpkgs.url = "git+file://${np.dir}"; outputs = _: { }; }\n`)
    expect(await getCurrentNixpkgsRev({ flake: dir })).toMatchObject({ rev: np.rev, shortRev: np.rev.slice(0, 7), node: 'nixpkgs', type: 'git' })
  })

  it('follows `follows` (root.inputs.nixpkgs = ["upstream", "nixpkgs"])', async () => {
    const dir = await locked(
      'follows',
      `{ inputs.upstream.url = "git+file://${join(work, 'upstream')}"; inputs.nixpkgs.follows = "upstream/nixpkgs"; outputs = _: { }; }\n`,
    )
    expect(await getCurrentNixpkgsRev({ flake: `path:${dir}` })).toMatchObject({ rev: np.rev })
  })

  it('explains a missing lock, a missing input, an input without a revision and a remote flake', async () => {
    expect(await getCurrentNixpkgsRev({ flake: join(work, 'plain') })).toEqual({ error: expect.stringContaining('does not exist') })
    const dir = await locked('pathinput', `{ inputs.nixpkgs = { url = "path:${join(work, 'plain')}"; flake = false; }; outputs = _: { }; }\n`)
    expect(await getCurrentNixpkgsRev({ flake: dir })).toEqual({ error: expect.stringContaining('without a revision (type path)') })
    expect(await getCurrentNixpkgsRev({ flake: dir, input: 'home-manager' })).toEqual({ error: expect.stringContaining('no input "home-manager"') })
    expect(await getCurrentNixpkgsRev({ flake: 'github:NixOS/nixpkgs' })).toMatchObject({ notLocal: true })
  })
})

describe('compareRevision', () => {
  const commit: CommitInfo = { rev: 'a'.repeat(40), shortRev: 'aaaaaaa', dirty: false, changes: [], dir: '/cfg' }
  it('matches HEAD, a recorded shortRev, and leaves dirty builds and unknown commits unknown', () => {
    expect(compareRevision({ configurationRevision: 'a'.repeat(40), commit }).status).toBe('equal')
    expect(compareRevision({ configurationRevision: 'aaaaaaa', commit }).status).toBe('equal')
    expect(compareRevision({ configurationRevision: 'b'.repeat(40), commit }).reason).toBe('revision-differs')
    expect(compareRevision({ configurationRevision: `${'a'.repeat(40)}-dirty`, commit }).reason).toBe('dirty-build')
    expect(compareRevision({ configurationRevision: 'a'.repeat(40), commit: { error: 'git is not installed' } })).toMatchObject({
      status: 'unknown',
      reason: 'no-commit',
      message: 'git is not installed',
    })
    expect(compareRevision({ commit }).reason).toBe('unrecorded')
  })

  it('an evaluated toplevel decides over the recorded revision, both ways', () => {
    const x = '/nix/store/' + 'x'.repeat(32) + '-nixos-system-a'
    const y = '/nix/store/' + 'y'.repeat(32) + '-nixos-system-a'
    expect(compareRevision({ configurationRevision: 'b'.repeat(40), commit, runningToplevel: x, evaluatedToplevel: x })).toMatchObject({ status: 'equal', reason: 'toplevel-match' })
    expect(compareRevision({ configurationRevision: 'a'.repeat(40), commit, runningToplevel: x, evaluatedToplevel: y })).toMatchObject({ status: 'differs', reason: 'toplevel-differs' })
  })
})
