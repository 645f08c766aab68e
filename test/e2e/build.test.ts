/**
 * `nbs build` and `nbs history` end to end: the built CLI runs the test doubles in test/doubles
 * (nh, nixos-rebuild, home-manager, nom: not installable on Debian 12), which run REAL Nix on the
 * fixture flakes in test/fixtures/build-flakes. Each build gets a fresh copy of its flake (a new
 * nonce), so Nix really builds; records go to a temp NBS_LOG_DIR; generations to a temp root.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { runBuild } from '../../src/build/wrapper.js'
import type { BuildRecord } from '../../src/records/schema.js'
import { BUILD_BASE_PATH, freshBuildFlake, hasNix, NIX_ENV, NIX_SKIP_REASON } from '../helpers/nix.js'
import { CLI, nbs, pidsMatching, REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'
import { addUser } from '../helpers/sshd.js'
import { chmodSync, chownSync } from 'node:fs'

const DOUBLES = join(REPO_ROOT, 'test/doubles')
const tmp = mkdtempSync(join(tmpdir(), 'nbs-build-e2e-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const basePath = BUILD_BASE_PATH
const noNhBin = join(tmp, 'bin-no-nh')
mkdirSync(noNhBin)
for (const tool of ['nixos-rebuild', 'home-manager']) symlinkSync(join(DOUBLES, tool), join(noNhBin, tool))

let seq = 0
/** A fresh copy of a fixture flake (new nonce: every store path changes), as a `path:` ref. */
const freshFlake = (name: string): string => freshBuildFlake(tmp, name)

/** A place for one test: its log dir, machine root and working directory. */
function sandbox(opts: { nh?: boolean } = {}) {
  const dir = join(tmp, `case-${++seq}`)
  const [logs, root, cwd, state] = ['logs', 'root', 'cwd', 'state'].map((d) => join(dir, d)) as [string, string, string, string]
  for (const d of [logs, root, cwd]) mkdirSync(d, { recursive: true })
  // home builds go to the user's folder
  const userLogs = join(state, 'nbs/builds')
  const env: Record<string, string> = {
    ...NIX_ENV,
    PATH: `${opts.nh === false ? noNhBin : DOUBLES}:${basePath}`,
    NBS_LOG_DIR: logs,
    XDG_STATE_HOME: state,
    NBS_LOCK_DIR: join(dir, 'run-lock/nbs'),
    NBS_DOUBLE_ROOT: root,
  }
  mkdirSync(join(dir, 'run-lock'))
  const build = (args: string[], extraEnv: Record<string, string> = {}) =>
    nbs(['build', '--root', root, ...args], { cwd, env: { ...env, ...extraEnv } })
  const history = (args: string[] = []) => nbs(['history', ...args], { cwd, env })
  /** the newest record of either folder */
  const last = (): BuildRecord => {
    const read = (d: string) => (existsSync(join(d, 'last-build.json')) ? [JSON.parse(readFileSync(join(d, 'last-build.json'), 'utf8')) as BuildRecord] : [])
    return [...read(logs), ...read(userLogs)].sort((a, b) => b.buildStart.localeCompare(a.buildStart))[0]!
  }
  const hist = (): BuildRecord[] => JSON.parse(readFileSync(join(logs, 'build-history.json'), 'utf8'))
  return { dir, logs, userLogs, root, cwd, env, build, history, last, hist }
}

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** `nbs build` of the fixture's `slow` host in the background, once its builder (`sleep 120`) runs; `builders` are its pids. */
async function startSlowBuild(s: ReturnType<typeof sandbox>, action: 'build' | 'switch') {
  const before = new Set(await pidsMatching('sleep 120'))
  const child = execa(process.execPath, [CLI, 'build', 'os', action, '--flake', freshFlake('good'), '--host', 'slow', '--root', s.root], {
    cwd: s.cwd,
    env: s.env,
    stdin: 'ignore',
    reject: false,
  })
  let err = ''
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  await waitFor('the slow build to start', () => err.includes('nbs: started nixos-system-slow'))
  // Nix forks the builder after it says "started": a signal before that is another test (issue 12)
  let builders: number[] = []
  for (let i = 0; i < 250 && builders.length === 0; i++) {
    builders = (await pidsMatching('sleep 120')).filter((pid) => !before.has(pid))
    if (builders.length === 0) await sleep(20)
  }
  if (builders.length === 0) throw new Error('the slow build\'s builder (sleep 120) did not start')
  return { child, builders } // wrapped: the child is a thenable, and an async function would wait for it to end
}

/** Which of these builder pids still run (a zombie, already dead and waiting to be reaped, does not). */
async function stillRunning(pids: number[]): Promise<number[]> {
  const running = new Set(await pidsMatching('sleep 120'))
  return pids.filter((pid) => running.has(pid))
}

const SKIP = hasNix() ? '' : ` — ${NIX_SKIP_REASON}`

