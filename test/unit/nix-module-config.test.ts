/**
 * What the NixOS module configures, in states an admin meets: its `config` evaluated with a
 * stand-in lib (test/fixtures/nix/module-config.nix; nixpkgs cannot be fetched here), then the
 * pieces that matter run for real where they can (the ExecStopPost script, with a systemctl double).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, expect } from 'vitest'
import { NIX_ENV } from '../helpers/nix.js'
import { REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

type Json = Record<string, any>

/** The module's resolved config for these option values (Nix attribute sets as JSON). */
async function moduleConfig(values: Json, other: Json = {}, module = 'nix/nixos-module.nix'): Promise<Json> {
  const expr = `import ./test/fixtures/nix/module-config.nix { module = import ./${module}; values = builtins.fromJSON ${JSON.stringify(JSON.stringify(values))}; other = builtins.fromJSON ${JSON.stringify(JSON.stringify(other))}; }`
  const r = await execa('nix-instantiate', ['--eval', '--strict', '--json', '--read-write-mode', '-E', expr], { cwd: REPO_ROOT, env: NIX_ENV, reject: false, timeout: 60_000 })
  if (r.exitCode !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout) as Json
}

/**
 * An Exec line as systemd reads it (systemd.service(5), systemd.syntax(7)): words, "…" with C
 * escapes (the JSON subset NixOS writes), then specifiers (%n, %i, %%) and `$$` expanded.
 */
function execLine(line: string, unit: string): string[] {
  const words = line.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []
  const instance = unit.includes('@') ? unit.slice(unit.indexOf('@') + 1, unit.lastIndexOf('.')) : ''
  return words
    .map((w) => (w.startsWith('"') ? (JSON.parse(w) as string) : w))
    .map((w) => w.replace(/%([%ni])/g, (_, s: string) => (s === '%' ? '%' : s === 'n' ? unit : instance)).replace(/\$\$/g, '$'))
}

