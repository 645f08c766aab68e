/**
 * `nbs hosts` end to end: the built CLI, real Nix (offline) on hand-made fixture flakes
 * (test/fixtures/flakes/inventory, colmena-hive, colmena-args: deploy-rs and colmena shapes written
 * by hand, since neither tool nor nixpkgs can be installed here), and the colmena test double
 * (test/doubles/colmena) where colmena is meant to be installed. A `nix` wrapper on PATH counts
 * the calls, so "one evaluation" is a count.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeEach, expect } from 'vitest'
import type { Host } from '../../src/hosts/types.js'
import { fixtureFlake, fixtureFlakeDir, NIX_ENV } from '../helpers/nix.js'
import { makeProject, nbs, REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const tmp = mkdtempSync(join(tmpdir(), 'nbs-hosts-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const realNix = spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix'
const calls = join(tmp, 'nix-calls')
const colmenaLog = join(tmp, 'colmena-calls')

// bin: a counting nix, no colmena; bin-colmena: the same plus the colmena double
const bin = join(tmp, 'bin')
const binColmena = join(tmp, 'bin-colmena')
for (const dir of [bin, binColmena]) {
  mkdirSync(dir)
  writeFileSync(join(dir, 'nix'), `#!/bin/sh\necho "$1 $2 $3 $4" >> '${calls}'\nexec '${realNix}' "$@"\n`)
  chmodSync(join(dir, 'nix'), 0o755)
}
symlinkSync(join(REPO_ROOT, 'test/doubles/colmena'), join(binColmena, 'colmena'))
const basePath = `${dirname(process.execPath)}:${dirname(realNix)}:/usr/bin:/bin`
const env = (withColmena = false) => ({ ...NIX_ENV, PATH: `${withColmena ? binColmena : bin}:${basePath}`, NBS_COLMENA_DOUBLE_LOG: colmenaLog })
const nixCalls = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean)
beforeEach(() => {
  writeFileSync(calls, '')
  writeFileSync(colmenaLog, '')
})

const project = (config: Record<string, unknown>) => makeProject({ 'nbs.config.json': JSON.stringify(config) }).dir
const hostsJson = async (args: string[], opts: { cwd: string; colmena?: boolean }) => {
  const r = await nbs(['hosts', '--json', ...args], { cwd: opts.cwd, env: env(opts.colmena) })
  expect(r.exitCode, r.stderr).toBe(0)
  return { hosts: JSON.parse(r.stdout) as Host[], stderr: r.stderr }
}
const byName = (hosts: Host[]) => Object.fromEntries(hosts.map((h) => [h.name, h]))

needs('nix').describe('nbs hosts', () => {
  needs('nix').it('the fixture is armed: forcing a configuration or a deploy-rs profile fails', () => {
    // what proves the inventory touches neither: these throw, and `nbs hosts` succeeds below
    for (const attr of ['nixosConfigurations.web-1', 'deploy.nodes.web-1.profiles.system.path']) {
      const r = spawnSync(realNix, ['eval', '--json', `${fixtureFlake('inventory')}#${attr}`], { encoding: 'utf8', env: { ...process.env, ...NIX_ENV } })
      expect(r.status, attr).not.toBe(0)
      expect(r.stderr, attr).toContain('must not be evaluated for the inventory')
    }
  })

  needs('nix').it('merges config > colmena hive (literal) > deploy-rs > nixosConfigurations per field, in one nix eval', async () => {
    const dir = project({
      flake: fixtureFlake('inventory'),
      hosts: { 'web-1': { targetHost: 'root@10.9.9.9', tags: ['frontend'], privilege: ['sudo', '-n'] }, laptop: { local: true }, 'web-9': { targetHost: 'web-9.example.org' } },
    })
    const { hosts, stderr } = await hostsJson([], { cwd: dir })
    expect(hosts.map((h) => h.name)).toEqual(['backup', 'cache', 'db-1', 'edge-1', 'laptop', 'web-1', 'web-2', 'web-9'])
    const h = byName(hosts)
    expect(h['web-1']).toEqual({
      name: 'web-1',
      targetHost: 'root@10.9.9.9',
      user: 'deploy',
      tags: ['frontend'],
      // deploy-rs: node's sshOpts, then the top level's
      sshOptions: ['-p', '2201', '-o', 'ConnectTimeout=5'],
      privilege: ['sudo', '-n'],
      inFlake: true,
      seenIn: ['config', 'colmena hive (literal)', 'deploy-rs', 'nixosConfigurations'],
      sources: { name: 'config', targetHost: 'config', user: 'colmena hive (literal)', tags: 'config', sshOptions: 'deploy-rs', privilege: 'config' },
    })
    // a plain attribute-set node; `defaults` adds the fleet tag
    expect(h['db-1']).toMatchObject({ targetHost: 'db-1.example.org', port: 2222, user: 'root', tags: ['fleet', 'db', 'primary', 'common'], sources: { port: 'colmena hive (literal)' } })
    // mkDefault read as a priority; colmena wins over deploy-rs's hostname and sshUser
    expect(h.cache).toMatchObject({ targetHost: 'cache.example.org', user: 'root', tags: ['fleet', 'infra'], sshOptions: ['-o', 'ConnectTimeout=5'], sources: { targetHost: 'colmena hive (literal)', sshOptions: 'deploy-rs' } })
    // targetHost from config.networking.fqdn is not a literal: no target, and a note; tags and sshOptions come from the imported file
    expect(h['web-2']).toMatchObject({ tags: ['fleet', 'web', 'canary'], sshOptions: ['-J', 'bastion.example.org'] })
    expect(h['web-2']!.targetHost).toBeUndefined()
    expect(stderr).toContain('nbs hosts: colmena hive (literal): web-2: deployment.targetHost is not a literal')
    // its imported file imports from nixpkgs (modulesPath): skipped, not counted as unread
    expect(stderr).not.toMatch(/web-2: \d+ module/)
    // known to a deploy tool only
    expect(h['edge-1']).toMatchObject({ targetHost: 'edge-1.example.net', user: 'deploy', inFlake: false, seenIn: ['deploy-rs'] })
    expect(h.backup).toMatchObject({ tags: ['fleet', 'db'], inFlake: false })
    expect(h.backup!.targetHost).toBeUndefined()
    expect(stderr).toContain('not in nixosConfigurations, so nbs cannot evaluate or build them: backup, edge-1')
    expect(h.laptop).toMatchObject({ local: true, inFlake: true, sources: { name: 'config', local: 'config' } })
    // only the config knows web-9: listed, and named as a likely typo
    expect(h['web-9']).toMatchObject({ targetHost: 'web-9.example.org', inFlake: false, seenIn: ['config'] })
    expect(stderr).toContain("nbs hosts: the config's hosts name what the flake does not have (a typo?): web-9")
    // colmena is not installed and the flake has no colmenaHive: the one inventory evaluation is all
    expect(nixCalls()).toHaveLength(1)
    expect(nixCalls()[0]).toMatch(/^--extra-experimental-features nix-command flakes eval/)
  })

  needs('nix').it('prints a table with where each field came from, and --on selects from it', async () => {
    const dir = project({ flake: fixtureFlake('inventory') })
    const r = await nbs(['hosts', '--on', 'web-*, @db'], { cwd: dir, env: env() })
    expect(r.exitCode, r.stderr).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+TARGET\s+PORT\s+USER\s+TAGS\s+SOURCES$/)
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['backup', 'db-1', 'web-1', 'web-2'])
    expect(lines.find((l) => l.startsWith('db-1'))).toMatch(/^db-1\s+db-1\.example\.org\s+2222\s+root\s+fleet,db,primary,common\s+targetHost,port,user,tags←colmena hive \(literal\)$/)
    expect(lines.find((l) => l.startsWith('web-1'))).toContain('sshOptions←deploy-rs')
    expect(lines.find((l) => l.startsWith('backup'))).toContain('not in nixosConfigurations (listed by colmena hive (literal))')
  })

  needs('nix').it('an --on item that matches nothing is exit 3, naming it and what there is', async () => {
    const dir = project({ flake: fixtureFlake('inventory') })
    for (const [on, message] of [
      ['web-*,@nope', 'nbs hosts: --on @nope: matches no tag; tags: @canary, @common, @db, @fleet, @infra, @primary, @web'],
      ['web-*,wbe-1', 'nbs hosts: --on wbe-1: matches no host; hosts: backup, cache, db-1, edge-1, laptop, web-1, web-2'],
      ['web-1,', 'nbs hosts: --on "web-1,": an empty item; remove the extra comma'],
    ] as const) {
      const r = await nbs(['hosts', '--on', on], { cwd: dir, env: env() })
      expect(r.exitCode, on).toBe(3)
      expect(r.stdout, on).toBe('')
      expect(r.stderr.trim().split('\n').at(-1), on).toBe(message)
    }
  })

  needs('nix').it('reads a colmenaHive through colmena eval when colmena is installed (the double), else through nix', async () => {
    const dir = project({ flake: fixtureFlake('colmena-hive') })
    const viaColmena = await hostsJson([], { cwd: dir, colmena: true })
    expect(viaColmena.hosts.map((h) => [h.name, h.targetHost, h.port, h.user, h.tags, h.privilege, h.sources.targetHost])).toEqual([
      ['alpha', 'alpha.example.org', undefined, 'root', ['web', 'infra-lax'], [], 'colmena eval'],
      // colmena escalates through privilegeEscalationCommand when the user is not root
      ['beta', 'beta', 2022, 'ops', ['router', 'infra-sfo'], ['sudo', '-H', '--'], 'colmena eval'],
      ['gamma-a', 'gamma-a', undefined, 'root', ['controller'], [], 'colmena eval'],
    ])
    const colmenaCalls = readFileSync(colmenaLog, 'utf8').trim().split('\n')
    expect(colmenaCalls).toHaveLength(1)
    expect(colmenaCalls[0]).toMatch(new RegExp(`^eval --config ${fixtureFlake('colmena-hive')} -E \\{ nodes, \\.\\.\\. \\}:`))

    // the double's own nix calls (flake metadata, metaConfig, introspect) happened: count afresh
    writeFileSync(calls, '')
    const viaNix = await hostsJson([], { cwd: dir })
    expect(viaNix.hosts.map((h) => [h.name, h.targetHost, h.port, h.user, h.sources.targetHost])).toEqual([
      ['alpha', 'alpha.example.org', undefined, 'root', 'colmenaHive'],
      ['beta', 'beta', 2022, 'ops', 'colmenaHive'],
      ['gamma-a', 'gamma-a', undefined, 'root', 'colmenaHive'],
    ])
    // the inventory evaluation, then the colmenaHive's deploymentConfig
    expect(nixCalls()).toHaveLength(2)
  })

  needs('nix').it('falls back to the literal hive, with a note, when colmena eval fails (no colmenaHive)', async () => {
    const dir = project({ flake: fixtureFlake('inventory') })
    const { hosts, stderr } = await hostsJson(['--on', 'db-1'], { cwd: dir, colmena: true })
    expect(hosts).toHaveLength(1)
    expect(hosts[0]!.sources.targetHost).toBe('colmena hive (literal)')
    expect(stderr).toMatch(/nbs hosts: colmena eval failed: .*does not provide attribute .*'colmenaHive'/)
  })

  needs('nix').it('a node function nbs cannot call does not take the inventory down: it is read without calling functions', async () => {
    const dir = project({ flake: fixtureFlake('colmena-args') })
    const { hosts, stderr } = await hostsJson([], { cwd: dir })
    const h = byName(hosts)
    expect(h.two).toMatchObject({ targetHost: 'two.example.org', sources: { targetHost: 'colmena hive (literal)' } })
    // one's targetHost comes from args.inputs: unknown, and colmena's default (its name) is not guessed
    expect(h.one!.targetHost).toBeUndefined()
    expect(stderr).toContain("colmena hive (literal): node functions were not called, since calling them failed: attribute 'inputs' missing")
    expect(stderr).toMatch(/colmena hive \(literal\): one: 1 module could not be read/)
  })

  needs('nix').it('names nixosConfigurations without evaluating them; a folder without flake.nix gives the config hosts and a note', async () => {
    const dir = project({ flake: fixtureFlake('good') })
    const { hosts } = await hostsJson([], { cwd: dir })
    expect(hosts.map((h) => [h.name, h.inFlake, h.seenIn])).toEqual([
      ['demo', true, ['nixosConfigurations']],
      ['demo.example', true, ['nixosConfigurations']],
    ])
    const noFlake = project({ flake: '.', hosts: { web1: { targetHost: 'web1.example.org', port: 2222 } } })
    const r = await hostsJson([], { cwd: noFlake })
    expect(r.hosts).toEqual([{ name: 'web1', targetHost: 'web1.example.org', port: 2222, tags: [], sshOptions: [], privilege: [], inFlake: false, seenIn: ['config'], sources: { name: 'config', targetHost: 'config', port: 'config' } }])
    expect(r.stderr).toContain("has no flake.nix: nbs checks flakes; point --flake (or flake in the config) at your flake; the inventory is the config's hosts only")
    expect(nixCalls()).toHaveLength(1)
  })

  needs('nix').it('a flake that does not evaluate is exit 1 with Nix\'s error on one line', async () => {
    // an undefined variable fails the whole flake.nix, whatever attribute is read
    const dir = project({ flake: fixtureFlake('undefined-variable') })
    const r = await nbs(['hosts'], { cwd: dir, env: env() })
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^nbs hosts: cannot read the hosts of path:.*undefined-variable: undefined variable 'undefinedPackage'$/m)
  })

  needs('nix', 'git').it('a plain path in a git work tree is read as nix reads it: tracked files only, dir= for a subfolder', async () => {
    const repo = join(tmp, 'repo')
    mkdirSync(join(repo, 'fleet'), { recursive: true })
    writeFileSync(join(repo, 'fleet/flake.nix'), '{ outputs = { self }: { nixosConfigurations = import ./hosts.nix; }; }\n')
    writeFileSync(join(repo, 'fleet/hosts.nix'), '{ one = throw "not evaluated"; two = throw "not evaluated"; }\n')
    const git = (...args: string[]) => spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' })
    git('init', '-q')
    git('add', 'fleet/flake.nix')
    // hosts.nix is not tracked: nix's git+file fetcher does not see it (a path: read would)
    const untracked = await nbs(['hosts', '--flake', join(repo, 'fleet')], { cwd: repo, env: env() })
    expect(untracked.exitCode).toBe(1)
    expect(untracked.stderr).toMatch(/cannot read the hosts of .*fleet: .*hosts\.nix.*No such file or directory/)
    git('add', 'fleet/hosts.nix')
    const { hosts } = await hostsJson(['--flake', join(repo, 'fleet')], { cwd: repo })
    expect(hosts.map((h) => h.name)).toEqual(['one', 'two'])
  })
})

needs('nix').describe('nbs hosts: config errors are exit 3 naming the field', () => {
  needs('nix').it('a port given as a string, an unknown key, a bad tag list', async () => {
    for (const [host, field] of [
      [{ port: '22' }, 'hosts.web1.port: Invalid input: expected number, received string'],
      [{ port: 70000 }, 'hosts.web1.port: Too big: expected number to be <=65535'],
      [{ targetHost: 'web1', sshOpts: ['-v'] }, 'hosts.web1: Unrecognized key: "sshOpts"'],
      [{ tags: 'web' }, 'hosts.web1.tags: Invalid input: expected array, received string'],
    ] as const) {
      const dir = project({ hosts: { web1: host } })
      const r = await nbs(['hosts'], { cwd: dir, env: env() })
      expect(r.exitCode, field).toBe(3)
      expect(r.stderr.trim(), field).toBe(`nbs hosts: nbs.config.json: ${field}`)
    }
    for (const [config, field] of [
      [{ parallel: -1 }, 'parallel: Too small: expected number to be >=0'],
      [{ allowUnreachable: 'yes' }, 'allowUnreachable: Invalid input: expected boolean, received string'],
    ] as const) {
      const r = await nbs(['hosts'], { cwd: project(config), env: env() })
      expect(r.exitCode, field).toBe(3)
      expect(r.stderr.trim(), field).toBe(`nbs hosts: nbs.config.json: ${field}`)
    }
    expect(nixCalls()).toHaveLength(0)
  })
})
