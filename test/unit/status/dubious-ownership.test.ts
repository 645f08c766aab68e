/**
 * A flake checkout owned by another user, read by root: real git (2.39 here) refuses it as
 * "dubious ownership"; getCurrentCommit names the owner and the exact fix, and the fix works.
 * Git's global config is a temp file (GIT_CONFIG_GLOBAL), so this machine's own is not read or changed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { runProcess } from '../../../src/runner/process.js'
import { dubiousOwnership, getCurrentCommit } from '../../../src/status/git.js'
import { needs } from '../../helpers/real.js'

const work = mkdtempSync(join(tmpdir(), 'nbs-dubious-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))
const globalConfig = join(work, 'gitconfig')
// no SUDO_UID: git 2.39 would trust that user's repositories when run as root
const env = { GIT_CONFIG_GLOBAL: globalConfig, GIT_CONFIG_NOSYSTEM: '1', HOME: work, SUDO_UID: undefined, SUDO_USER: undefined }
const exec: Exec = (file, args = [], o = {}) => runProcess(file, args, { ...o, env: { ...o.env, ...env } })

it('leaves other git errors alone', async () => {
  expect(await dubiousOwnership("fatal: not a git repository (or any of the parent directories): .git\n")).toBeUndefined()
})

needs('root', 'git').describe('a checkout owned by uid 65534, read as root', () => {
  const repo = join(work, 'my flake') // a space: the suggested command must quote it
  let rev = ''
  beforeAll(async () => {
    writeFileSync(globalConfig, '')
    mkdirSync(repo)
    writeFileSync(join(repo, 'flake.nix'), '{ outputs = { self }: { }; }\n')
    const git = (...args: string[]) => execa('git', ['-C', repo, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', ...args], { env })
    await git('init', '-q')
    await git('add', '.')
    await git('commit', '-qm', 'init')
    rev = (await git('rev-parse', 'HEAD')).stdout.trim()
    await execa('chown', ['-R', '65534:65534', repo])
  })

  it('git refuses it; the error names owner, user, the exact command and whose config it writes', async () => {
    const raw = await execa('git', ['-C', repo, 'rev-parse', 'HEAD'], { env: { ...env, LC_ALL: 'C' }, reject: false })
    expect(raw.stderr).toContain('detected dubious ownership') // the real refusal, reproduced
    const r = await getCurrentCommit({ exec, flake: repo, env })
    expect(r).toEqual({
      error: `${repo}: git refuses to read this repository: it is owned by nobody (uid 65534), and nbs runs as root (uid 0) ("dubious ownership"). To trust it, run as root (uid 0): \`git config --global --add safe.directory '${repo}'\` (adds it to ${globalConfig})`,
      safeDirectory: repo,
    })
  })

  it('under sudo it says the fix goes into root\'s config, not the invoking user\'s', async () => {
    const r = await getCurrentCommit({ exec, flake: `git+file://${repo}`, env: { ...env, SUDO_USER: 'alice' } })
    expect('error' in r && r.error).toContain(`run as root, e.g. \`sudo git config --global --add safe.directory '${repo}'\` (nbs runs as root under sudo: this is root's ${globalConfig}, not alice's)`)
  })

  it('the suggested command is the fix', async () => {
    await execa('git', ['config', '--global', '--add', 'safe.directory', repo], { env })
    expect(readFileSync(globalConfig, 'utf8')).toContain(repo)
    expect(await getCurrentCommit({ exec, flake: repo, env })).toMatchObject({ rev, dirty: false, dir: repo })
  })
})
