import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { getFlakeRef } from '../../../src/hosts/flake-hosts.js'

const tmp = mkdtempSync(join(tmpdir(), 'nbs-flakeref-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('getFlakeRef: what the nix command line means by a reference, for builtins.getFlake', () => {
  it('a plain path in a git work tree is git+file (tracked files only), with dir= for a subfolder', () => {
    const repo = join(tmp, 'repo')
    mkdirSync(join(repo, '.git'), { recursive: true })
    mkdirSync(join(repo, 'hosts', 'fleet'), { recursive: true })
    expect(getFlakeRef(repo)).toBe(`git+file://${repo}`)
    expect(getFlakeRef(join(repo, 'hosts', 'fleet'))).toBe(`git+file://${repo}?dir=hosts%2Ffleet`)
    expect(getFlakeRef('.', repo)).toBe(`git+file://${repo}`)
    expect(getFlakeRef(`${repo}#web`)).toBe(`git+file://${repo}`)
  })

  it('a plain path outside git is path:, relative path: and git+file: become absolute, URIs pass', () => {
    const plain = join(tmp, 'plain')
    mkdirSync(plain)
    expect(getFlakeRef(plain)).toBe(`path:${plain}`)
    expect(getFlakeRef('path:plain', tmp)).toBe(`path:${plain}`)
    expect(getFlakeRef(`path:${plain}`)).toBe(`path:${plain}`)
    expect(getFlakeRef('github:owner/repo')).toBe('github:owner/repo')
    expect(getFlakeRef('nixpkgs')).toBe('nixpkgs')
  })
})