needs('nix').describe('nbs build through the nixos-rebuild double (no nh on PATH)', () => {
  it('switch: passes the tool\'s output through, shows activation, records the generation change', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'switch', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.stderr).toContain('building the system configuration...\n') // the tool's own line
    expect(r.stderr).toMatch(/^nbs: started nixos-system-demo-24\.05\.test$/m) // piped: plain lines only
    expect(r.stderr).toMatch(/^nbs: finished nixos-system-demo-24\.05\.test \(\d+s\)$/m)
    expect(`${r.stdout}${r.stderr}`).toContain('the following new units were started: nbs-demo.service') // activation shown
    expect(`${r.stdout}${r.stderr}`).not.toContain('@nix ')
    expect(r.stderr).not.toContain('\u001b[') // no redraws on a pipe
    expect(r.exitCode).toBe(0)
    const rec = s.last()
    expect(rec).toMatchObject({ target: 'os', action: 'switch', tool: 'nixos-rebuild', exitCode: 0, success: true, interrupted: false, errors: '' })
    expect(rec.command).toMatch(/^nixos-rebuild switch --flake path:\S+#demo --log-format internal-json$/) // root: no sudo flag, no -v
    expect(rec.preGeneration.generation).toBeNull()
    expect(rec.postGeneration.generation).toBe('g1')
    expect(rec.nixVersion).toMatch(/^2\.\d+/)
    expect(rec.buildLogPath).toMatch(new RegExp(`^${s.logs}/builds/\\d{8}T\\d{6}Z-os-switch\\.log$`))
    expect(readlinkSync(join(s.logs, 'last-build.log'))).toBe(`builds/${basename(rec.buildLogPath)}`)
    const log = readFileSync(rec.buildLogPath, 'utf8')
    expect(log).toContain('building the system configuration...') // what the user saw
    expect(log).toMatch(/^@nix \{"action":"start".*"type":105\}$/m) // plus the raw records
    expect(s.hist()).toHaveLength(1)
  })

  it('passes the tool\'s exit code through unchanged, and records it', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'], { NBS_DOUBLE_EXIT: '42' })
    expect(r.exitCode).toBe(42)
    expect(s.last()).toMatchObject({ exitCode: 42, success: false, errorDetails: [{ message: 'nixos-rebuild exited with code 42', kind: 'other' }] })
  })

  it('a failing derivation: its drv, the builder\'s exit code and last lines, shown and recorded', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'switch', '--flake', freshFlake('build-fail'), '--host', 'demo'])
    expect(r.exitCode).toBe(1) // Nix 2.8's nix build, through nixos-rebuild's set -e
    expect(r.stderr).toMatch(/error: builder for '\/nix\/store\/\w{32}-nixos-system-demo-build-fail\.drv' failed with exit code 3/)
    expect(r.stderr).toContain('       > nbs-fixture: something went wrong') // the tail Nix leaves out in JSON mode
    expect(r.stderr).toMatch(/^nbs: failed nixos-system-demo-build-fail/m)
    const rec = s.last()
    expect(rec).toMatchObject({ exitCode: 1, success: false })
    expect(rec.errorDetails[0]).toMatchObject({ kind: 'build', exitCode: 3 })
    expect(rec.errorDetails[0]!.drv).toMatch(/^\/nix\/store\/\w{32}-nixos-system-demo-build-fail\.drv$/)
    expect(rec.errorDetails[0]!.logTail).toContain('nbs-fixture: something went wrong')
    expect(rec.errors).toMatch(/builder for '.*build-fail\.drv' failed with exit code 3/)
    expect(rec.postGeneration.generation).toBeNull() // nothing was switched to
  })

  it('an evaluation error is recorded with file:line:column', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'build', '--flake', freshFlake('eval-error'), '--host', 'demo'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain("error: undefined variable 'undefinedPackage'")
    const e = s.last().errorDetails[0]!
    expect(e).toMatchObject({ kind: 'eval', line: 9, column: 16 })
    expect(e.message).toMatch(/undefined variable 'undefinedPackage'/)
    expect(e.file).toMatch(/\/flake\.nix$/)
    expect(r.stderr).toMatch(/^nbs: undefined variable 'undefinedPackage' at \S+flake\.nix:9:16$/m)
  })

  it('under systemd (IN_SYSTEMD=1, a timer-run build): the <3>-prefixed records are read, never shown', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'switch', '--flake', freshFlake('build-fail'), '--host', 'demo'], { IN_SYSTEMD: '1' })
    expect(readFileSync(s.last().buildLogPath, 'utf8')).toMatch(/^<3>@nix \{"action":"start".*"type":105\}$/m) // what Nix 2.8 wrote
    expect(`${r.stdout}${r.stderr}`).not.toContain('@nix ')
    expect(r.stderr).toContain('       > nbs-fixture: something went wrong')
    expect(s.last().errorDetails[0]).toMatchObject({ kind: 'build', exitCode: 3, drv: expect.stringMatching(/-nixos-system-demo-build-fail\.drv$/) })
  })

  it('a failed activation (units failed) is shown and recorded', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'switch', '--flake', freshFlake('good'), '--host', 'units-fail'])
    expect(r.exitCode).toBe(4) // nixos-rebuild-ng exits with switch-to-configuration's code
    expect(r.stderr).toMatch(/^Command '\['\/nix\/store\/\S+-nixos-system-units-fail-24\.05\.test\/bin\/switch-to-configuration', 'switch'\]' returned non-zero exit status 4\.$/m)
    expect(`${r.stdout}${r.stderr}`).toContain('warning: the following units failed: nbs-demo.service')
    expect(s.last().errorDetails).toContainEqual({ message: 'the following units failed: nbs-demo.service', kind: 'activation' })
  })

  it('a sudo-like prompt without a newline appears at once, and the build reads our stdin', async () => {
    const s = sandbox({ nh: false })
    const prompt = '[sudo] password for alice: '
    const child = execa(process.execPath, [CLI, 'build', 'os', 'switch', '--flake', freshFlake('good'), '--host', 'demo', '--root', s.root], {
      cwd: s.cwd,
      env: { ...s.env, NO_COLOR: '1', NBS_DOUBLE_PROMPT: prompt },
      stdin: 'pipe',
      reject: false,
    })
    let stderr = ''
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    await waitFor('the prompt', () => stderr.endsWith(prompt))
    await sleep(200)
    expect(child.exitCode).toBeNull() // still waiting for the password: the prompt was not held back
    expect(stderr.endsWith(prompt)).toBe(true)
    child.stdin!.end('hunter2\n')
    const r = await child
    expect(r.exitCode).toBe(0)
    expect(s.last().postGeneration.generation).toBe('g1')
  })

  it('dry-build builds nothing and changes nothing', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'dry-build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toMatch(/will be built/)
    expect(s.last()).toMatchObject({ action: 'dry-build', success: true, postGeneration: { generation: null } })
  })

  it('--json: stdout is the record alone, the tool\'s stdout goes to stderr', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'switch', '--json', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    const rec = JSON.parse(r.stdout) as BuildRecord
    expect(rec).toEqual(s.last())
    expect(r.stderr).toContain('activating the configuration...')
  })

  it('extra args after -- reach Nix', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'build', '--flake', freshFlake('build-fail'), '--host', 'demo', '--', '--option', 'max-jobs', '0'])
    expect(r.exitCode).toBe(1)
    expect(s.last().command).toMatch(/ --option max-jobs 0$/)
    expect(r.stderr).toMatch(/unable to start any build|local builds are disabled/i)
  })

  it('home through home-manager 25.05: structured (--log-format internal-json), the HM generation recorded', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['home', 'switch', '--flake', `${freshFlake('good')}#root`])
    expect(r.stdout).toContain('Starting Home Manager activation')
    expect(r.exitCode).toBe(0)
    const rec = s.last()
    expect(rec).toMatchObject({ target: 'home', tool: 'home-manager', success: true })
    expect(rec.command).toMatch(/^home-manager switch --flake path:\S+#root --log-format internal-json$/)
    expect(r.stderr).toMatch(/^nbs: finished home-manager-generation/m) // records parsed
    expect(rec.postGeneration.homeManagerGeneration).toBe('hm1')
  })

  it('a failing home build through home-manager 24.11: errors parsed from the plain text (it refuses --log-format)', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['home', 'build', '--flake', `${freshFlake('build-fail')}#root`], { NBS_DOUBLE_VERSION: '24.11' })
    expect(s.last().command).toMatch(/^home-manager build --flake path:\S+#root$/)
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/error: builder for '.*-home-manager-generation-build-fail\.drv' failed with exit code 3/) // passed through
    const e = s.last().errorDetails[0]!
    expect(e).toMatchObject({ kind: 'build', exitCode: 3 })
    expect(e.drv).toMatch(/-home-manager-generation-build-fail\.drv$/)
    expect(e.logTail).toContain('nbs-fixture: something went wrong') // Nix's own "last N log lines"
  })
})

