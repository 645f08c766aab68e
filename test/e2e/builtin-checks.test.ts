import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BOOT_A, writeJournalRoot } from '../helpers/journal.js'
import { fixtureFlake, hasNix, NIX_ENV, NIX_SKIP_REASON } from '../helpers/nix.js'
import { buildSystem, makeMachine, ROOT_HOSTNAME, type FakeMachine } from '../helpers/profiles.js'
import { nbs } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

// The five built-in checks through the real CLI: real Nix on fixture flakes, real profiles made by
// nix-env, real journal files. (failed-units against a booted systemd: systemd-container.test.ts.)
const cleanups: (() => unknown)[] = []
afterAll(async () => void (await Promise.all(cleanups.map((c) => c()))))
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'nbs-builtin-'))
  cleanups.push(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A project with only the built-in checks; returns every check's result by id. */
async function check(args: string[], env: Record<string, string> = {}) {
  const dir = tempDir()
  writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ include: [] }))
  const r = await nbs(['check', '--reporter', 'json', ...args], { cwd: dir, env: { ...NIX_ENV, ...env } })
  expect(r.stderr).toBe('')
  const report = JSON.parse(r.stdout)
  const checks = Object.fromEntries(report.phases.flatMap((p: { checks: { id: string }[] }) => p.checks).map((c: { id: string }) => [c.id, c]))
  return { exitCode: r.exitCode, checks, report }
}

