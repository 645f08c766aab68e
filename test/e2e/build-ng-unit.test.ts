/**
 * `nbs build` interrupted during activation against the REAL things the host tests cannot have: a
 * booted systemd (systemd-nspawn -b of the debootstrapped bookworm root), real `systemd-run`
 * transient units, and real sudo (Debian's, with a NOPASSWD rule for an unprivileged user, in both
 * of its modes: `use_pty`, NixOS's default since sudo 1.9.14, and without). nbs runs inside as that
 * user, on a real pty (`script`), and the test types ^C into it: the kernel sends SIGINT to the
 * whole foreground process group, as a terminal does.
 *
 * The tools are the test doubles (nixos-rebuild-ng, nh 4.3.1: not installable on Debian); the
 * container has no Nix, so they use a prepared toplevel (NBS_DOUBLE_TOPLEVEL) whose
 * bin/switch-to-configuration is the fixture's stand-in (NBS_STC_SECONDS, NBS_STC_MARKER: it appends
 * `started`, `completed` or `signal X` lines; a SIGKILLed one leaves `started` alone).
 *
 * What real sudo does (bookworm's 1.9.13): it keeps an ignored SIGINT ignored for the command it
 * runs, in both modes. With `!use_pty` the activation shares the terminal's foreground group and
 * gets the ^C (ignored: nbs started the tool with SIGINT ignored), and nbs gets it too. With
 * `use_pty` sudo puts the terminal in raw mode and runs the command on a pty of its own: a ^C typed
 * during activation is a byte sudo passes to that pty, so only the activation's group gets SIGINT
 * (ignored) and nbs, the tool and Nix see no interrupt at all. systemd-run --pipe hands the unit
 * nbs's own pipes: a killed nixos-rebuild leaves the unit writing to them, and nbs reads to the end.
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { BuildRecord } from '../../src/build/record.js'
import { alive, bootContainer, CONTAINER_HOSTNAME, ensureBookwormRoot, type Container } from '../helpers/container.js'
import { needs } from '../helpers/real.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
const NODE = '/opt/nbs/node'
/** the test's own folder, bound read-write at the same path inside */
const T = '/nbs-t'
const USER = 'nbs-admin'
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const STC = readFileSync(join(REPO, 'test/fixtures/build-flakes/good/switch-to-configuration'), 'utf8')

const host = mkdtempSync(join(tmpdir(), 'nbs-ng-unit-'))
chmodSync(host, 0o755)
afterAll(() => rmSync(host, { recursive: true, force: true }))

/** A built toplevel as the doubles use it: bin/switch-to-configuration, succeeding or failing units (exit 4). */
function toplevel(name: string, failUnits: boolean): string {
  const dir = join(host, name)
  mkdirSync(join(dir, 'bin'), { recursive: true })
  writeFileSync(join(dir, 'bin/switch-to-configuration'), STC.replace('@failUnits@', failUnits ? '1' : ''), { mode: 0o755 })
  return `${T}/${name}`
}

/** sudo's policy for the user, in one of its two modes; env_keep lets the stand-in's test hooks through */
const sudoers = (usePty: boolean) =>
  `Defaults env_keep += "NBS_STC_SECONDS NBS_STC_MARKER"\nDefaults ${usePty ? '' : '!'}use_pty\n${USER} ALL=(ALL:ALL) NOPASSWD: ALL\n`

interface Run {
  exitCode: number
  /** everything the pty showed */
  out: string
  marks: string[]
  /** when the stand-in last wrote its marker (its `completed` line) */
  markedAt: number
  rec: BuildRecord
}

let seq = 0

