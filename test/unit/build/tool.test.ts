import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  chooseTool,
  findOnPath,
  formatCommand,
  parseAction,
  parseTarget,
  parseTool,
  toolCommand,
  type ToolCommandOptions,
} from '../../../src/build/tool.js'

const NIX = ['-v', '--log-format', 'internal-json']
const base: ToolCommandOptions = { tool: 'nh', target: 'os', action: 'switch', flake: '/etc/nixos', host: 'web', extra: [] }

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

describe('toolCommand', () => {
  it('nh: the flake and host as nh takes them, no nom (nbs feeds it), Nix args after --', () => {
    const c = toolCommand({ ...base, extra: ['--show-trace'] })
    expect(c.file).toBe('nh')
    expect(c.args).toEqual(['os', 'switch', '/etc/nixos', '--hostname', 'web', '--no-nom', '--', ...NIX, '--show-trace'])
    expect(c.structured).toBe(true)
    expect(c.env).toEqual({ NH_SHOW_ACTIVATION_LOGS: '1' }) // activation output is shown, not hidden
  })

  it('nh: dry-build is `build --dry`; home takes the fragment as the configuration', () => {
    expect(toolCommand({ ...base, action: 'dry-build' }).args.slice(0, 7)).toEqual(['os', 'build', '/etc/nixos', '--hostname', 'web', '--no-nom', '--dry'])
    const home = toolCommand({ ...base, target: 'home', flake: 'path:/cfg#alice@web' })
    expect(home.args).toEqual(['home', 'switch', 'path:/cfg', '--configuration', 'alice@web', '--no-nom', '--', ...NIX])
    expect(toolCommand({ ...base, target: 'home', action: 'build' }).args.slice(0, 4)).toEqual(['home', 'build', '/etc/nixos', '--no-nom'])
  })

  it('nixos-rebuild: flake#host, -v and --log-format passed on to nix, extra args last', () => {
    const c = toolCommand({ ...base, tool: 'nixos-rebuild', action: 'boot', extra: ['--option', 'cores', '2'] })
    expect(c).toMatchObject({ file: 'nixos-rebuild', structured: true })
    expect(c.args).toEqual(['boot', '--flake', '/etc/nixos#web', ...NIX, '--option', 'cores', '2'])
    // a fragment in the flake is replaced by the resolved host
    expect(toolCommand({ ...base, tool: 'nixos-rebuild', flake: '.#old', host: 'new' }).args.slice(0, 3)).toEqual(['switch', '--flake', '.#new'])
  })

  it('home-manager cannot pass --log-format on: plain text, dry-build is build --dry-run', () => {
    const c = toolCommand({ ...base, tool: 'home-manager', target: 'home', action: 'dry-build', flake: '/cfg#alice' })
    expect(c).toEqual({ file: 'home-manager', args: ['build', '--flake', '/cfg#alice', '--dry-run'], structured: false, env: {} })
    expect(toolCommand({ ...base, tool: 'home-manager', target: 'home', flake: '/cfg' }).args).toEqual(['switch', '--flake', '/cfg'])
  })

  it('formatCommand quotes what a shell would split or expand', () => {
    expect(formatCommand('nh', ['os', 'switch', '/etc/nixos', '--', '-v'])).toBe('nh os switch /etc/nixos -- -v')
    expect(formatCommand('nixos-rebuild', ['--flake', '/my flake#web', "it's", '$HOME'])).toBe(
      `nixos-rebuild --flake '/my flake#web' 'it'\\''s' '$HOME'`,
    )
  })
})
