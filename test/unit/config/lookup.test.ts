/**
 * Where nbs finds its config without --config: the project's nbs.config.* in the working directory,
 * else the user's in $XDG_CONFIG_HOME/nbs (Home Manager's programs.nbs.settings), else the
 * machine's /etc/nbs/nbs.config.json (the NixOS module's; NBS_SYSTEM_CONFIG names it in tests).
 * First found wins, nothing is merged. And the default flake: NH_OS_FLAKE, NBS_FLAKE, NH_FLAKE.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { configCandidates, defaultFlake, loadConfig, resolveSettings, SYSTEM_CONFIG } from '../../../src/config/load.js'
import { nbs } from '../../helpers/project.js'

const scratch: string[] = []
afterEach(() => scratch.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

/** A scratch tree: `cwd` (the project), `xdg` (XDG_CONFIG_HOME), `etc` (the machine's config folder). */
function tree() {
  const root = mkdtempSync(join(tmpdir(), 'nbs-lookup-'))
  scratch.push(root)
  const dirs = { cwd: join(root, 'project'), xdg: join(root, 'xdg'), etc: join(root, 'etc'), home: join(root, 'home') }
  Object.values(dirs).forEach((d) => mkdirSync(d, { recursive: true }))
  const env = { HOME: dirs.home, XDG_CONFIG_HOME: dirs.xdg, NBS_SYSTEM_CONFIG: join(dirs.etc, 'nbs.config.json') }
  /** a config (builtins off) with one check of its own, `id`, in its folder's checks/ */
  const write = (dir: string, id: string, extra: Record<string, unknown> = {}) => {
    mkdirSync(join(dir, 'checks'), { recursive: true })
    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false, ...extra }))
    writeFileSync(join(dir, 'checks', `${id}.check.json`), JSON.stringify([{ id, command: ['true'] }]))
  }
  return { ...dirs, env, write }
}

describe('config lookup order', () => {
  it('candidates: project names, then $XDG_CONFIG_HOME/nbs, then the machine file; ~/.config when XDG_CONFIG_HOME is unset or relative', () => {
    const [first, ...rest] = configCandidates('/p', { HOME: '/h' })
    expect(first).toBe('/p/nbs.config.ts')
    expect(rest).toContain('/h/.config/nbs/nbs.config.json')
    expect(rest.at(-1)).toBe(SYSTEM_CONFIG)
    expect(SYSTEM_CONFIG).toBe('/etc/nbs/nbs.config.json')
    expect(configCandidates('/p', { HOME: '/h', XDG_CONFIG_HOME: 'rel' })).toContain('/h/.config/nbs/nbs.config.json')
    expect(configCandidates('/p', { HOME: '/h', XDG_CONFIG_HOME: '/x', NBS_SYSTEM_CONFIG: '/s/c.json' })).toEqual(expect.arrayContaining(['/x/nbs/nbs.config.ts', '/s/c.json']))
  })

  it('no project config: the user config; neither: the machine config; none at all: defaults in the working directory', async () => {
    const t = tree()
    expect(await loadConfig(t.cwd, undefined, t.env)).toEqual({ config: {}, projectRoot: t.cwd })
    t.write(t.etc, 'machine', { flake: './flake' })
    const machine = await loadConfig(t.cwd, undefined, t.env)
    expect(machine.file).toBe(join(t.etc, 'nbs.config.json'))
    // the found file's folder is the project root: its relative paths are its own
    expect(machine.projectRoot).toBe(t.etc)
    expect(resolveSettings(machine, { cwd: t.cwd }, t.env).flake).toBe(join(t.etc, 'flake'))
    t.write(join(t.xdg, 'nbs'), 'user')
    expect((await loadConfig(t.cwd, undefined, t.env)).file).toBe(join(t.xdg, 'nbs', 'nbs.config.json'))
    t.write(t.cwd, 'project')
    expect((await loadConfig(t.cwd, undefined, t.env)).file).toBe(join(t.cwd, 'nbs.config.json'))
  })

  it('--config wins over every folder', async () => {
    const t = tree()
    t.write(t.etc, 'machine')
    writeFileSync(join(t.cwd, 'other.json'), JSON.stringify({ host: 'given' }))
    expect((await loadConfig(t.cwd, 'other.json', t.env)).config).toEqual({ host: 'given' })
  })

  it('a folder named like a config is not a config', async () => {
    const t = tree()
    mkdirSync(join(t.xdg, 'nbs', 'nbs.config.json'), { recursive: true })
    t.write(t.etc, 'machine')
    expect((await loadConfig(t.cwd, undefined, t.env)).file).toBe(join(t.etc, 'nbs.config.json'))
  })

  it('a broken machine config names its full path', async () => {
    const t = tree()
    writeFileSync(join(t.etc, 'nbs.config.json'), JSON.stringify({ concurrency: 'many' }))
    await expect(loadConfig(t.cwd, undefined, t.env)).rejects.toThrow(new RegExp(`^${join(t.etc, 'nbs.config.json')}: `))
  })
})

describe('default flake', () => {
  it('NH_OS_FLAKE, then NBS_FLAKE, then NH_FLAKE, then /etc/nixos', () => {
    expect(defaultFlake({})).toBe('/etc/nixos')
    expect(defaultFlake({ NH_FLAKE: '/nh' })).toBe('/nh')
    expect(defaultFlake({ NH_FLAKE: '/nh', NBS_FLAKE: '/nbs' })).toBe('/nbs')
    expect(defaultFlake({ NH_FLAKE: '/nh', NBS_FLAKE: '/nbs', NH_OS_FLAKE: '/os' })).toBe('/os')
    expect(resolveSettings({ config: {}, projectRoot: '/p' }, {}, { NBS_FLAKE: '/srv/flake#web' })).toMatchObject({ flake: '/srv/flake', host: 'web' })
  })
})

describe('nbs check without a project config (built CLI)', () => {
  it('runs the checks of the user config, else of the machine config; a project config hides both', async () => {
    const t = tree()
    t.write(t.etc, 'machine-check')
    const run = async () => {
      const r = await nbs(['check', '--reporter', 'json'], { cwd: t.cwd, env: t.env })
      expect(r.exitCode, r.stderr).toBe(0)
      return r.stdout
    }
    // the check ids the JSON report names (each once)
    const ids = (json: string) => [...new Set(json.match(/"id": ?"[a-z-]+-check"/g)?.map((m) => m.replace(/ /g, '')))]
    expect(ids(await run())).toEqual(['"id":"machine-check"'])
    t.write(join(t.xdg, 'nbs'), 'user-check')
    expect(ids(await run())).toEqual(['"id":"user-check"'])
    t.write(t.cwd, 'project-check')
    expect(ids(await run())).toEqual(['"id":"project-check"'])
  })
})
