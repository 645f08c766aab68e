/**
 * Machine checks over real SSH against a real systemd: the debootstrapped bookworm root booted
 * with `systemd-nspawn -b`, sharing this machine's network, its own sshd (openssh-server, in the
 * root) on 127.0.0.1 at a port of this boot. nbs stays here and reaches the container as a fleet
 * host: `root@127.0.0.1 -p PORT` with this run's key and the container's host keys pinned. The
 * container has one unit that fails on purpose (nbs-broken.service) and one that logs at err
 * (nbs-errlog.service); this machine's /nix/store is bind-mounted read-only and the system
 * profiles folder read-write, so generations made here by real nix-env are the container's.
 * First the probes the machine checks are made of, given an sshMachine; then the real CLI,
 * `nbs check --on HOST` with the container as a host of the config.
 */
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { sshControlDir, sshMachine, type SshMachine } from '../../src/machine/ssh.js'
import { getCurrentGeneration, rebootNeeded } from '../../src/status/generation.js'
import { hiddenReason, journalAccess, JournalUnavailableError } from '../../src/status/journal-access.js'
import { checkJournalErrors } from '../../src/status/journal.js'
import { readNixosVersion } from '../../src/status/nixos-version.js'
import { systemdIsPid1 } from '../../src/status/systemd.js'
import { checkFailedUnits, describeFailedUnits } from '../../src/status/units.js'
import { alive, BOOT_LOCK, CONTAINER_HOSTNAME, ensureBookwormRoot } from '../helpers/container.js'
import { bootSshContainer, type SshContainer } from '../helpers/container-ssh.js'
import { buildSystem, rollbackProfile, setProfile } from '../helpers/profiles.js'
import { NIX_ENV } from '../helpers/nix.js'
import { makeProject, nbs } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const PROFILES = '/nix/var/nix/profiles'
const REV_A = 'a'.repeat(40)
const REV_B = 'b'.repeat(40)

