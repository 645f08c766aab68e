/**
 * `nbs status` and `nbs debug` on fixture machine roots: generations made by real Nix through the
 * nixos-rebuild test double (test/doubles), build records written by `nbs build`, journal files
 * written by systemd-journal-remote.
 */
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import Ajv2020 from 'ajv/dist/2020.js'
import { afterAll, describe, expect, it } from 'vitest'
import { BOOT_A, writeJournalRoot } from '../helpers/journal.js'
import { hasNix, NIX_ENV, NIX_SKIP_REASON } from '../helpers/nix.js'
import { nbs, REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const tmp = mkdtempSync(join(tmpdir(), 'nbs-status-e2e-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const nixDir = dirname(spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix')
// the nixos-rebuild double only (no nh on PATH)
const bin = join(tmp, 'bin')
mkdirSync(bin)
symlinkSync(join(REPO_ROOT, 'test/doubles/nixos-rebuild'), join(bin, 'nixos-rebuild'))
const PATH = [bin, dirname(process.execPath), nixDir, '/usr/bin', '/bin'].join(':')

let seq = 0
/** A machine: its root (a NixOS marker), its flake copy, its build log dir, a working dir. */
function machine() {
  const dir = join(tmp, `m${++seq}`)
  const m = { root: join(dir, 'root'), flake: join(dir, 'flake'), logs: join(dir, 'logs'), cwd: join(dir, 'cwd') }
  for (const d of [m.root, m.logs, m.cwd, join(m.root, 'etc')]) mkdirSync(d, { recursive: true })
  writeFileSync(join(m.root, 'etc/NIXOS'), '')
  writeFileSync(join(m.root, 'etc/hostname'), 'demo\n') // the root is the machine the host `demo` describes
  // the user's own records folder too: status and history read both
  const env = { ...NIX_ENV, PATH, NBS_LOG_DIR: m.logs, XDG_STATE_HOME: join(dir, 'state'), NBS_DOUBLE_ROOT: m.root }
  const useFlake = (name: string) => {
    rmSync(m.flake, { recursive: true, force: true })
    cpSync(join(REPO_ROOT, 'test/fixtures/build-flakes', name), m.flake, { recursive: true })
    writeFileSync(join(m.flake, 'nonce'), `${process.pid}-${++seq}`)
  }
  const build = (action: string) => nbs(['build', 'os', action, '--root', m.root, '--flake', `path:${m.flake}`, '--host', 'demo'], { cwd: m.cwd, env })
  /** what activation does: /run/current-system (and, at boot, /run/booted-system) → the profile's system */
  const activate = (booted = true) => {
    const target = readlinkSync(join(m.root, 'nix/var/nix/profiles', readlinkSync(join(m.root, 'nix/var/nix/profiles/system'))))
    mkdirSync(join(m.root, 'run'), { recursive: true })
    for (const link of booted ? ['current-system', 'booted-system'] : ['current-system']) {
      rmSync(join(m.root, 'run', link), { force: true })
      symlinkSync(target, join(m.root, 'run', link))
    }
  }
  const status = (...args: string[]) => nbs(['status', '--eval', '--root', m.root, '--flake', `path:${m.flake}`, '--host', 'demo', ...args], { cwd: m.cwd, env: { ...env, XDG_CACHE_HOME: join(dir, 'cache') } })
  const debug = (...args: string[]) => nbs(['debug', '--root', m.root, '--flake', `path:${m.flake}`, '--host', 'demo', ...args], { cwd: m.cwd, env })
  return { ...m, env, useFlake, build, activate, status, debug }
}

const validateStatus = new Ajv2020.default({ strict: false }).compile(JSON.parse(readFileSync(join(REPO_ROOT, 'schemas/status.schema.json'), 'utf8')))
/** Human output without what changes from run to run (store hashes, times, temp paths). */
const normalize = (text: string, m: { root: string; flake: string; logs: string }) =>
  text
    .replaceAll(m.root, '<root>')
    .replaceAll(m.logs, '<logs>')
    .replace(/builds\/\d{8}T\d{6}Z-/g, 'builds/<time>-')
    .replaceAll(m.flake, '<flake>')
    .replace(/\/nix\/store\/[0-9a-z]{32}-/g, '/nix/store/<hash>-')
    .replace(/\b[0-9a-f]{7,40}\b/g, '<rev>')
    .replace(/\d+s ago|just now|\d+m ago|\d{4}-\d\d-\d\d \d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<when>')

needs('nix').describe('nbs status', () => {
  const m = machine()

  it('exit 0: running the newest generation, which the flake evaluates to; the last build succeeded', async () => {
    m.useFlake('good')
    expect((await m.build('switch')).exitCode).toBe(0)
    m.activate()
    const r = await m.status()
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(normalize(r.stdout, m)).toMatchInlineSnapshot(`
      "=== NixOS Build Status ===

      Generation Information:
        NixOS generation:   g1 (running g1, newest g1)
        Home Manager:       none
        Status:             in-sync
        Flake revision:     equal
        Commit:             unknown
        Nixpkgs:            unknown
        Reboot needed:      no

      Build Error Check:
        ✓ Last build succeeded: os switch, <when>

      Boot Status:
        systemd state not read (no running systemd as PID 1 for this root)
        journal not read: no persistent journal under <root> (journald storage is volatile)

      === Summary ===
      ✓ System is healthy and in sync"
    `)
    const json = await m.status('--json')
    const report = JSON.parse(json.stdout)
    expect(validateStatus(report), JSON.stringify(validateStatus.errors)).toBe(true)
    expect(report).toMatchObject({
      overallStatus: 'success',
      generation: { generation: 'g1', running: 1, newest: 1, inSync: true, isNixOS: true, state: 'in-sync' },
      revision: { status: 'equal', reason: 'toplevel-match' },
      host: { name: 'demo', local: true },
      lastBuild: { success: true, action: 'switch', tool: 'nixos-rebuild' },
      failedUnits: [],
      rebootNeeded: { needed: false },
    })
    // --no-eval: nothing to compare with, the configuration records no revision
    const noEval = JSON.parse((await m.status('--json', '--no-eval')).stdout)
    expect(noEval.revision).toMatchObject({ status: 'unknown', reason: 'unrecorded' })
  })

  it('exit 1: a newer generation was built for the next boot but is not running', async () => {
    m.useFlake('good') // a new nonce: a different system
    expect((await m.build('boot')).exitCode).toBe(0)
    const r = await m.status()
    expect(r.exitCode).toBe(1)
    expect(normalize(r.stdout, m)).toMatchInlineSnapshot(`
      "=== NixOS Build Status ===

      Generation Information:
        NixOS generation:   g2 (running g1, newest g2)
        Home Manager:       none
        Status:             pending
                            running generation 1, but generation 2 is set to boot next (nixos-rebuild boot): reboot or switch to it
        Flake revision:     differs
                            the flake evaluates to /nix/store/<hash>-nixos-system-demo-24.05.test, running /nix/store/<hash>-nixos-system-demo-24.05.test
        Commit:             unknown
        Nixpkgs:            unknown
        Reboot needed:      no

      Build Error Check:
        ✓ Last build succeeded: os boot, <when>

      Boot Status:
        systemd state not read (no running systemd as PID 1 for this root)
        journal not read: no persistent journal under <root> (journald storage is volatile)

      === Summary ===
      ✗ System is out of sync with the flake
        pending: running generation 1, but generation 2 is set to boot next (nixos-rebuild boot): reboot or switch to it
        revision differs: the flake evaluates to /nix/store/<hash>-nixos-system-demo-24.05.test, running /nix/store/<hash>-nixos-system-demo-24.05.test"
    `)
    expect(JSON.parse((await m.status('--json')).stdout)).toMatchObject({ overallStatus: 'out-of-sync', generation: { running: 1, newest: 2, inSync: false } })
  })

  it('exit 2: the last build failed; its first error is shown', async () => {
    m.useFlake('build-fail')
    expect((await m.build('switch')).exitCode).toBe(1)
    const r = await m.status('--verbose')
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toMatch(/✗ Last build failed: os switch, .*exit 1/)
    expect(r.stdout).toMatch(/builder for '\/nix\/store\/\w{32}-nixos-system-demo-build-fail\.drv' failed with exit code 3/)
    expect(r.stdout).toContain('=== Summary ===\n✗ Build errors detected')
    expect(normalize(r.stdout, m)).toMatchInlineSnapshot(`
      "=== NixOS Build Status ===

      Generation Information:
        NixOS generation:   g2 (running g1, newest g2)
        Home Manager:       none
        Status:             pending
                            running generation 1, but generation 2 is set to boot next (nixos-rebuild boot): reboot or switch to it
        Flake revision:     differs
                            the flake evaluates to /nix/store/<hash>-nixos-system-demo-build-fail, running /nix/store/<hash>-nixos-system-demo-24.05.test
        Commit:             unknown
        Nixpkgs:            unknown
        Reboot needed:      no
        Running system:     /nix/store/<hash>-nixos-system-demo-24.05.test

      Build Error Check:
        ✗ Last build failed: os switch, <when>, exit 1
          builder for '/nix/store/<hash>-nixos-system-demo-build-fail.drv' failed with exit code 3
          build /nix/store/<hash>-nixos-system-demo-build-fail.drv
          log: <logs>/builds/<time>-os-switch.log

      Boot Status:
        systemd state not read (no running systemd as PID 1 for this root)
        journal not read: no persistent journal under <root> (journald storage is volatile)

      === Summary ===
      ✗ Build errors detected
        os switch failed at <when> (exit 1), after the running system was activated
        pending: running generation 1, but generation 2 is set to boot next (nixos-rebuild boot): reboot or switch to it
        revision differs: the flake evaluates to /nix/store/<hash>-nixos-system-demo-build-fail, running /nix/store/<hash>-nixos-system-demo-24.05.test"
    `)
    expect(JSON.parse((await m.status('--json')).stdout).overallStatus).toBe('build-errors')
  })

  it('a failed os build counts against the machine it ran on: not against a mounted image, nor after a later activation', async () => {
    const n = machine()
    n.useFlake('good')
    expect((await n.build('switch')).exitCode).toBe(0)
    n.activate()
    const ok = JSON.parse((await n.status('--json')).stdout)
    expect(ok.failedBuild).toBeNull()
    // another machine's failed build in the same log folder (an admin's laptop, building for itself)
    const record = JSON.parse(readFileSync(join(n.logs, 'last-build.json'), 'utf8'))
    const elsewhere = { ...record, success: false, exitCode: 1, hostname: 'laptop', buildEnd: new Date(Date.now() + 1000).toISOString(), preGeneration: { ...record.preGeneration, currentSystem: '/nix/store/00000000000000000000000000000000-nixos-system-laptop' } }
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([elsewhere, record]))
    const other = await n.status('--json')
    expect(JSON.parse(other.stdout).failedBuild).toBeNull()
    expect(other.exitCode).toBe(0)
    // the same failure started from the system this root runs: it counts (exit 2) until an activation after it
    const here = { ...elsewhere, preGeneration: { ...record.preGeneration, currentSystem: ok.generation.currentSystem } }
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([here, record]))
    const broken = await n.status('--json')
    expect(broken.exitCode).toBe(2)
    expect(JSON.parse(broken.stdout).reasons[0]).toMatch(/^os switch failed at .* \(exit 1\), after the running system was activated$/)
    await new Promise((done) => setTimeout(done, 1100))
    n.activate() // a fix deployed with plain nixos-rebuild switch relinks /run/current-system
    expect((await n.status('--json')).exitCode).toBe(0)
  })

  it('records of both folders count: a newer failed home build (user folder) neither hides a failed os build (system folder) nor is one', async () => {
    const n = machine()
    n.useFlake('good')
    expect((await n.build('switch')).exitCode).toBe(0)
    n.activate()
    const ok = JSON.parse((await n.status('--json')).stdout)
    const record = JSON.parse(readFileSync(join(n.logs, 'last-build.json'), 'utf8'))
    const later = (s: number) => new Date(Date.now() + s * 1000).toISOString()
    const userLogs = join(n.env.XDG_STATE_HOME, 'nbs/builds')
    mkdirSync(userLogs, { recursive: true })
    // a failed home build after the activation, in the user's folder: the newest record, but no build error
    const home = { ...record, target: 'home', action: 'switch', tool: 'home-manager', success: false, exitCode: 1, buildStart: later(1), buildEnd: later(2), preGeneration: { ...record.preGeneration, currentSystem: ok.generation.currentSystem } }
    writeFileSync(join(userLogs, 'build-history.json'), JSON.stringify([home]))
    const homeOnly = await n.status('--json')
    expect(JSON.parse(homeOnly.stdout)).toMatchObject({ lastBuild: { target: 'home', success: false }, failedBuild: null })
    expect(homeOnly.exitCode).toBe(0)
    // a failed os build of this machine (system folder), older than the home build but newer than the activation: exit 2
    const os = { ...home, target: 'os', tool: 'nixos-rebuild', buildStart: later(0), buildEnd: later(0.5) }
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([os, record]))
    const broken = await n.status('--json')
    expect(broken.exitCode).toBe(2)
    expect(JSON.parse(broken.stdout)).toMatchObject({ lastBuild: { target: 'home' }, failedBuild: { action: 'switch', exitCode: 1 } })
    const history = JSON.parse((await nbs(['history', '--json'], { cwd: n.cwd, env: n.env })).stdout) as Array<{ target: string; buildStart: string }>
    expect(history.map((r) => r.target)).toEqual(['home', 'os', 'os']) // merged, newest first
    const table = (await nbs(['history'], { cwd: n.cwd, env: n.env })).stdout
    expect(table).toMatch(/home switch( \S+)?\s+home-manager/)
    expect(table).toMatch(/os switch( \S+)?\s+nixos-rebuild/)
    await new Promise((done) => setTimeout(done, 3100))
    n.activate() // activated after both: cleared
    expect((await n.status('--json')).exitCode).toBe(0)
  })

  it("only this host's configuration counts: another host's failed build (a CI runner) is no build error, an interrupted retry hides no failure, a generation added since clears it", async () => {
    const n = machine()
    n.useFlake('good')
    expect((await n.build('switch')).exitCode).toBe(0)
    n.activate()
    const running = JSON.parse((await n.status('--json')).stdout).generation.currentSystem
    const record = JSON.parse(readFileSync(join(n.logs, 'last-build.json'), 'utf8'))
    expect(record.host).toBe('demo') // the configuration built is recorded
    const later = (s: number) => new Date(Date.now() + s * 1000).toISOString()
    // `nbs build os build --host web1` on this machine failed: web1's problem, not this machine's
    const other = { ...record, action: 'build', host: 'web1', success: false, exitCode: 1, buildStart: later(0), buildEnd: later(0.5), preGeneration: { ...record.preGeneration, currentSystem: running } }
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([other, record]))
    const foreign = await n.status('--json')
    expect(JSON.parse(foreign.stdout)).toMatchObject({ failedBuild: null })
    expect(foreign.exitCode).toBe(0)
    expect((await nbs(['history'], { cwd: n.cwd, env: n.env })).stdout).toMatch(/os build web1\s+nixos-rebuild/)
    // but a switch that ran here changed this machine, whatever its configuration is called
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([{ ...other, action: 'switch' }, record]))
    expect((await n.status('--json')).exitCode).toBe(2)
    // this host's failed build, then a retry stopped by Ctrl-C (no result): still broken
    const own = { ...other, host: 'demo' }
    const stopped = { ...own, interrupted: true, signal: 'SIGINT', exitCode: 130, activation: undefined, buildStart: later(1), buildEnd: later(1.5) }
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([stopped, own, record]))
    const broken = await n.status('--json')
    expect(broken.exitCode).toBe(2)
    expect(JSON.parse(broken.stdout)).toMatchObject({ failedBuild: { buildEnd: own.buildEnd, exitCode: 1 } }) // the failure, not the retry
    // a plain `nixos-rebuild boot` after it added a newer generation: no longer a build error
    const gen = Number(record.postGeneration.generationRaw)
    writeFileSync(join(n.logs, 'build-history.json'), JSON.stringify([stopped, { ...own, postGeneration: { ...own.postGeneration, generationRaw: String(gen - 1) } }, record]))
    expect((await n.status('--json')).exitCode).not.toBe(2)
  })

  it('counts journal errors read from the root, and shows the top ones', async () => {
    const j = machine()
    await writeJournalRoot([{ boot: BOOT_A, priority: 3, unit: 'nginx.service', message: 'bind() failed' }], j.root)
    const report = JSON.parse((await j.status('--json', '--no-eval')).stdout)
    expect(report).toMatchObject({ journalRead: true, journalErrors: 1, journalTop: [{ unit: 'nginx.service', message: 'bind() failed', count: 1 }] })
    const text = await j.status('--no-eval')
    expect(text.exitCode).toBe(0) // degraded is not out of sync and not a build error
    expect(normalize(text.stdout, j)).toMatchInlineSnapshot(`
      "=== NixOS Build Status ===

      Generation Information:
        NixOS generation:   none (running unknown, newest —)
        Home Manager:       none
        Status:             unknown
                            no /run/current-system: nothing is running to compare
        Flake revision:     unknown
                            no /run/current-system
        Commit:             unknown
        Nixpkgs:            unknown
        Reboot needed:      no

      Build Error Check:
        no build recorded yet (nbs build records every rebuild)

      Boot Status:
        systemd state not read (no running systemd as PID 1 for this root)
        ! 1 journal error since boot
          nginx.service: bind() failed

      === Summary ===
      ! System is degraded
        1 journal errors (max 0)"
    `)
  })

  it('exit 3: invalid arguments and config', async () => {
    const bad = await m.status('--bogus')
    expect(bad.exitCode).toBe(3)
    expect(bad.stderr).toContain('--bogus')
    const cfg = await nbs(['status', '--config', 'nope.ts'], { cwd: m.cwd, env: m.env })
    expect(cfg.exitCode).toBe(3)
    expect(cfg.stderr).toContain('--config nope.ts: no such file')
  })

  describe('nbs debug', () => {
    it('bundles status, the last build, its errors with drv, the log tail and the Nix version, redacted', async () => {
      // the failed build's log also carries secrets a builder printed
      const token = ['gh', 'p_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'].join('')
      appendFileSync(join(m.logs, 'last-build.log'), `curl -H "Authorization: Bearer ${token}" https://example.org\npassword=hunter2-not-real\n`)
      // and one inside a raw @nix record, where JSON escaping would hide it from a naive redactor
      appendFileSync(join(m.logs, 'last-build.log'), `@nix ${JSON.stringify({ action: 'result', fields: ['{"password": "json-secret-xyz"}'], id: 1, type: 101 })}\n`)
      const md = await m.debug()
      expect(md.exitCode).toBe(0)
      expect(md.stdout).toMatch(/^# nbs debug bundle: /)
      for (const section of ['## Machine', '## Last build', '## Errors', '## Build log (last ']) expect(md.stdout).toContain(section)
      expect(md.stdout).toMatch(/### build: builder for '\/nix\/store\/\w{32}-nixos-system-demo-build-fail\.drv' failed with exit code 3/)
      expect(md.stdout).toContain('nbs-fixture: something went wrong')
      expect(md.stdout).toMatch(/Nix 2\.\d+/)
      expect(md.stdout).not.toContain(token)
      expect(md.stdout).not.toContain('hunter2-not-real')
      expect(md.stdout).not.toContain('json-secret-xyz')
      expect(md.stdout).not.toContain('@nix {') // the log tail is what a person read, not raw records
      expect(md.stdout).toMatch(/Redaction: \d+ secrets? redacted/)
      const json = JSON.parse((await m.debug('--json')).stdout)
      expect(json.redactions.total).toBeGreaterThanOrEqual(2)
      expect(json.errors[0]).toMatchObject({ kind: 'build', exitCode: 3 })
      expect(json.buildLogTail.length).toBeLessThanOrEqual(200)
      const out = join(m.cwd, 'bundle.md')
      expect((await m.debug('--output', out)).exitCode).toBe(0)
      expect(readFileSync(out, 'utf8')).toContain('## Last build')
    })

    it('--llm pipes the redacted bundle into the configured command and prints its answer', async () => {
      const record = join(m.cwd, 'llm-stdin.txt')
      writeFileSync(join(m.cwd, 'nbs.config.json'), JSON.stringify({ debug: { llm: { command: ['sh', '-c', 'cat > "$0"; echo "diagnosis: the builder exits 3"', record] } } }))
      const r = await m.debug('--llm')
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toBe('diagnosis: the builder exits 3')
      const seen = readFileSync(record, 'utf8')
      expect(seen).toContain('## Last build')
      expect(seen).not.toContain('hunter2-not-real')
      rmSync(join(m.cwd, 'nbs.config.json'))
      const none = await m.debug('--llm')
      expect(none.exitCode).toBe(3)
      expect(none.stderr).toContain("no LLM command configured; set one in nbs.config.ts: debug: { llm: { command: [")
    })

    it('nbs check --debug-on-failure writes the bundle next to the reports', async () => {
      const dir = join(tmp, 'check-debug')
      mkdirSync(join(dir, 'checks'), { recursive: true })
      mkdirSync(join(dir, 'out'))
      writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false }))
      writeFileSync(join(dir, 'checks/a.check.json'), JSON.stringify({ id: 'bad', command: ['false'] }))
      const r = await nbs(['check', '--debug-on-failure', '--reporter', 'junit:out/r.xml', '--root', m.root, '--flake', `path:${m.flake}`, '--host', 'demo'], { cwd: dir, env: m.env })
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain(`debug bundle written to ${join(dir, 'out/nbs-debug.md')}`)
      expect(readFileSync(join(dir, 'out/nbs-debug.md'), 'utf8')).toContain('## Last build')
    })
  })
})