needs('nspawn').describe('nbs build interrupted during activation: real systemd-run units and real sudo (container)', () => {
  let c: Container | undefined

  beforeAll(async () => {
    const root = await ensureBookwormRoot()
    cpSync(join(REPO, 'test/fixtures/build-flakes/good'), join(host, 'flake'), { recursive: true })
    toplevel('toplevel-ok', false)
    toplevel('toplevel-fail', true)
    for (const tool of ['nh', 'nixos-rebuild']) {
      mkdirSync(join(host, `bin-${tool}`))
      cpSync(join(REPO, 'test/doubles', tool), join(host, `bin-${tool}`, tool))
    }
    c = await bootContainer(root, { bindRo: [`${process.execPath}:${NODE}`, `${REPO}:${REPO}`], bind: [`${host}:${T}`] })
    const must = async (file: string, args: string[]) => {
      const r = await c!.exec(file, args)
      if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr.text}`)
    }
    // an admin: in adm, the group Debian's journal is readable by (NixOS: wheel), so nbs can read how a unit ended
    await must('useradd', ['-m', '-G', 'adm', USER])
    // sudo looks its host name up: without this line every sudo prints "unable to resolve host"
    await must('sh', ['-c', `echo "127.0.1.1 ${CONTAINER_HOSTNAME}" >> /etc/hosts`])
    await must('sudo', ['--version'])
  }, 600_000)

  afterAll(async () => {
    if (!c) return
    const left = await c.stop()
    expect(left, 'processes left in the container after shutdown').toEqual([])
    expect(alive(c.nspawnPid)).toBe(false)
  }, 120_000)

  /** Runs `cmd` as the user inside, on a pty of its own (`script`: a new session whose foreground job it is). */
  function onPty(cmd: string, env: Record<string, string>) {
    // `trap : INT TERM`: this shell outlives the signals sent to the group, to say how the command
    // ended (and, the session's leader, to keep the pty open); its children get the default dispositions
    const line = `trap : INT TERM; ${cmd}; echo "NBS_T_EXIT=$?"`
    const p = execa(
      'nsenter',
      ['-t', String(c!.initPid), '-a', '--', 'env', '-i', `HOME=/home/${USER}`, `USER=${USER}`, `LOGNAME=${USER}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        'setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', 'script', '-qfec', line, '/dev/null'],
      { stdin: 'pipe', reject: false, cwd: host, timeout: 150_000 },
    )
    let out = ''
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    p.stderr!.on('data', (b: Buffer) => (out += b.toString()))
    const until = async (what: string, cond: () => boolean, ms = 60_000) => {
      const end = Date.now() + ms
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the pty showed:\n${out}`)
        await sleep(25)
      }
    }
    return {
      until,
      out: () => out,
      /** what a keyboard's Ctrl-C is: the byte 0x03 on the terminal */
      ctrlC: () => void p.stdin!.write('\u0003'),
      async exit(): Promise<number> {
        await until('the command to exit', () => /NBS_T_EXIT=\d+/.test(out), 120_000)
        p.stdin!.end()
        await p
        return Number(/NBS_T_EXIT=(\d+)/.exec(out)![1])
      },
    }
  }

  /** A fresh case folder (logs, marker) the user and root inside can write. */
  function fresh() {
    const name = `case-${++seq}`
    const dir = join(host, name)
    mkdirSync(join(dir, 'logs'), { recursive: true })
    chmodSync(dir, 0o777)
    chmodSync(join(dir, 'logs'), 0o777)
    const marker = join(dir, 'marker')
    writeFileSync(marker, '')
    chmodSync(marker, 0o666)
    const marks = () => readFileSync(marker, 'utf8').trim().split('\n').filter(Boolean)
    return { name, dir, marks }
  }

  const setSudo = (usePty: boolean) =>
    c!.exec('sh', ['-c', 'cat > /etc/sudoers.d/nbs-test && chmod 0440 /etc/sudoers.d/nbs-test && visudo -c -q'], { input: sudoers(usePty) })

  /**
   * `nbs build os <action>` as the user inside, on its own pty. Once the activation has started:
   * `ctrlC` ^C bytes typed on the pty, or `group`: that signal sent with kill(2) to nbs's whole
   * process group (a script or CI runner cancelling the job).
   */
  async function build(o: { tool: 'nh' | 'nixos-rebuild'; action: string; fail?: boolean; usePty: boolean; ctrlC?: number; group?: 'SIGINT' | 'SIGTERM' }): Promise<Run> {
    await setSudo(o.usePty)
    const k = fresh()
    const interrupting = Boolean(o.ctrlC || o.group)
    const t = onPty(`"${NODE}" "$NBS_T_CLI" build os "$NBS_T_ACTION" --flake "$NBS_T_FLAKE" --host demo`, {
      PATH: `${T}/bin-${o.tool}:${PATH}`,
      NBS_LOG_DIR: `${T}/${k.name}/logs`,
      NBS_DOUBLE_SUDO: 'sudo',
      NBS_DOUBLE_VERSION: o.tool === 'nh' ? '4.3.1' : 'ng',
      NBS_DOUBLE_TOPLEVEL: `${T}/${o.fail ? 'toplevel-fail' : 'toplevel-ok'}`,
      NBS_STC_MARKER: `${T}/${k.name}/marker`,
      NBS_STC_SECONDS: interrupting ? '4' : '0',
      NBS_T_CLI: `${REPO}/dist/cli.js`,
      NBS_T_FLAKE: `path:${T}/flake`,
      NBS_T_ACTION: o.action,
    })
    if (interrupting) {
      await t.until('the activation to start', () => k.marks().some((m) => m.startsWith('started')))
      await sleep(300)
      for (let i = 0; i < (o.ctrlC ?? 0); i++) {
        t.ctrlC()
        await sleep(400)
      }
      if (o.group) {
        // nbs's process group inside: the node process running the CLI leads it (script made it the session's job)
        const ps = await c!.exec('ps', ['-eo', 'pid=,pgid=,args='])
        const nbs = ps.stdout.text.split('\n').find((l) => l.includes(`${REPO}/dist/cli.js build`))
        if (!nbs) throw new Error(`nbs is not running inside:\n${ps.stdout.text}`)
        const pgid = nbs.trim().split(/\s+/)[1]!
        await c!.exec('kill', [`-${o.group.slice(3)}`, '--', `-${pgid}`])
      }
    }
    const exitCode = await t.exit()
    const rec = JSON.parse(readFileSync(join(k.dir, 'logs/last-build.json'), 'utf8')) as BuildRecord
    if (process.env.NBS_T_DEBUG) console.log(t.out(), k.marks(), rec)
    return { exitCode, out: t.out(), marks: k.marks().map((m) => m.replace(/ \d+$/, '')), markedAt: statSync(join(k.dir, 'marker')).mtimeMs, rec }
  }

  for (const usePty of [true, false]) {
    const mode = usePty ? 'sudo use_pty' : 'sudo !use_pty'
    it(`without nbs, ${mode}: ^C typed while sudo runs switch-to-configuration reaches it (what nbs prevents)`, async () => {
      await setSudo(usePty)
      const k = fresh()
      const t = onPty(`sudo "$NBS_T_STC" test`, { PATH, NBS_T_STC: `${T}/toplevel-ok/bin/switch-to-configuration`, NBS_STC_MARKER: `${T}/${k.name}/marker`, NBS_STC_SECONDS: '5' })
      await t.until('the activation to start', () => k.marks().some((m) => m.startsWith('started')))
      await sleep(300)
      t.ctrlC()
      expect(await t.exit()).toBe(130)
      expect(k.marks().map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'signal INT test'])
    }, 150_000)
  }

  it('-ng, sudo !use_pty: ^C twice during activation in the transient unit: it completes, nbs records the unit and its outcome', async () => {
    const r = await build({ tool: 'nixos-rebuild', action: 'switch', usePty: false, ctrlC: 2 })
    expect(r.marks).toEqual(['started switch', 'completed switch'])
    expect(r.out).toMatch(/nbs: interrupt — activation is running; waiting for it to finish/)
    expect(r.out).not.toMatch(/stopping the build now/)
    // nbs waited, the switch completed: the result is the tool's, the interrupt only told
    expect(r.exitCode).toBe(0)
    expect(r.rec).toMatchObject({ interrupted: true, signal: 'SIGINT', success: true, activation: 'completed' })
    expect(r.rec.activationUnit).toMatch(/^nixos-rebuild-switch-to-configuration/)
    // nbs returned (buildEnd, then the after-snapshot) only once the unit's activation had finished
    expect(Date.parse(r.rec.buildEnd)).toBeGreaterThanOrEqual(Math.floor(r.markedAt))
  }, 150_000)

  it('-ng, sudo !use_pty: ^C during an activation whose units fail: recorded as failed', async () => {
    const r = await build({ tool: 'nixos-rebuild', action: 'test', fail: true, usePty: false, ctrlC: 1 })
    expect(r.marks).toEqual(['started test', 'completed test'])
    expect(r.rec).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'failed' })
    expect(r.rec.activationUnit).toMatch(/^nixos-rebuild-switch-to-configuration/)
    expect(Date.parse(r.rec.buildEnd)).toBeGreaterThanOrEqual(Math.floor(r.markedAt))
  }, 150_000)

  it('-ng, sudo use_pty: ^C during activation goes to sudo\'s own terminal, not to nbs: the activation completes, nothing is interrupted', async () => {
    const r = await build({ tool: 'nixos-rebuild', action: 'switch', usePty: true, ctrlC: 2 })
    expect(r.marks).toEqual(['started switch', 'completed switch'])
    expect(r.out).not.toMatch(/nbs: interrupt/)
    expect(r.exitCode).toBe(0)
    expect(r.rec).toMatchObject({ interrupted: false, success: true, activation: 'completed' })
  }, 150_000)

  for (const usePty of [true, false]) {
    const mode = usePty ? 'sudo use_pty' : 'sudo !use_pty'
    it(`-ng, ${mode}: SIGTERM to the whole group during activation (a cancelled job): nixos-rebuild dies, the unit goes on, nbs waits for it and records it`, async () => {
      const r = await build({ tool: 'nixos-rebuild', action: 'switch', usePty, group: 'SIGTERM' })
      expect(r.marks).toEqual(['started switch', 'completed switch'])
      expect(r.out).toMatch(/nbs: SIGTERM — activation is running; waiting for it to finish/)
      // the unit's own output still arrives: systemd-run --pipe gave it nbs's pipes, which nbs reads to the end
      expect(r.out).toMatch(/SIGTERM — activation is running[^]*the following new units were started: nbs-demo\.service/)
      expect(r.exitCode).toBe(143) // nixos-rebuild's own death, passed through
      expect(r.rec).toMatchObject({ interrupted: true, signal: 'SIGTERM', success: false, activation: 'completed' })
      expect(r.rec.activationUnit).toMatch(/^nixos-rebuild-switch-to-configuration/)
      expect(Date.parse(r.rec.buildEnd)).toBeGreaterThanOrEqual(Math.floor(r.markedAt))
    }, 150_000)
  }

  for (const usePty of [true, false]) {
    const mode = usePty ? 'sudo use_pty' : 'sudo !use_pty'
    it(`nh 4.3.1, ${mode}: ^C twice while switch-to-configuration runs under sudo as nh's child: it completes`, async () => {
      const r = await build({ tool: 'nh', action: 'switch', usePty, ctrlC: 2 })
      expect(r.marks).toEqual(['started test', 'completed test', 'started boot', 'completed boot'])
      if (usePty) {
        expect(r.out).not.toMatch(/nbs: interrupt/)
        expect(r.rec).toMatchObject({ interrupted: false, success: true, activation: 'completed' })
      } else {
        expect(r.out).toMatch(/activation is running; waiting for it to finish/)
        expect(r.exitCode).toBe(0)
        expect(r.rec).toMatchObject({ interrupted: true, signal: 'SIGINT', success: true, activation: 'completed' })
      }
      expect(r.rec.activationUnit).toBeUndefined() // nh runs no unit; an -ng unit of an earlier build is not this one's
    }, 150_000)

    it(`nh 4.3.1, ${mode}: SIGINT sent with kill(2) to the whole group during activation (not from the terminal): it completes`, async () => {
      const r = await build({ tool: 'nh', action: 'test', usePty, group: 'SIGINT' })
      expect(r.marks).toEqual(['started test', 'completed test'])
      expect(r.rec).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'completed' })
      expect(r.rec.activationUnit).toBeUndefined()
    }, 150_000)
  }

  it('-ng without an interrupt: units failing in the transient unit exit 4, passed through as -ng does', async () => {
    const r = await build({ tool: 'nixos-rebuild', action: 'switch', fail: true, usePty: true })
    expect(r.marks).toEqual(['started switch', 'completed switch'])
    expect(r.out).toContain('warning: the following units failed: nbs-demo.service') // through systemd-run --pipe
    expect(r.out).toMatch(/Command '\[.*switch-to-configuration', 'switch'\]' returned non-zero exit status 4\./)
    expect(r.exitCode).toBe(4)
    expect(r.rec).toMatchObject({ interrupted: false, success: false, exitCode: 4, activation: 'failed' })
    expect(r.rec.activationUnit).toBeUndefined()
  }, 150_000)
})