needs('nix').describe('nbs build through the nh double', () => {
  it('os switch: nh\'s own lines and activation output are shown; stdout keeps all but the records', async () => {
    const s = sandbox()
    const r = await s.build(['os', 'switch', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toContain('> Building NixOS configuration\n')
    expect(r.stderr).toContain('> Activating configuration\n')
    expect(r.stdout).toContain('No version or selection state changes.\n') // nh's stdout, records taken out
    expect(r.stdout).toContain('activating the configuration...') // NH_SHOW_ACTIVATION_LOGS
    expect(r.stdout).not.toContain('@nix ')
    expect(r.stderr).toMatch(/^nbs: finished nixos-system-demo/m) // records parsed from nh's stdout
    expect(s.last()).toMatchObject({ tool: 'nh', success: true, postGeneration: { generation: 'g1' } })
    // nbs runs as root here: nh's root check is bypassed and (4.3+) it does not elevate
    expect(s.last().command).toMatch(/^nh --elevation-strategy none os switch path:\S+ --hostname demo --no-nom -- --log-format internal-json$/)
    expect(r.stdout).not.toMatch(/evaluating file/) // no -v
  })

  it('a failing build: nh exits 1 (passed through), the Nix error is recorded with its drv', async () => {
    const s = sandbox()
    const r = await s.build(['os', 'boot', '--flake', freshFlake('build-fail'), '--host', 'demo'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('0: Failed to build configuration')
    const e = s.last().errorDetails[0]!
    expect(e).toMatchObject({ kind: 'build', exitCode: 3 })
    expect(e.drv).toMatch(/-nixos-system-demo-build-fail\.drv$/)
  })

  it('home switch with nh', async () => {
    const s = sandbox()
    const r = await s.build(['home', 'switch', '--flake', `${freshFlake('good')}#tester`])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toContain('> Building Home-Manager configuration')
    expect(s.last()).toMatchObject({ target: 'home', tool: 'nh', postGeneration: { homeManagerGeneration: 'hm1' } })
  })

  it('--tool forces the tool; one that is not installed is a clear error (127)', async () => {
    const s = sandbox()
    const r = await s.build(['os', 'build', '--tool', 'nixos-rebuild', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    expect(s.last().tool).toBe('nixos-rebuild')
    const n = sandbox({ nh: false })
    const missing = await n.build(['os', 'build', '--tool', 'nh', '--flake', freshFlake('good')])
    expect(missing.exitCode).toBe(127)
    expect(missing.stderr).toMatch(/nh is not on PATH/)
  })
})

needs('nix').describe('privilege, versions and what really runs (issue 12, point 1)', () => {
  it('nbs under sudo with nh: the root check is bypassed (the nh double refuses root without it), no elevation', async () => {
    for (const v of ['3.6', '4.2', '4.3.0']) {
      const s = sandbox()
      const r = await s.build(['os', 'switch', '--flake', freshFlake('good'), '--host', 'demo'], { NBS_DOUBLE_VERSION: v, SUDO_USER: 'alice' })
      expect(r.stderr).not.toMatch(/Don't run nh os as root|invalid value|would elevate/)
      expect(r.exitCode).toBe(0)
      expect(s.last()).toMatchObject({ tool: 'nh', success: true, postGeneration: { generation: 'g1' } })
    }
    // what nbs avoids: the same nh as root without the bypass
    const plain = spawnSync(join(DOUBLES, 'nh'), ['os', 'switch', '/nonexistent'], { encoding: 'utf8', env: { ...process.env, NBS_DOUBLE_VERSION: '4.3.0' } })
    expect(plain.status).toBe(1)
    expect(plain.stderr).toContain("Don't run nh os as root. It will escalate its privileges internally as needed.")
  })

  it('nh < 4.2 exits 0 when activation fails: nbs records the build as failed (exit 1) from its output', async () => {
    const s = sandbox()
    const r = await s.build(['os', 'switch', '--flake', freshFlake('good'), '--host', 'units-fail'], { NBS_DOUBLE_VERSION: '3.6' })
    expect(`${r.stdout}${r.stderr}`).toContain('warning: the following units failed: nbs-demo.service')
    expect(r.exitCode).toBe(1)
    expect(s.last()).toMatchObject({ tool: 'nh', success: false, exitCode: 1 })
    expect(s.last().errorDetails).toContainEqual({ message: 'the following units failed: nbs-demo.service', kind: 'activation' })
    // nh 4.2 reports it itself
    const t = sandbox()
    const r42 = await t.build(['os', 'test', '--flake', freshFlake('good'), '--host', 'units-fail'], { NBS_DOUBLE_VERSION: '4.2' })
    expect(r42.exitCode).toBe(1)
    expect(r42.stderr).toContain('0: Activation (test) failed')
  })

  it('nh 4.1 hides activation and exits 0: nbs says it cannot tell', async () => {
    const s = sandbox()
    const r = await s.build(['os', 'switch', '--flake', freshFlake('good'), '--host', 'demo'], { NBS_DOUBLE_VERSION: '4.1' })
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toMatch(/^nbs: nh 4\.1\.0 hides activation output and exits 0 when activation fails/m)
  })

  it('dry-build with nh is a real dry run: nothing built, no ./result (never nh os build --dry)', async () => {
    for (const nr of [true, false]) {
      const s = sandbox()
      const bin = join(s.dir, 'bin')
      mkdirSync(bin)
      symlinkSync(join(DOUBLES, 'nh'), join(bin, 'nh'))
      if (nr) symlinkSync(join(DOUBLES, 'nixos-rebuild'), join(bin, 'nixos-rebuild'))
      const flake = freshFlake('good')
      const r = await s.build(['os', 'dry-build', '--flake', flake, '--host', 'demo'], { PATH: `${bin}:${basePath}` })
      expect(r.exitCode).toBe(0)
      expect(r.stderr).toMatch(/will be built/)
      expect(existsSync(join(s.cwd, 'result'))).toBe(false)
      expect(s.last().tool).toBe(nr ? 'nixos-rebuild' : 'nix')
      // the toplevel is not in the store
      const out = spawnSync('nix', ['eval', '--raw', `${flake}#nixosConfigurations.demo.config.system.build.toplevel.outPath`], { encoding: 'utf8', env: { ...process.env, ...NIX_ENV } })
      expect(out.stdout).toMatch(/^\/nix\/store\//)
      expect(existsSync(out.stdout)).toBe(false)
    }
  })

  it('home: NH_HOME_FLAKE\'s #fragment names the configuration', async () => {
    const s = sandbox()
    const r = await s.build(['home', 'switch'], { NH_HOME_FLAKE: `${freshFlake('good')}#tester` })
    expect(r.exitCode).toBe(0)
    expect(s.last().command).toMatch(/ --configuration tester /)
  })

  it('home on a flake without homeConfigurations (HM as a NixOS module): one line, use nbs build os, exit 3', async () => {
    const s = sandbox()
    const flake = freshFlake('good')
    const dir = flake.slice('path:'.length)
    writeFileSync(join(dir, 'flake.nix'), readFileSync(join(dir, 'flake.nix'), 'utf8').replace(/homeConfigurations\.\w+ = hm;/g, ''))
    const r = await s.build(['home', 'switch', '--flake', flake])
    expect(r.exitCode).toBe(3)
    expect(r.stderr.trim()).toMatch(/^nbs build: path:\S+ has no homeConfigurations: Home Manager is a NixOS module there.*use nbs build os switch$/)
    expect(existsSync(join(s.logs, 'last-build.json'))).toBe(false)
  })

  it('home under sudo is refused (it would build root\'s home), exit 3', async () => {
    const s = sandbox()
    const r = await s.build(['home', 'switch', '--flake', `${freshFlake('good')}#tester`], { SUDO_USER: 'alice' })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toMatch(/run it as alice, without sudo/)
  })

  it('nixos-rebuild: a flag it does not know is refused before anything runs, naming nh', async () => {
    const s = sandbox({ nh: false })
    const r = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo', '--', '--eval-store', 'auto'])
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toMatch(/-- --eval-store: nixos-rebuild accepts only its own flags .*only nh does/)
  })
})

/**
 * As a real unprivileged user (useradd; runuser), with Nix through a nix-daemon this test starts on
 * its own socket (killed by pid). Elevation goes through a sudo STAND-IN the test provides
 * (NBS_DOUBLE_SUDO): it logs the argv it was asked to run and runs it, as the same user.
 */
needs('nix', 'root').describe('as a user: the tool elevates itself', () => {
  const run = async (fn: (u: { name: string; home: string; env: Record<string, string>; sudoLog: string; s: ReturnType<typeof sandbox> }) => Promise<void>) => {
    const user = await addUser('/bin/sh')
    const s = sandbox()
    const sock = join(s.dir, 'daemon.sock')
    const daemon = execa('nix-daemon', [], { env: { ...process.env, ...NIX_ENV, NIX_DAEMON_SOCKET_PATH: sock }, reject: false, stdio: 'ignore' })
    try {
      await waitFor('the nix-daemon socket', () => existsSync(sock))
      chmodSync(tmp, 0o755)
      for (const d of [s.dir, s.logs, s.root, s.cwd]) chownSync(d, Number(spawnSync('id', ['-u', user.name], { encoding: 'utf8' }).stdout), 0)
      const sudoLog = join(s.dir, 'sudo.log')
      const standIn = join(s.dir, 'sudo-stand-in')
      writeFileSync(standIn, `#!/bin/sh\n# TEST STAND-IN for sudo: logs what it was asked to run, runs it as the same user\necho "$*" >> ${sudoLog}\nexec "$@"\n`, { mode: 0o755 })
      const env = { ...s.env, HOME: user.home, USER: user.name, NIX_REMOTE: 'daemon', NIX_DAEMON_SOCKET_PATH: sock, NBS_DOUBLE_SUDO: standIn }
      await fn({ ...user, env, sudoLog, s })
    } finally {
      daemon.kill('SIGTERM')
      await daemon
      await user.remove()
    }
  }
  const asUser = (name: string, env: Record<string, string>, cwd: string, args: string[]) =>
    execa('runuser', ['-u', name, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, 'build', ...args], { cwd, reject: false })

  it('nh os switch as a user: nh runs activation and the profile through sudo; nbs passes no bypass', async () => {
    await run(async ({ name, env, sudoLog, s }) => {
      const flake = freshFlake('good')
      const r = await asUser(name, env, s.cwd, ['os', 'switch', '--flake', flake, '--host', 'demo', '--root', s.root])
      expect(r.stderr).not.toMatch(/would elevate/)
      expect(r.exitCode).toBe(0)
      const rec = s.last()
      expect(rec).toMatchObject({ tool: 'nh', success: true, user: name, postGeneration: { generation: 'g1' } })
      expect(rec.command).toMatch(/^nh os switch /) // no --elevation-strategy, no bypass
      const sudo = readFileSync(sudoLog, 'utf8')
      expect(sudo).toMatch(/bin\/switch-to-configuration test$/m)
      expect(sudo).toMatch(/^nix-env -p \S+\/nix\/var\/nix\/profiles\/system --set /m)
    })
  })

  it('nixos-rebuild-ng as a user gets --sudo, and elevates through it', async () => {
    await run(async ({ name, env, sudoLog, s }) => {
      const bin = join(s.dir, 'bin')
      mkdirSync(bin)
      chmodSync(s.dir, 0o755)
      symlinkSync(join(DOUBLES, 'nixos-rebuild'), join(bin, 'nixos-rebuild'))
      const r = await asUser(name, { ...env, PATH: `${bin}:${basePath}` }, s.cwd, ['os', 'switch', '--flake', freshFlake('good'), '--host', 'demo', '--root', s.root])
      expect(r.exitCode).toBe(0)
      expect(s.last().command).toMatch(/^nixos-rebuild switch --flake \S+#demo --sudo --log-format internal-json$/)
      expect(readFileSync(sudoLog, 'utf8')).toMatch(/bin\/switch-to-configuration switch$/m)
    })
  })
})

describe('invalid arguments exit 3', () => {
  it.each([
    [['os', 'frobnicate'], /action "frobnicate"/],
    [['darwin', 'switch'], /target "darwin"/],
    [['home', 'boot'], /for home/],
    [['os', 'switch', '--tool', 'home-manager'], /builds home, not os/],
    [['os'], /missing required args/],
  ])('nbs build %j', async (args, message) => {
    const s = sandbox()
    const r = await nbs(['build', ...args], { cwd: s.cwd, env: s.env })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toMatch(message)
    expect(existsSync(join(s.logs, 'last-build.json'))).toBe(false)
  })

  it('nbs history --limit 0', async () => {
    const s = sandbox()
    expect((await s.history(['--limit', '0'])).exitCode).toBe(3)
  })
})

needs('nix').describe('records and history', () => {
  it('history keeps the newest 100; --limit, --failed, --json and the table', async () => {
    const s = sandbox({ nh: false })
    expect((await s.history()).stdout).toBe('No builds recorded.')
    await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    const template = s.last()
    const old = Array.from({ length: 100 }, (_, i) => ({
      ...template,
      buildStart: new Date(Date.parse(template.buildStart) - (i + 1) * 60_000).toISOString(),
      success: i % 2 === 0,
      exitCode: i % 2 === 0 ? 0 : 1,
    }))
    writeFileSync(join(s.logs, 'build-history.json'), JSON.stringify(old))
    await s.build(['os', 'build', '--flake', freshFlake('build-fail'), '--host', 'demo'])
    const hist = s.hist()
    expect(hist).toHaveLength(100)
    expect(hist[0]).toEqual(s.last())
    expect(hist[99]!.buildStart).toBe(old[98]!.buildStart) // the oldest fell off
    const limited = JSON.parse((await s.history(['--json', '--limit', '3'])).stdout) as BuildRecord[]
    expect(limited.map((r) => r.buildStart)).toEqual(hist.slice(0, 3).map((r) => r.buildStart))
    const failed = JSON.parse((await s.history(['--json', '--failed'])).stdout) as BuildRecord[]
    expect(failed.length).toBe(hist.filter((r) => !r.success).length)
    expect(failed.every((r) => !r.success)).toBe(true)
    const table = await s.history(['--limit', '2'])
    expect(table.exitCode).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^WHEN\s+BUILD\s+TOOL\s+DURATION\s+RESULT\s+GENERATION\s+FIRST ERROR$/)
    expect(table.stdout).toMatch(/os build demo\s+nixos-rebuild\s+\d+s\s+failed \(1\)\s+-\s+builder for '\/nix\/store\//)
  })

  it('a corrupt history file is moved aside with a warning, never fatal', async () => {
    const s = sandbox({ nh: false })
    writeFileSync(join(s.logs, 'build-history.json'), '[{"buildStart": "trunc')
    const h = await s.history()
    expect(h.exitCode).toBe(0)
    expect(h.stderr).toMatch(/build-history\.json is corrupt/)
    const r = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toMatch(/build-history\.json was corrupt .*moved it to/)
    expect(readdirSync(s.logs).some((f) => f.startsWith('build-history.json.corrupt-'))).toBe(true)
    expect(s.hist()).toHaveLength(1)
  })

  it('two builds at once: the second is refused with the first one\'s pid', async () => {
    const s = sandbox({ nh: false })
    const { child: first, builders } = await startSlowBuild(s, 'build')
    const second = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(second.exitCode).toBe(3)
    expect(second.stderr).toContain(`another nbs build is running (pid ${first.pid})`)
    first.kill('SIGTERM')
    expect((await first).exitCode).toBe(143)
    expect(await stillRunning(builders)).toEqual([])
  })

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s is forwarded to the build, the record is still written (interrupted), exit %i', async (signal, code) => {
    const s = sandbox({ nh: false })
    const { child, builders } = await startSlowBuild(s, 'switch')
    child.kill(signal)
    const r = await child
    expect(r.exitCode).toBe(code)
    expect(s.last()).toMatchObject({ interrupted: true, signal, success: false })
    expect(r.stderr).toMatch(new RegExp(`nbs: build interrupted by ${signal}`))
    expect(await stillRunning(builders)).toEqual([]) // this build's builder went with it
  })

  it('kill -9 of nbs around its record write leaves the old or the new file, never a torn one', async () => {
    const s = sandbox({ nh: false })
    await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    for (let i = 0; i < 8; i++) {
      const before = { last: s.last(), hist: s.hist() }
      const child = execa(process.execPath, [CLI, 'build', 'os', 'build', '--flake', freshFlake('good'), '--host', 'demo', '--root', s.root], {
        cwd: s.cwd,
        env: s.env,
        stdin: 'ignore',
        reject: false,
      })
      let err = ''
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
      // the tool is done when its build finished; nbs then snapshots and writes: kill somewhere in there
      await waitFor('the build to finish', () => err.includes('nbs: finished') || child.exitCode !== null)
      await sleep(i * 6) // spread over the snapshot and the record writes
      child.kill('SIGKILL')
      await child
      const last = s.last() // parses: not torn
      const hist = s.hist()
      expect(last.buildStart >= before.last.buildStart).toBe(true) // the old record or a whole new one
      expect(last.recordVersion).toBe(1)
      // the killed build's own record, and maybe the one before it recorded as interrupted
      expect(hist.length).toBeGreaterThanOrEqual(before.hist.length)
      expect(hist.length).toBeLessThanOrEqual(before.hist.length + 2)
      expect(hist.slice(-before.hist.length)).toEqual(before.hist)
    }
    // the lock of a killed build is stale, not a wall: the next build runs
    const r = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
  })
})

needs('nix').describe('runBuild on a terminal (library, fake TTY streams)', () => {
  const io = () => {
    const out: string[] = []
    const err: string[] = []
    const stream = (into: string[]) => ({ isTTY: true, columns: 80, write: (c: string | Uint8Array) => void into.push(Buffer.from(c).toString()) })
    return { out, err, io: { stdout: stream(out), stderr: stream(err) } }
  }
  const env = (logs: string) => ({ ...process.env, ...NIX_ENV, PATH: `${DOUBLES}:${basePath}`, NBS_LOG_DIR: logs, NBS_LOCK_DIR: join(logs, '..', 'run-lock/nbs') })

  it('nom draws when installed (it gets the same records); nbs still parses them itself', async () => {
    const s = sandbox()
    const t = io()
    const r = await runBuild({ target: 'os', action: 'build', flake: freshFlake('build-fail'), host: 'demo', io: t.io, env: env(s.logs), cwd: s.cwd })
    const err = t.err.join('')
    expect(err).toMatch(/┃ ⏵ nixos-system-demo-build-fail/) // drawn by the nom double
    expect(err).toMatch(/┗━ ⚠ Exited after 1 build failures/)
    expect(err).not.toContain('nbs: started') // nbs's own display is off
    expect(r.exitCode).toBe(1)
    expect(r.record.errorDetails[0]).toMatchObject({ kind: 'build', exitCode: 3 })
  })

  it('without nom: one status line redrawn in place, cleared before passthrough output', async () => {
    const s = sandbox()
    const t = io()
    const r = await runBuild({ target: 'os', action: 'build', flake: freshFlake('loud'), host: 'demo', io: t.io, env: env(s.logs), nom: false, cwd: s.cwd })
    expect(r.exitCode).toBe(0)
    const draws = t.err.filter((x) => x.startsWith('\r\u001b[2K') && x.length > 4)
    expect(draws.length).toBeGreaterThan(0)
    expect(draws.some((d) => /nixos-system-demo-loud/.test(d))).toBe(true)
    // 200,000 log records, a few dozen frames at most (≤ 10 per second)
    expect(draws.length).toBeLessThan(10 * (r.record.buildDuration + 1) + 5)
    expect(t.err.join('')).not.toContain('nbs-bench: log line') // build logs are not printed (as nix build without -L)
  })
})

/** Runs the built CLI as `user` (its own groups), as a person logged in would. */
function asUser(user: string, args: string[], env: Record<string, string>, cwd: string) {
  return spawnSync('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', process.execPath, CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...env, HOME: `/home/${user}`, USER: user, NO_COLOR: '1' },
  })
}

needs('nix').describe('a log per build (issue 12, point 3)', () => {
  it('the log is appended while the build runs: a tail -f of last-build.log sees lines before the build ends', async () => {
    const s = sandbox({ nh: false })
    const { child, builders } = await startSlowBuild(s, 'build')
    const live = readFileSync(join(s.logs, 'last-build.log'), 'utf8') // through the symlink, as tail -f opens it
    expect(live).toMatch(/^@nix \{"action":"start".*nixos-system-slow/m)
    expect(child.exitCode).toBeNull()
    child.kill('SIGTERM')
    await child
    expect(await stillRunning(builders)).toEqual([])
    expect(readFileSync(s.last().buildLogPath, 'utf8').startsWith(live)).toBe(true) // the same file, grown
  })

  it('a SIGKILLed nbs leaves its log; the next build records it as interrupted, pointing at that log', async () => {
    const s = sandbox({ nh: false })
    const { child, builders } = await startSlowBuild(s, 'switch')
    const log = join(s.logs, 'builds', readlinkSync(join(s.logs, 'last-build.log')).replace(/^builds\//, ''))
    child.kill('SIGKILL')
    await child
    for (const pid of builders) process.kill(pid, 'SIGKILL') // the tool lives on without nbs: end it
    expect(existsSync(log)).toBe(true)
    const r = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toMatch(/nbs: the os switch started at \S+ was killed with nbs; recorded it as interrupted \(log: .*\)/)
    const [newest, killed] = s.hist()
    expect(newest).toMatchObject({ action: 'build', success: true })
    expect(killed).toMatchObject({ action: 'switch', success: false, interrupted: true, buildLogPath: log })
    expect(killed!.errors).toMatch(/was killed before the build finished/)
    expect(readFileSync(log, 'utf8')).toMatch(/nixos-system-slow/)
    expect(newest!.buildLogPath).not.toBe(log) // each record its own log
    expect(readlinkSync(join(s.logs, 'last-build.log'))).toBe(`builds/${basename(newest!.buildLogPath)}`)
  })
})

needs('nix').describe('a killed nbs whose tool runs on (admin review)', () => {
  it('the next build refuses while the tool runs (exit 3, naming both pids), then records the old one interrupted and runs', async () => {
    const s = sandbox({ nh: false })
    const { child, builders } = await startSlowBuild(s, 'build')
    // one lock per system root: os-build-<hash of --root>.lock
    const lockFile = join(s.dir, 'run-lock/nbs', readdirSync(join(s.dir, 'run-lock/nbs')).find((n) => /^os-build.*\.lock$/.test(n))!)
    await waitFor('the tool pid in the lock', () => /child=\d+/.test(readFileSync(lockFile, 'utf8')))
    const tool = Number(/child=(\d+)/.exec(readFileSync(lockFile, 'utf8'))![1])
    const marker = readdirSync(join(s.logs, 'builds')).find((n) => n.endsWith('.running'))!
    expect(JSON.parse(readFileSync(join(s.logs, 'builds', marker), 'utf8')).owner.child).toBe(tool)
    child.kill('SIGKILL')
    await child
    expect(() => process.kill(tool, 0)).not.toThrow() // the tool lives on without nbs
    const refused = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(refused.exitCode).toBe(3)
    expect(refused.stderr).toContain(`a build started by pid ${child.pid} (nbs killed) is still running: pid ${tool}`)
    expect(existsSync(join(s.logs, 'builds', marker))).toBe(true) // not recorded as interrupted while it runs
    for (const pid of builders) process.kill(pid, 'SIGKILL')
    await waitFor('the tool to end', () => {
      try {
        process.kill(tool, 0)
        return readFileSync(`/proc/${tool}/stat`, 'utf8').split(') ')[1]!.startsWith('Z')
      } catch {
        return true
      }
    })
    const r = await s.build(['os', 'build', '--flake', freshFlake('good'), '--host', 'demo'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toMatch(/the os build started at \S+ was killed with nbs; recorded it as interrupted/)
    expect(s.hist()[1]).toMatchObject({ interrupted: true, errors: expect.stringContaining(`the tool it started (pid ${tool}) ran on without it`) })
  })
})

needs('nix').describe('records other users read (issue 12, point 2)', () => {
  it('after a root build, a user reads history and status; the log only as a member of the group', async () => {
    const group = `nbsg${Math.random().toString(36).slice(2, 7)}`
    const run = (file: string, args: string[]) => expect(spawnSync(file, args, { encoding: 'utf8' }).status).toBe(0)
    run('groupadd', [group])
    const [member, other] = [`nbsm${Math.random().toString(36).slice(2, 7)}`, `nbso${Math.random().toString(36).slice(2, 7)}`]
    run('useradd', ['-m', '-G', group, member])
    run('useradd', ['-m', other])
    try {
      const s = sandbox({ nh: false })
      for (const d of [tmp, s.dir, s.cwd]) spawnSync('chmod', ['o+rx', d]) // the users reach the sandbox, as /var/log
      const system = join(s.dir, 'var-log/nixos-builds')
      const env = { ...s.env, NBS_LOG_DIR: system, NBS_LOG_GROUP: group }
      const r = await nbs(['build', '--root', s.root, 'os', 'build', '--flake', freshFlake('build-fail'), '--host', 'demo'], { cwd: s.cwd, env })
      expect(r.exitCode).toBe(1)
      // root made the system folder 2775 root:GROUP, the log 0640 in that group, the records 0644
      expect(statSync(system).mode & 0o7777).toBe(0o2775)
      const rec = JSON.parse(readFileSync(join(system, 'last-build.json'), 'utf8')) as BuildRecord
      expect(statSync(rec.buildLogPath).mode & 0o777).toBe(0o640)
      const userEnv = { PATH: env.PATH!, NBS_LOG_DIR: system, NBS_LOG_GROUP: group }
      for (const user of [member, other]) {
        const h = asUser(user, ['history', '--json'], userEnv, s.cwd)
        expect(h.status).toBe(0)
        expect(JSON.parse(h.stdout)).toMatchObject([{ target: 'os', action: 'build', success: false, buildLogPath: rec.buildLogPath }])
        const st = asUser(user, ['status', '--json', '--root', s.root, '--host', 'demo'], userEnv, s.cwd)
        expect(JSON.parse(st.stdout).lastBuild).toMatchObject({ target: 'os', success: false })
      }
      const cat = (user: string) => spawnSync('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', 'cat', rec.buildLogPath], { encoding: 'utf8' })
      expect(cat(member).status).toBe(0)
      expect(cat(member).stdout).toMatch(/nixos-system-demo-build-fail/)
      expect(cat(other).stderr).toMatch(/Permission denied/)
      // a user's os build where it cannot write: its own folder, and it says so; its history merges both
      const own = asUser(other, ['build', '--root', s.root, 'os', 'dry-build', '--flake', freshFlake('good'), '--host', 'demo'], { ...userEnv, NBS_DOUBLE_ROOT: s.root, NBS_LOCK_DIR: join(s.dir, 'user-lock/nbs'), NIX_CONFIG: s.env.NIX_CONFIG ?? '' }, s.cwd)
      expect(own.stderr).toContain(`nbs: NBS_LOG_DIR ${system} is not writable by ${other} (permission denied); this build's records go to /home/${other}/.local/state/nbs/builds; fix: join group ${group} (sudo usermod -aG ${group} $USER, then log in again)`)
      expect(own.stderr).not.toContain('chmod 2775') // it is 2775 already: only what applies
      const merged = JSON.parse(asUser(other, ['history', '--json'], userEnv, s.cwd).stdout) as BuildRecord[]
      expect(merged.map((m) => `${m.user}:${m.action}`)).toEqual([`${other}:dry-build`, 'root:build'])
      // a folder closed to others (as an older nbs made it): permission denied with the fix, the readable records still shown
      chownSync(system, 0, 0)
      chmodSync(system, 0o750)
      const closed = asUser(other, ['history', '--json'], userEnv, s.cwd)
      expect(closed.status).toBe(0)
      // group root: joining a group fixes nothing, so the fix is the folder's group and mode
      expect(closed.stderr).toContain(`${join(system, 'build-history.json')}: permission denied: ${system} belongs to group root; fix: sudo chgrp ${group} ${system} && sudo chmod 2775 ${system}`)
      expect(closed.stderr).not.toMatch(/corrupt|join group/)
      expect((JSON.parse(closed.stdout) as BuildRecord[]).map((m) => m.user)).toEqual([other])
      // the seed's 0750 root:root (files 0640 root:root): the next root build repairs it, once, and says so
      spawnSync('chmod', ['0640', join(system, 'build-history.json'), join(system, 'last-build.json')])
      spawnSync('chgrp', ['root', join(system, 'build-history.json'), join(system, 'last-build.json')])
      const repair = await nbs(['build', '--root', s.root, 'os', 'dry-build', '--flake', freshFlake('good'), '--host', 'demo'], { cwd: s.cwd, env })
      expect(repair.stderr).toContain(`nbs: repaired ${system}: it was 0750 root:root, which keeps group ${group} out; it is now 2775 root:${group}`)
      expect(statSync(system).mode & 0o7777).toBe(0o2775)
      expect(statSync(system).gid).toBe(Number(spawnSync('getent', ['group', group], { encoding: 'utf8' }).stdout.split(':')[2]))
      const again = await nbs(['build', '--root', s.root, 'os', 'dry-build', '--flake', freshFlake('good'), '--host', 'demo'], { cwd: s.cwd, env })
      expect(again.stderr).not.toContain('repaired')
      const readable = asUser(other, ['history', '--json'], userEnv, s.cwd)
      expect(readable.stderr).not.toContain('permission denied')
      expect((JSON.parse(readable.stdout) as BuildRecord[]).filter((m) => m.user === 'root')).toHaveLength(3)
      // a member refused by a folder the group may not read: no "join group", the mode is the fix
      chmodSync(system, 0o700)
      const member0700 = asUser(member, ['history', '--json'], userEnv, s.cwd)
      expect(member0700.stderr).toContain(`permission denied: you are in group ${group} already, but ${system} does not let the group read it; fix: sudo chmod 2775 ${system}`)
      const kept = await nbs(['build', '--root', s.root, 'os', 'dry-build', '--flake', freshFlake('good'), '--host', 'demo'], { cwd: s.cwd, env })
      expect(kept.stderr).not.toContain('repaired') // set stricter on purpose: left alone
      expect(statSync(system).mode & 0o7777).toBe(0o700)
    } finally {
      for (const u of [member, other]) spawnSync('userdel', ['-r', u])
      spawnSync('groupdel', [group])
    }
  })
})