needs('nspawn', 'nix', 'ssh-client').describe('machine checks over SSH against systemd in systemd-nspawn', () => {
  let c: SshContainer | undefined
  let control: Awaited<ReturnType<typeof sshControlDir>> | undefined
  let profiles: string
  let systems: { a: string; b: string; c: string }
  const machines: SshMachine[] = []
  /** the container as nbs sees a fleet host: over ssh, as `user` */
  let asRoot: SshMachine
  let asAlice: SshMachine

  beforeAll(async () => {
    const root = await ensureBookwormRoot()
    // toplevels built by real Nix here; the container sees them through the bind-mounted store
    systems = {
      a: await buildSystem({ salt: 'ssh-a', rev: REV_A }),
      b: await buildSystem({ salt: 'ssh-b', rev: REV_B }),
      c: await buildSystem({ salt: 'ssh-c', kernel: '6.6.1' }),
    }
    profiles = await mkdtemp(join(tmpdir(), 'nbs-sshc-profiles-'))
    await chmod(profiles, 0o755)
    c = await bootSshContainer(root, { bindRo: ['/nix/store'], bind: [`${profiles}:${PROFILES}`] })
    // alice: no systemd-journal group, a key of her own
    await c.addUser('alice')
    control = await sshControlDir()
    const connect = async (user: string) => {
      // one master connection per name: each login gets a name of its own
      const m = sshMachine({ name: `ctr-${user}`, destination: c!.destination(user), port: c!.port, sshOptions: ['-F', c!.sshConfig], controlDir: control!.dir })
      machines.push(m)
      const r = await m.connect()
      if (!r.ok) throw new Error(`ssh ${user}@ the container: ${r.reason}`)
      return m
    }
    asRoot = await connect('root')
    asAlice = await connect('alice')
  }, 600_000)

  afterAll(async () => {
    for (const m of machines) await m.close()
    await control?.dispose()
    if (profiles) await rm(profiles, { recursive: true, force: true })
    if (!c) return
    const left = await c.stop()
    expect(left, 'processes left in the container after shutdown').toEqual([])
    expect(alive(c.container.nspawnPid)).toBe(false)
  }, 120_000)

  it('reaches the container, not this machine: its host name, root there, systemd as its PID 1', async () => {
    expect(await asRoot.hostname()).toBe(CONTAINER_HOSTNAME)
    expect((await asRoot.exec('id', ['-u'])).stdout.text.trim()).toBe('0')
    expect(asRoot.live).toBe(true)
    expect(await systemdIsPid1(asRoot)).toEqual({ ok: true })
    // and no other test's container runs meanwhile: this process holds the boot lock
    expect(readFileSync(BOOT_LOCK, 'utf8')).toBe(String(process.pid))
  })

  it('failed-units: names nbs-broken.service with its journal lines, read over SSH', async () => {
    const r = await checkFailedUnits({ machine: asRoot })
    expect(describeFailedUnits(r)).toBe('1 failed unit: nbs-broken.service')
    expect(r.units[0]).toMatchObject({ unit: 'nbs-broken.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'nbs test unit that fails on purpose' })
    expect(r.units[0]!.journal).toContain('sh: nbs-broken: disk quota exploded')
    expect(r.units[0]!.journal.at(-1)).toMatch(/^systemd: Failed to start nbs-broken\.service/)
    expect(r.journalError).toBeUndefined()
  })

  it('journal-errors as root: the err-priority lines of this boot counted by unit, and one logged now counted too', async () => {
    expect(await journalAccess(asRoot)).toEqual({ ok: true, source: [] })
    const before = await checkJournalErrors({ machine: asRoot, top: 50 })
    expect(before.top).toContainEqual({ unit: 'nbs-errlog.service', message: 'nbs-errlog: certificate expired', count: 1 })
    expect(before.top.find((g) => g.unit === 'nbs-broken.service')?.message).toMatch(/^Failed to start nbs-broken\.service/)
    expect(before.ok).toBe(false)

    // a fresh error in the container's journal, from a unit of its own (a process of the ssh
    // session would be attributed to ssh.service or not, as journald's cgroup lookup races its exit)
    const logged = await c!.ssh(['systemd-run', '--wait', '--quiet', '--unit=nbs-over-ssh', '--', '/bin/sh', '-c', 'echo "<3>replica lag exceeded"'])
    expect(logged.exitCode, logged.stderr.text).toBe(0)
    await c!.ssh(['journalctl', '--sync'])
    const after = await checkJournalErrors({ machine: asRoot, top: 50 })
    expect(after.count).toBe(before.count + 1)
    expect(after.top).toContainEqual({ unit: 'nbs-over-ssh.service', message: 'replica lag exceeded', count: 1 })
  })

  it('journal-errors as alice, outside systemd-journal: skipped with the reason and the fix, never 0 errors', async () => {
    expect((await asAlice.exec('id', ['-un'])).stdout.text.trim()).toBe('alice')
    const reason = 'alice cannot see the system journal (journalctl shows them only their own entries); add alice to the systemd-journal group, or run as root'
    expect(hiddenReason('alice')).toBe(reason)
    expect(await journalAccess(asAlice)).toEqual({ ok: false, reason })
    const counted = checkJournalErrors({ machine: asAlice, top: 50 })
    await expect(counted).rejects.toThrow(JournalUnavailableError)
    await expect(counted).rejects.toThrow(reason)
  })

  it('generation-sync: in sync, then rolled back, then pending, from profiles planted in the container', async () => {
    const profile = join(profiles, 'system')
    expect(await setProfile(profile, systems.a)).toBe(1)
    expect(await setProfile(profile, systems.b)).toBe(2)
    // activation's links, in the container's own /run (a tmpfs of its boot)
    const activate = async (path: string, link = '/run/current-system') => {
      const r = await c!.container.exec('ln', ['-sfn', path, link])
      expect(r.exitCode, r.stderr.text).toBe(0)
    }
    await activate(systems.b)
    await activate(systems.b, '/run/booted-system')

    const synced = await getCurrentGeneration({ machine: asRoot })
    expect(synced).toMatchObject({ isNixOS: true, state: 'in-sync', inSync: true, generation: 'g2', generations: 2, message: 'running generation 2, the newest' })
    expect(synced.current).toMatchObject({ path: systems.b, generation: 2 })
    expect(synced.profile).toEqual({ number: 2, path: systems.b, link: `${PROFILES}/system` })
    expect(synced.newest).toMatchObject({ number: 2, link: `${PROFILES}/system-2-link`, path: systems.b })
    // the running system's own nixos-version, run in the container
    expect(await readNixosVersion({ machine: asRoot })).toMatchObject({ source: 'exec', configurationRevision: REV_B, nixosVersion: '24.05.20240101.0123abc' })
    expect(await rebootNeeded({ machine: asRoot })).toEqual({ needed: false, differs: [] })

    // nixos-rebuild switch --rollback: the profile back to 1, and activation relinks
    expect(await rollbackProfile(profile)).toBe(1)
    await activate(systems.a)
    const rolled = await getCurrentGeneration({ machine: asRoot })
    expect(rolled).toMatchObject({ state: 'rolled-back', inSync: true, generation: 'g1', message: 'running generation 1, rolled back from generation 2' })
    expect(rolled.current).toMatchObject({ path: systems.a, generation: 1 })

    // nixos-rebuild boot: a new generation with a new kernel set to boot next, nothing activated
    expect(await setProfile(profile, systems.c)).toBe(3)
    const pending = await getCurrentGeneration({ machine: asRoot })
    expect(pending).toMatchObject({ state: 'pending', inSync: false, generation: 'g3', message: 'running generation 1, but generation 3 is set to boot next (nixos-rebuild boot): reboot or switch to it' })
    expect(await rebootNeeded({ machine: asRoot })).toEqual({ needed: true, differs: ['kernel', 'initrd', 'kernel-modules'] })
  })

  /** `nbs check --on HOST` run here, the container a host of the config reached over ssh; the json report's checks by id */
  const checkOn = async (host: string, only: string[]) => {
    const hosts = Object.fromEntries(['root', 'alice'].map((user) => [`ctr-${user}`, { targetHost: c!.destination(user), port: c!.port, sshOptions: ['-F', c!.sshConfig] }]))
    const project = makeProject({ 'nbs.config.json': JSON.stringify({ hosts, options: { 'failed-units': { journalLines: 5 } } }) })
    try {
      // a folder without flake.nix: the inventory is the config's hosts only
      const args = ['check', '--flake', project.dir, '--on', host, ...only.flatMap((id) => ['--only', id]), '--reporter', 'json']
      const r = await nbs(args, { cwd: project.dir, env: NIX_ENV })
      const report = JSON.parse(r.stdout || '{}') as { hosts?: { name: string }[]; phases?: { checks: { id: string; host: string }[] }[] }
      const checks = Object.fromEntries((report.phases ?? []).flatMap((p) => p.checks).map((ch) => [ch.id, ch as Record<string, any>]))
      return { exitCode: r.exitCode, stderr: r.stderr, report, checks }
    } finally {
      project.cleanup()
    }
  }

  it('nbs check --on ctr-root: failed-units fails naming the unit, journal-errors warns, generation-sync in sync, all read in the container', async () => {
    const r0 = await c!.container.exec('ln', ['-sfn', systems.c, '/run/current-system'])
    expect(r0.exitCode, r0.stderr.text).toBe(0)
    const r = await checkOn('ctr-root', ['failed-units', 'journal-errors', 'generation-sync'])
    expect(r.exitCode, r.stderr).toBe(1) // failed-units is an error
    expect(r.report.hosts?.map((h) => h.name)).toEqual(['ctr-root'])
    expect(r.checks['failed-units']).toMatchObject({ host: 'ctr-root', status: 'failed', message: '1 failed unit: nbs-broken.service' })
    expect(r.checks['failed-units']!.details.units[0].journal).toContain('sh: nbs-broken: disk quota exploded')
    expect(r.checks['journal-errors']).toMatchObject({ host: 'ctr-root', status: 'failed', severity: 'warning' })
    expect(r.checks['journal-errors']!.message).toMatch(/^\d+ journal errors since boot \(max 0\): .*nbs-errlog\.service: nbs-errlog: certificate expired/)
    expect(r.checks['generation-sync']).toMatchObject({ host: 'ctr-root', status: 'passed' })
    expect(r.checks['generation-sync']!.message).toMatch(/^in-sync: running generation 3, the newest; /)
    expect(r.checks['generation-sync']!.message).toContain('reboot needed: kernel, initrd, kernel-modules differ from the booted system')
  })

  it('nbs check --on ctr-alice: journal-errors is skipped with the reason and the fix, not passed', async () => {
    const r = await checkOn('ctr-alice', ['journal-errors'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.checks['journal-errors']).toMatchObject({
      host: 'ctr-alice',
      status: 'skipped',
      message: 'alice cannot see the system journal (journalctl shows them only their own entries); add alice to the systemd-journal group, or run as root',
    })
  })
})