describe('a reader who may not read the profiles', () => {
  it('nbs status says which path and the fix, with revision unknown; never an internal error', async () => {
    // a real permission failure: the profiles folder is closed, read by an unprivileged uid
    const dir = mkdtempSync(join(tmpdir(), 'nbs-status-eacces-'))
    try {
      const root = join(dir, 'root')
      mkdirSync(join(root, 'etc'), { recursive: true })
      mkdirSync(join(root, 'nix/var/nix/profiles'), { recursive: true, mode: 0o700 })
      writeFileSync(join(root, 'etc/NIXOS'), '')
      writeFileSync(join(root, 'etc/hostname'), 'demo\n')
      for (const d of [dir, root, join(root, 'etc'), join(root, 'nix'), join(root, 'nix/var'), join(root, 'nix/var/nix')]) spawnSync('chmod', ['755', d])
      spawnSync('chmod', ['700', join(root, 'nix/var/nix/profiles')])
      const run = (...nbsArgs: string[]) => {
        const args = [process.execPath, join(REPO_ROOT, 'dist/cli.js'), ...nbsArgs, '--root', root, '--flake', dir, '--host', 'demo']
        const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...args] : args
        return spawnSync(asNobody[0]!, asNobody.slice(1), { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NBS_LOG_DIR: join(dir, 'logs'), NO_COLOR: '1' } })
      }
      // generation-sync skips with the same reason instead of erroring
      const check = run('check', '--reporter', 'json', '--only', 'generation-sync')
      expect(check.status).toBe(0)
      expect(JSON.parse(check.stdout).phases.flatMap((p: { checks: unknown[] }) => p.checks)[0]).toMatchObject({ status: 'skipped', message: expect.stringContaining('(EACCES): run nbs as root') })
      const r = run('status', '--json')
      expect(r.stderr).toBe('')
      const report = JSON.parse(r.stdout)
      expect(report.generation).toMatchObject({ state: 'unknown', message: expect.stringMatching(/^cannot read \/nix\/var\/nix\/profiles on root .* \(EACCES\): run nbs as root/) })
      expect(r.status).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('nbs status reads the built-in checks\' options with their own schemas', () => {
  it('exit 3 naming the field for a bad failed-units or journal-errors option, as nbs check does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-status-options-'))
    try {
      const run = async (options: Record<string, unknown>) => {
        writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ options }))
        return nbs(['status', '--root', dir], { cwd: dir })
      }
      const units = await run({ 'failed-units': { ignore: 'foo.service' } })
      expect(units.exitCode).toBe(3)
      expect(units.stderr).toMatch(/^nbs status: nbs\.config\.json: options\.failed-units\.ignore: /)
      const journal = await run({ 'journal-errors': { ignore: ['(unclosed'] } })
      expect(journal.exitCode).toBe(3)
      expect(journal.stderr).toContain('options.journal-errors.ignore[0]: invalid regular expression')
      const profile = await (async () => {
        writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ profile: 'system-profiles/..' }))
        return nbs(['status', '--root', dir], { cwd: dir })
      })()
      expect(profile.exitCode).toBe(3)
      expect(profile.stderr).toContain('profile: a profile path without "." or ".." parts')
      for (const r of [units, journal, profile]) expect(r.stderr.trim().split('\n')).toHaveLength(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('build records a reader may not read', () => {
  it('nbs history says permission denied and the fix, never "corrupt"; records nbs writes are readable by every user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-records-eacces-'))
    try {
      spawnSync('chmod', ['755', dir])
      const logs = join(dir, 'logs')
      mkdirSync(logs, { mode: 0o755 })
      spawnSync('chmod', ['755', logs])
      // a history written by an older nbs (0600): this reader is refused it
      writeFileSync(join(logs, 'build-history.json'), '[]\n', { mode: 0o600 })
      spawnSync('chmod', ['600', join(logs, 'build-history.json')])
      const run = (...nbsArgs: string[]) => {
        const args = [process.execPath, join(REPO_ROOT, 'dist/cli.js'), ...nbsArgs]
        const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...args] : args
        return spawnSync(asNobody[0]!, asNobody.slice(1), { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NBS_LOG_DIR: logs, NO_COLOR: '1' } })
      }
      const refused = run('history')
      // group root: joining a group would not help, so the fix is the file's group and mode
      const file = join(logs, 'build-history.json')
      expect(refused.stderr + refused.stdout).toContain(`${file}: permission denied: ${file} belongs to group root; fix: sudo chgrp wheel ${file} && sudo chmod g+r ${file}`)
      expect(refused.stderr + refused.stdout).not.toMatch(/corrupt/)
      // what nbs writes itself, any user reads
      const { writeBuildRecord } = await import('../../src/records/store.js')
      rmSync(join(logs, 'build-history.json'))
      const gen = (n: number) => ({ generation: `g${n}`, generationRaw: String(n), commit: null, homeManagerGeneration: null, currentSystem: null, profilePath: null })
      const record = {
        buildStart: '2025-01-01T00:00:00.000Z', buildEnd: '2025-01-01T00:01:00.000Z', buildDuration: 60, target: 'os' as const, action: 'switch' as const,
        tool: 'nixos-rebuild' as const, flakePath: '/etc/nixos', exitCode: 1, success: false, hostname: 'h', user: 'root', command: 'nixos-rebuild switch',
        preGeneration: gen(1), postGeneration: gen(1), buildLogPath: join(logs, 'last-build.log'), errors: 'error: boom', errorDetails: [],
        nixVersion: '2.8.0', interrupted: false, recordVersion: 1,
      }
      await writeBuildRecord(logs, record as never)
      const read = run('history', '--json')
      expect(read.status).toBe(0)
      expect(JSON.parse(read.stdout)).toHaveLength(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
