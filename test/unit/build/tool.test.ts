import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { chooseTool, findOnPath, formatCommand, parseAction, parseTarget, parseTool } from '../../../src/build/tool.js'

describe('arguments', () => {
  it('accepts the targets and actions, and names the valid ones when refusing (exit 3)', () => {
    expect(parseTarget('os')).toBe('os')
    expect(parseTarget('home')).toBe('home')
    expect(() => parseTarget('darwin')).toThrow(/target "darwin": expected "os", "home"/)
    for (const a of ['switch', 'boot', 'test', 'build', 'dry-build']) expect(parseAction('os', a)).toBe(a)
    expect(() => parseAction('os', 'frobnicate')).toThrow(expect.objectContaining({ name: 'NbsError', exitCode: 3 }))
    expect(() => parseAction('os', 'frobnicate')).toThrow(/action "frobnicate": expected "switch", "boot", "test", "build", "dry-build"/)
  })

  it('home has no boot entry and no test activation', () => {
    expect(parseAction('home', 'switch')).toBe('switch')
    expect(parseAction('home', 'dry-build')).toBe('dry-build')
    expect(() => parseAction('home', 'boot')).toThrow(/expected "switch", "build", "dry-build" for home/)
    expect(() => parseAction('home', 'test')).toThrow(/for home/)
  })

  it('--tool must exist and fit the target', () => {
    expect(parseTool('os', undefined)).toBeUndefined()
    expect(parseTool('os', 'nixos-rebuild')).toBe('nixos-rebuild')
    expect(parseTool('home', 'nh')).toBe('nh')
    expect(() => parseTool('os', 'colmena')).toThrow(/--tool "colmena": expected "nh", "nixos-rebuild", "home-manager"/)
    expect(() => parseTool('os', 'home-manager')).toThrow(/builds home, not os/)
    expect(() => parseTool('home', 'nixos-rebuild')).toThrow(/builds os, not home/)
  })
})

describe('chooseTool', () => {
  it('prefers nh when installed, else the classic tool of the target; --tool wins', () => {
    const only = (...cmds: string[]) => (c: string) => cmds.includes(c)
    expect(chooseTool('os', { has: only('nh', 'nixos-rebuild') })).toBe('nh')
    expect(chooseTool('os', { has: only('nixos-rebuild') })).toBe('nixos-rebuild')
    expect(chooseTool('home', { has: only() })).toBe('home-manager')
    expect(chooseTool('os', { forced: 'nixos-rebuild', has: only('nh') })).toBe('nixos-rebuild')
  })

  it('findOnPath finds executables only, in PATH order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-path-'))
    try {
      const [a, b] = [join(dir, 'a'), join(dir, 'b')]
      mkdirSync(a)
      mkdirSync(b)
      writeFileSync(join(a, 'tool'), '') // not executable
      writeFileSync(join(b, 'tool'), '#!/bin/sh\n')
      chmodSync(join(b, 'tool'), 0o755)
      mkdirSync(join(a, 'dir-tool'))
      expect(findOnPath('tool', { PATH: `${a}:${b}` })).toBe(join(b, 'tool'))
      expect(findOnPath('dir-tool', { PATH: a })).toBeNull()
      expect(findOnPath('tool', {})).toBeNull()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('formatCommand', () => {
  it('quotes what a shell would split or expand', () => {
    expect(formatCommand('nh', ['os', 'switch', '/etc/nixos', '--', '-v'])).toBe('nh os switch /etc/nixos -- -v')
    expect(formatCommand('nixos-rebuild', ['--flake', '/my flake#web', "it's", '$HOME'])).toBe(
      `nixos-rebuild --flake '/my flake#web' 'it'\\''s' '$HOME'`,
    )
  })
})