const scratch: string[] = []
afterEach(() => scratch.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

/** A systemd package whose systemctl is a double that writes its argv, one per line, to `log`. */
function systemdDouble(): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-systemd-double-'))
  scratch.push(dir)
  mkdirSync(join(dir, 'bin'))
  const log = join(dir, 'systemctl.log')
  writeFileSync(join(dir, 'bin/systemctl'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${log}\n`)
  chmodSync(join(dir, 'bin/systemctl'), 0o755)
  return { dir, log }
}

needs('nix').describe('the NixOS module, evaluated', () => {
  needs('nix').it('onFailure units with specifiers (notify@%n.service) are started by their expanded names when checks fail (exit 1)', async () => {
    const systemd = systemdDouble()
    const config = await moduleConfig(
      { programs: { nbs: { enable: true } }, services: { nbs: { check: { enable: true, onFailure: ['notify@%n.service', 'page-admins.service'] } } } },
      { systemd: { package: systemd.dir } },
    )
    const service = config.systemd.services['nbs-check']
    // OnFailure= (a failed unit: exit 3, 70, timeout) expands %n itself
    expect(service.onFailure).toEqual(['notify@%n.service', 'page-admins.service'])
    const [line] = service.serviceConfig.ExecStopPost as string[]
    const [script, ...args] = execLine(line!, 'nbs-check.service')
    const run = (env: Record<string, string>) => execa('/bin/sh', [script!, ...args], { env, reject: false, extendEnv: false })

    // checks failed: exit 1, a success to systemd
    rmSync(systemd.log, { force: true })
    expect((await run({ SERVICE_RESULT: 'success', EXIT_CODE: 'exited', EXIT_STATUS: '1' })).exitCode).toBe(0)
    expect(readFileSync(systemd.log, 'utf8').trim().split('\n')).toEqual(['start', '--no-block', '--', 'notify@nbs-check.service.service', 'page-admins.service'])

    // all passed, or the unit failed (OnFailure= covers that): nothing started twice
    for (const env of [
      { SERVICE_RESULT: 'success', EXIT_CODE: 'exited', EXIT_STATUS: '0' },
      { SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: '3' },
      { SERVICE_RESULT: 'signal', EXIT_CODE: 'killed', EXIT_STATUS: 'TERM' },
    ]) {
      rmSync(systemd.log, { force: true })
      expect((await run(env)).exitCode).toBe(0)
      expect(() => readFileSync(systemd.log)).toThrow()
    }
  })
})

/** The argv a `wrapProgram` line gives the wrapper (shell words, single-quoted as lib.escapeShellArg writes them). */
async function shellWords(line: string): Promise<string[]> {
  // as the build's shell runs it, with $out left as the word `$out`
  const r = await execa('/bin/sh', ['-c', `out='$out'; set -- ${line}; printf '%s\\n' "$@"`])
  return r.stdout.split('\n')
}

needs('nix').describe('the nbs the NixOS module installs', () => {
  needs('nix').it('knows programs.nbs.flake without the environment, so `sudo nbs build os` (sudo drops NBS_FLAKE) builds that flake', async () => {
    const config = await moduleConfig({ programs: { nbs: { enable: true, flake: "/home/me/it's config" } } })
    const [pkg] = config.environment.systemPackages as Json[]
    expect(pkg!.meta.mainProgram).toBe('nbs')
    expect(await shellWords(pkg!.postBuild)).toEqual(['wrapProgram', '$out/bin/nbs', '--set-default', 'NBS_FLAKE', "/home/me/it's config"])
    // the login shell's variable is still set, for `echo $NBS_FLAKE`
    expect(config.environment.variables).toEqual({ NBS_FLAKE: "/home/me/it's config" })
  })

  needs('nix').it('is the package itself when there is nothing to set', async () => {
    const config = await moduleConfig({ programs: { nbs: { enable: true } } })
    expect(config.environment.systemPackages).toEqual(['/nix/store/00000000000000000000000000000000-nbs'])
  })
})

needs('nix').describe('the records folder the NixOS module creates', () => {
  const rules = async (settings: Json) => (await moduleConfig({ programs: { nbs: { enable: true, settings } } })).systemd.tmpfiles.rules as string[]

  needs('nix').it('is 2775 root:wheel, builds/ too, and the lock folder 1777 root, as src/records expects', async () => {
    expect(await rules({})).toEqual(['d /var/log/nixos-builds 2775 root wheel -', 'd /var/log/nixos-builds/builds 2775 root wheel -', 'd /run/lock/nbs 1777 root root -'])
  })

  needs('nix').it('carries the group settings.logGroup names, which nbs uses (else tmpfiles resets it to wheel at every switch)', async () => {
    expect(await rules({ logGroup: 'admins' })).toEqual(['d /var/log/nixos-builds 2775 root admins -', 'd /var/log/nixos-builds/builds 2775 root admins -', 'd /run/lock/nbs 1777 root root -'])
  })

  needs('nix').it('settings.logDir other than programs.nbs.logDir (a folder the module does not create) is refused at evaluation', async () => {
    const config = await moduleConfig({ programs: { nbs: { enable: true, settings: { logDir: '/persist/builds' } } } })
    const failed = (config.assertions as Array<{ assertion: boolean; message: string }>).filter((a) => !a.assertion).map((a) => a.message)
    expect(failed).toEqual([expect.stringContaining('set programs.nbs.logDir instead')])
    const same = await moduleConfig({ programs: { nbs: { enable: true, logDir: '/persist/builds', settings: { logDir: '/persist/builds' } } } })
    expect((same.assertions as Array<{ assertion: boolean }>).every((a) => a.assertion)).toBe(true)
  })
})

needs('nix').describe('the check service reads the flake nbs will check', () => {
  const service = async (nbs: Json) => (await moduleConfig({ programs: { nbs: { enable: true, ...nbs } }, services: { nbs: { check: { enable: true } } } })).systemd.services['nbs-check']
  const safeDirectory = (s: Json) => (s.environment.GIT_CONFIG_KEY_0 === 'safe.directory' ? s.environment.GIT_CONFIG_VALUE_0 : undefined)

  needs('nix').it('/home stays readable whatever the flake is called: /etc/nixos may be a symlink to ~/nixos-config', async () => {
    for (const nbs of [{}, { flake: '/etc/nixos' }, { flake: 'github:me/cfg' }, { flake: '/home/me/cfg' }]) {
      expect((await service(nbs)).serviceConfig.ProtectHome).toBe('read-only')
    }
  })

  needs('nix').it("git's safe.directory names that flake: nbs's default /etc/nixos, programs.nbs.flake, or the config's flake, which comes first", async () => {
    expect(safeDirectory(await service({}))).toBe('/etc/nixos')
    expect(safeDirectory(await service({ flake: 'git+file:///srv/cfg?ref=main' }))).toBe('/srv/cfg')
    expect(safeDirectory(await service({ flake: '/srv/cfg', settings: { flake: '/home/me/cfg#web' } }))).toBe('/home/me/cfg')
    expect(safeDirectory(await service({ flake: 'github:me/cfg' }))).toBeUndefined()
  })
})