needs('nix').describe('flake-eval and dry-build with real Nix', () => {
  it('pass on a good flake: the drvPath is handed to dry-build, which counts what it would build', async () => {
    const { exitCode, checks } = await check(['--flake', fixtureFlake('good'), '--host', 'demo', '--only', 'dry-build'])
    expect(exitCode).toBe(0)
    expect(checks['flake-eval']).toMatchObject({ status: 'passed', message: expect.stringMatching(/^\/nix\/store\/\w{32}-nixos-system-demo-24\.05\.test\.drv$/) })
    expect(checks['dry-build'].status).toBe('passed')
    expect(checks['dry-build'].message).toMatch(/^[01] derivations? to build, 0 paths to fetch$/)
    expect(checks['dry-build'].details.drvPath).toBe(checks['flake-eval'].details.drvPath)
  })

  it('an undefined variable: the Nix error is the message, with file, line and column; dry-build is skipped (under systemd too)', async () => {
    // IN_SYSTEMD=1 (a timer-run check): Nix 2.8 writes every record as `<3>@nix …`
    for (const env of [{}, { IN_SYSTEMD: '1' }]) {
      const { exitCode, checks } = await check(['--flake', fixtureFlake('undefined-variable'), '--host', 'demo', '--only', 'dry-build'], env)
      expect(exitCode).toBe(1)
      expect(checks['flake-eval']).toMatchObject({ status: 'failed', message: "undefined variable 'undefinedPackage'" })
      // the fixture's own file, relative to this repository (the store copy Nix read kept beside it)
      expect(checks['flake-eval'].details).toMatchObject({
        kind: 'eval',
        line: 10,
        column: 16,
        file: 'test/fixtures/flakes/undefined-variable/flake.nix',
        storeFile: expect.stringMatching(/^\/nix\/store\/\w{32}-source\/flake\.nix$/),
      })
      expect(checks['flake-eval'].details.codeFrame).toContain('undefinedPackage')
      expect(checks['dry-build']).toMatchObject({ status: 'skipped', message: 'dependency flake-eval failed' })
    }
  })

  it('a failed NixOS assertion and a missing option are reported as Nix words them', async () => {
    const assertion = await check(['--flake', fixtureFlake('failed-assertion'), '--host', 'demo', '--only', 'flake-eval'])
    expect(assertion.checks['flake-eval']).toMatchObject({ status: 'failed', details: { kind: 'assertion' } })
    expect(assertion.checks['flake-eval'].message).toMatch(/^The ‘fileSystems’ option does not specify your root file system/)
    const option = await check(['--flake', fixtureFlake('missing-option'), '--host', 'demo', '--only', 'flake-eval'])
    expect(option.checks['flake-eval']).toMatchObject({ status: 'failed', details: { kind: 'missing-option' } })
    expect(option.checks['flake-eval'].message).toMatch(/^The option `services\.nbs-demo\.enable' does not exist/)
  })

  it('a host the flake does not define fails with the attribute Nix could not find', async () => {
    const { checks } = await check(['--flake', fixtureFlake('good'), '--host', 'nope', '--only', 'flake-eval'])
    expect(checks['flake-eval'].status).toBe('failed')
    expect(checks['flake-eval'].message).toMatch(/nope/)
  })
})

describe('skips where a check cannot apply', () => {
  it('no nix on PATH: flake-eval is skipped, saying so', async () => {
    const bin = tempDir() // an empty PATH: no nix, no git
    const { exitCode, checks } = await check(['--flake', '/nowhere', '--only', 'dry-build'], { PATH: bin })
    expect(exitCode).toBe(0)
    expect(checks['flake-eval']).toMatchObject({ status: 'skipped', message: 'nix is not on PATH' })
    expect(checks['dry-build']).toMatchObject({ status: 'skipped', message: 'dependency flake-eval skipped' })
  })

  it('a channel-based /etc/nixos (configuration.nix, no flake.nix): flake-eval is skipped with the reason, not failed', async () => {
    const channel = tempDir()
    writeFileSync(join(channel, 'configuration.nix'), '{ ... }: { }\n')
    const { exitCode, checks } = await check(['--flake', channel, '--only', 'dry-build'])
    expect(exitCode).toBe(0)
    expect(checks['flake-eval']).toMatchObject({ status: 'skipped', message: `${channel} has no flake.nix (a channel-based configuration.nix): nbs checks flakes; point --flake (or flake in the config) at your flake` })
    expect(checks['dry-build']).toMatchObject({ status: 'skipped', message: 'dependency flake-eval skipped' })
  })

  it('an offline root: failed-units says systemd is not running there; generation-sync that it is not NixOS', async () => {
    const root = tempDir()
    mkdirSync(join(root, 'etc'))
    writeFileSync(join(root, 'etc/hostname'), 'box\n')
    const { checks } = await check(['--root', root, '--host', 'box', '--only', 'failed-units', '--only', 'generation-sync'])
    expect(checks['failed-units']).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^systemd is not running as PID 1 \(.* is not the running system\)$/) })
    expect(checks['generation-sync']).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^not a NixOS system/) })
  })
})

describe('journal-errors on real journal files under --root', () => {
  it('fails over the threshold with the count and the top messages by unit; passes under it', async () => {
    const root = tempDir()
    await writeJournalRoot(
      [
        { boot: BOOT_A, priority: 3, unit: 'nginx.service', message: 'bind() to 0.0.0.0:80 failed' },
        { boot: BOOT_A, priority: 3, unit: 'nginx.service', message: 'bind() to 0.0.0.0:80 failed' },
        { boot: BOOT_A, priority: 2, unit: 'backup.service', message: 'disk full' },
        { boot: BOOT_A, priority: 6, unit: 'sshd.service', message: 'Accepted publickey' },
      ],
      root,
    )
    mkdirSync(join(root, 'etc'), { recursive: true })
    writeFileSync(join(root, 'etc/hostname'), 'box\n') // the root is the machine host `box` describes
    const failing = await check(['--root', root, '--host', 'box', '--only', 'journal-errors'])
    expect(failing.exitCode).toBe(0) // a warning by default: it shows without failing the run (journal-errors.test.ts)
    expect(failing.checks['journal-errors']).toMatchObject({
      status: 'failed',
      message: '3 journal errors since boot (max 0): nginx.service: bind() to 0.0.0.0:80 failed (×2); backup.service: disk full',
    })
    const dir = tempDir()
    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ include: [], options: { 'journal-errors': { maxErrors: 1, ignore: ['^bind\\(\\)'] } } }))
    const r = await nbs(['check', '--reporter', 'json', '--root', root, '--host', 'box', '--only', 'journal-errors'], { cwd: dir })
    const c = JSON.parse(r.stdout).phases.at(-1).checks[0]
    expect(c).toMatchObject({ status: 'passed', message: '1 journal error since boot (max 1): backup.service: disk full' })
  })
})

needs('nix').describe('generation-sync on real profiles under --root', () => {
  let repo: string
  let head: string
  let sys: Record<string, string>
  const git = (...args: string[]) => execa('git', ['-C', repo, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', ...args])

  beforeAll(async () => {
    repo = tempDir()
    await git('init', '-q')
    writeFileSync(join(repo, 'flake.nix'), '{ outputs = _: { }; }\n')
    await git('add', '.')
    await git('commit', '-qm', 'first')
    const first = (await git('rev-parse', 'HEAD')).stdout.trim()
    writeFileSync(join(repo, 'flake.nix'), '{ outputs = _: { x = 1; }; }\n')
    await git('commit', '-qam', 'second')
    head = (await git('rev-parse', 'HEAD')).stdout.trim()
    sys = {
      old: await buildSystem({ rev: first }),
      head: await buildSystem({ rev: head }),
      headNewKernel: await buildSystem({ rev: head, kernel: '6.6.1' }),
    }
  }, 120_000)

  async function machine(generations: string[], current: string, booted = current): Promise<FakeMachine> {
    const m = makeMachine()
    cleanups.push(() => m.cleanup())
    m.markNixOS()
    for (const g of generations) await m.addGeneration(g)
    await m.setCurrent(current)
    await m.setBooted(booted)
    return m
  }
  const run = (m: FakeMachine, ...more: string[]) => check(['--root', m.root, '--flake', repo, '--host', ROOT_HOSTNAME, '--only', 'generation-sync', ...more])

  it('in sync: running the newest generation, built from HEAD', async () => {
    const m = await machine([sys.old!, sys.head!], sys.head!)
    const { exitCode, checks } = await run(m)
    expect(exitCode).toBe(0)
    expect(checks['generation-sync'].status).toBe('passed')
    expect(checks['generation-sync'].message).toMatch(/^in-sync: running generation 2, the newest; revision equal: running system built from \w{7} \(HEAD\)/)
  })

  it('rolled back: the profile points to generation 1 and it runs: passes, and says so', async () => {
    const m = await machine([sys.head!, sys.headNewKernel!], sys.head!)
    await m.rollback()
    const { exitCode, checks } = await run(m)
    expect(exitCode).toBe(0)
    expect(checks['generation-sync']).toMatchObject({ status: 'passed', details: { state: 'rolled-back' } })
    expect(checks['generation-sync'].message).toMatch(/^rolled-back: running generation 1, rolled back from generation 2; revision equal/)
    // rolled back to a system built from an older commit: the state is fine, the revision differs from HEAD
    const older = await machine([sys.old!, sys.head!], sys.old!)
    await older.rollback()
    const r = await run(older)
    expect(r.checks['generation-sync']).toMatchObject({ status: 'failed', details: { state: 'rolled-back' } })
    expect(r.checks['generation-sync'].message).toMatch(/^revision differs: running system built from \w{40}, flake HEAD is/)
  })

  it('a specialisation of the newest generation runs: in sync, and named', async () => {
    const withSpecs = await buildSystem({ rev: head, specialisations: 'gaming' })
    const m = await machine([sys.old!, withSpecs], realpathSync(join(withSpecs, 'specialisation/gaming')))
    const { exitCode, checks } = await run(m)
    expect(exitCode).toBe(0)
    expect(checks['generation-sync'].message).toMatch(/^in-sync: running generation 2, specialisation gaming, the newest; revision equal/)
  })

  it('pending: nixos-rebuild boot made generation 2 the default, generation 1 runs, built from an older commit', async () => {
    const m = await machine([sys.old!, sys.head!], sys.old!)
    const { exitCode, checks } = await run(m)
    expect(exitCode).toBe(1)
    expect(checks['generation-sync']).toMatchObject({ status: 'failed', details: { state: 'pending' } })
    expect(checks['generation-sync'].message).toContain('pending: running generation 1, but generation 2 is set to boot next')
    expect(checks['generation-sync'].message).toContain(`flake HEAD is ${head}`)
  })

  it('drifted: nixos-rebuild test activated a system in no generation', async () => {
    const m = await machine([sys.old!], sys.head!, sys.old!) // booted generation 1, then `nixos-rebuild test` activated another
    const { exitCode, checks } = await run(m)
    expect(exitCode).toBe(1)
    expect(checks['generation-sync']).toMatchObject({ status: 'failed', details: { state: 'drifted' } })
  })

  it('a dirty checkout whose HEAD built the running system passes, with the uncommitted files as a note', async () => {
    const m = await machine([sys.head!], sys.head!)
    writeFileSync(join(repo, 'README.md'), 'an edit\n')
    await git('add', 'README.md')
    try {
      const { exitCode, checks } = await run(m)
      expect(exitCode).toBe(0)
      expect(checks['generation-sync']).toMatchObject({ status: 'passed', message: expect.stringContaining('has uncommitted changes (1 file)') })
    } finally {
      await git('rm', '-q', '--cached', 'README.md')
      rmSync(join(repo, 'README.md'))
    }
  })

  it('reboot needed: in sync, passes, and says the kernel differs from the booted one', async () => {
    const m = await machine([sys.head!, sys.headNewKernel!], sys.headNewKernel!, sys.head!)
    const { exitCode, checks } = await run(m)
    expect(exitCode).toBe(0)
    expect(checks['generation-sync'].status).toBe('passed')
    expect(checks['generation-sync'].message).toMatch(/; reboot needed: kernel, .*differ from the booted system/)
    expect(checks['generation-sync'].details.rebootNeeded).toMatchObject({ needed: true })
  })

  it('a mounted image names its own host: without --host, the root\'s /etc/hostname is the host, and its machine checks run', async () => {
    const m = await machine([sys.head!], sys.head!)
    const { exitCode, report, checks } = await check(['--root', m.root, '--flake', repo, '--only', 'generation-sync'])
    expect(exitCode).toBe(0)
    expect(report.host).toBe(ROOT_HOSTNAME)
    expect(checks['generation-sync'].status).toBe('passed')
  })

  it('a host that is not this machine: machine checks are skipped with the reason, and counted', async () => {
    const m = await machine([sys.head!], sys.head!)
    const { exitCode, checks, report } = await check(['--root', m.root, '--flake', repo, '--host', 'web', '--only', 'generation-sync', '--only', 'failed-units'])
    expect(exitCode).toBe(0)
    for (const id of ['generation-sync', 'failed-units']) {
      expect(checks[id]).toMatchObject({ status: 'skipped', skip: 'not-this-machine', message: expect.stringMatching(/^web is not this machine \(testhost\).*give it a targetHost/) })
    }
    expect(report.summary).toMatchObject({ skipped: 2, notThisMachine: 2 })
  })

  it('a host named differently from the machine is this machine when its networking.hostName says so (one evaluation, with flake-eval)', async () => {
    const m = await machine([sys.head!], sys.head!)
    const flake = fixtureFlake('named-host')
    const local = await check(['--root', m.root, '--flake', flake, '--host', 'web', '--only', 'generation-sync', '--only', 'flake-eval'])
    expect(local.checks['flake-eval']).toMatchObject({ status: 'passed', details: { hostName: 'testhost', system: 'x86_64-linux' } })
    expect(local.checks['generation-sync'].status).not.toBe('skipped')
    // without flake-eval in the run, the host name is evaluated on its own
    const alone = await check(['--root', m.root, '--flake', flake, '--host', 'web', '--only', 'generation-sync'])
    expect(alone.checks['generation-sync'].status).not.toBe('skipped')
    // a host name the configuration only inherits from NixOS's default does not make it this machine
    const unnamed = await check(['--root', m.root, '--flake', flake, '--host', 'unnamed', '--only', 'generation-sync', '--only', 'flake-eval'])
    expect(unnamed.checks['flake-eval'].details.hostName).toBeUndefined()
    expect(unnamed.checks['generation-sync']).toMatchObject({ status: 'skipped', message: expect.stringContaining('unnamed is not this machine (testhost) (it sets no networking.hostName)') })
    const unnamedAlone = await check(['--root', m.root, '--flake', flake, '--host', 'unnamed', '--only', 'generation-sync'])
    expect(unnamedAlone.checks['generation-sync']).toMatchObject({ status: 'skipped', skip: 'not-this-machine' })
    // another machine (its /etc/hostname says so): skipped, naming both names
    writeFileSync(join(m.root, 'etc/hostname'), 'ci-runner\n')
    const other = await check(['--root', m.root, '--flake', flake, '--host', 'web', '--only', 'generation-sync', '--only', 'flake-eval'])
    expect(other.checks['generation-sync']).toMatchObject({ status: 'skipped', message: expect.stringContaining('web is not this machine (ci-runner) (its networking.hostName is testhost)') })
  })
})
