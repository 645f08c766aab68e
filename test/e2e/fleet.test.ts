import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import type { RunReport } from '../../src/report/types.js'
import type { FleetStatus } from '../../src/status/fleet.js'
import { proveRun, xmllintValidate, xpath, XSDS } from '../helpers/consumers.js'
import { jsonCheck, makeProject, nbs } from '../helpers/project.js'
import { missingReason, needs } from '../helpers/real.js'
import { freePort, startSshd, type Sshd } from '../helpers/sshd.js'

// A fleet of three hosts against one real sshd on 127.0.0.1: web1 and web2 are two of its ports
// (sshd tells them apart with `Match LocalPort` + `SetEnv NBS_TEST_HOST`), db1 a port nothing
// listens on. The checks are plain command checks: phase health runs on the host over ssh.
const real = needs('sshd')

let sshd: Sshd
let deadPort: number
let project: { dir: string; cleanup(): void }
const MARKER = `nbs-fleet-hang-${process.pid}`

const hostsConfig = () => ({
  web1: { targetHost: sshd.hosts[0], sshOptions: ['-F', sshd.sshConfigFile], tags: ['web'] },
  web2: { targetHost: sshd.hosts[1], sshOptions: ['-F', sshd.sshConfigFile], tags: ['web', 'canary'] },
  db1: { targetHost: 'root@127.0.0.1', port: deadPort, sshOptions: ['-F', sshd.sshConfigFile], tags: ['db'] },
})

beforeAll(async () => {
  if (missingReason(['sshd'])) return
  sshd = await startSshd({ ports: 2 })
  deadPort = await freePort()
  project = makeProject({
    'nbs.config.json': JSON.stringify({ builtins: false, flake: './no-flake-here', hosts: hostsConfig() }),
    // runs here (pre-build is about the flake): once per host, never over ssh
    'checks/lint.check.json': jsonCheck({ id: 'lint', phase: 'pre-build', command: ['sh', '-c', 'test -z "$NBS_TEST_HOST" && echo local'] }),
    // runs on the host: sshd's SetEnv says which one; web2 fails it
    'checks/role.check.json': jsonCheck({ id: 'role', phase: 'health', command: ['sh', '-c', 'echo "on $NBS_TEST_HOST"; test "$NBS_TEST_HOST" != "' + sshd.hosts[1] + '"'], expect: { stdout: { contains: 'on nbs-test' } } }),
    'checks/kernel.check.json': jsonCheck({ id: 'kernel', phase: 'health', command: ['uname', '-s'], expect: { stdout: { contains: 'Linux' } } }),
    'checks/disk.check.json': jsonCheck({ id: 'disk', phase: 'health', command: ['df', '-P', '/'] }),
    'checks/uptime.check.json': jsonCheck({ id: 'uptime', phase: 'health', command: ['cat', '/proc/uptime'] }),
  })
}, 60_000)

afterAll(async () => {
  project?.cleanup()
  await sshd?.stop()
})

const report = (file: string) => JSON.parse(readFileSync(join(project.dir, file), 'utf8')) as RunReport
const result = (r: RunReport, host: string, id: string) => r.phases.flatMap((p) => p.checks).find((c) => c.host === host && c.id === id)

real.describe('nbs check --on: a fleet over real ssh', () => {
  real.it('checks every selected host, each through its own ssh connection, and reports per host in every format', async () => {
    const logBefore = (await sshd.log()).split('\n').filter((l) => l.includes('Accepted publickey')).length
    const sessionsBefore = (await sshd.log()).split('\n').filter((l) => l.includes('Starting session: command')).length
    const res = await nbs(['check', '--on', '*', '--reporter', 'json:r.json', '--reporter', 'junit:r.xml', '--reporter', 'tap:r.tap'], { cwd: project.dir })
    expect(res.exitCode, res.stderr).toBe(1)
    const r = report('r.json')
    expect(r).toMatchObject({ schemaVersion: 2, fleet: true, host: '*' })
    expect(r.hosts.map((h) => [h.name, h.status, h.reachable])).toEqual([
      ['db1', 'failed', 'no'],
      ['web1', 'passed', 'yes'],
      ['web2', 'failed', 'yes'],
    ])
    // the machine checks ran on the host they belong to
    expect(result(r, 'web1', 'role')!.stdout!.text).toBe(`on ${sshd.hosts[0]}\n`)
    expect(result(r, 'web2', 'role')).toMatchObject({ status: 'failed' })
    expect(result(r, 'web1', 'lint')).toMatchObject({ status: 'passed' })
    expect(result(r, 'web1', 'lint')!.stdout!.text).toBe('local\n')
    // the unreachable host: one errored step with ssh's own words, its machine checks skipped
    const refused = `ssh: connect to host 127.0.0.1 port ${deadPort}: Connection refused`
    expect(result(r, 'db1', 'reachable')).toMatchObject({ status: 'errored', kind: 'Unreachable', message: refused })
    expect(result(r, 'db1', 'role')).toMatchObject({ status: 'skipped', skip: 'unreachable', message: `host unreachable: ${refused}` })
    expect(result(r, 'db1', 'lint')!.status).toBe('passed')
    expect(r.hosts.find((h) => h.name === 'db1')).toMatchObject({ unreachableReason: refused, summary: { unreachable: 4 } })
    // four machine checks on each reachable host, one connection each (ControlMaster)
    const accepted = (await sshd.log()).split('\n').filter((l) => l.includes('Accepted publickey')).length - logBefore
    expect(accepted).toBe(2)
    // and one session each: the host's commands share one `sh -s` (not one login shell per check)
    const sessions = (await sshd.log()).split('\n').filter((l) => l.includes('Starting session: command')).length - sessionsBefore
    expect(sessions).toBe(2)

    // JUnit: one suite per host and phase, with the host as hostname; valid under both XSDs
    const xml = join(project.dir, 'r.xml')
    for (const xsd of [XSDS.ant, XSDS.jenkins]) expect(xmllintValidate([xml], xsd).status).toBe(0)
    expect(xpath(xml, 'string(//testsuite[@name="web2/health"]/@hostname)')).toBe('web2')
    expect(xpath(xml, 'count(//testsuite[@name="web2/health"]/testcase/failure)')).toBe('1')
    expect(xpath(xml, 'count(//testsuite[@name="db1/health"]/testcase/error)')).toBe('1')
    // TAP: one point per host and check; prove fails the run exactly as the exit code does
    const tap = readFileSync(join(project.dir, 'r.tap'), 'utf8')
    expect(tap).toMatch(/^not ok \d+ - web2 role/m)
    expect(tap).toMatch(/^ok \d+ - web1 role/m)
    expect(proveRun(tap).status).not.toBe(0)
    // the pretty table names the unreachable host's reason
    const pretty = await nbs(['check', '--on', 'db1'], { cwd: project.dir })
    expect(pretty.stdout).toMatch(/db1\s+1\s+0\s+4\s+1\s+ssh: connect to host 127\.0\.0\.1 port \d+: Connection refused/)
  })

  real.it('selects like colmena: name globs and @tag globs, OR; an item that matches nothing is exit 3', async () => {
    const res = await nbs(['check', '--on', '@can*,db1', '--reporter', 'json:sel.json'], { cwd: project.dir })
    expect(report('sel.json').hosts.map((h) => h.name)).toEqual(['db1', 'web2'])
    expect(res.exitCode).toBe(1)
    const none = await nbs(['check', '--on', 'web*,@nosuchtag'], { cwd: project.dir })
    expect(none.exitCode).toBe(3)
    expect(none.stderr).toContain('@nosuchtag')
    expect(none.stderr).not.toMatch(/\n\s+at /)
  })

  real.it('a targetHost ssh would read as an option is refused before anything runs', async () => {
    const canary = join(project.dir, 'pwned')
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false, hosts: { evil: { targetHost: `-oProxyCommand=touch ${canary}` } } }),
      'checks/x.check.json': jsonCheck({ id: 'x', phase: 'health', command: ['true'] }),
    })
    try {
      const res = await nbs(['check', '--on', 'evil'], { cwd: p.dir })
      expect(res.exitCode).toBe(3)
      expect(res.stderr).toMatch(/hosts\.evil\.targetHost.*no leading "-"/)
      expect(existsSync(canary)).toBe(false)
    } finally {
      p.cleanup()
    }
  })

  real.it('--allow-unreachable: the unreachable host is reported and skipped, and the run passes', async () => {
    const res = await nbs(['check', '--on', 'web1,db1', '--allow-unreachable', '--reporter', 'json:allow.json', '--reporter', 'junit:allow.xml'], { cwd: project.dir })
    expect(res.exitCode, res.stdout).toBe(0)
    const r = report('allow.json')
    expect(r.status).toBe('passed')
    expect(result(r, 'db1', 'reachable')).toMatchObject({ status: 'skipped', skip: 'unreachable' })
    expect(result(r, 'db1', 'reachable')!.message).toContain('Connection refused')
    // no CI consumer sees a failure where nbs exits 0
    const xml = join(project.dir, 'allow.xml')
    expect(xpath(xml, 'count(//failure|//error)')).toBe('0')
  })

  real.it('--parallel 1 checks one host after the other; the default checks them at once', async () => {
    await nbs(['check', '--on', 'web*', '--parallel', '1', '--reporter', 'json:p1.json'], { cwd: project.dir })
    const spans = (r: RunReport, host: string) => {
      const own = r.phases.flatMap((p) => p.checks).filter((c) => c.host === host && c.startedAt)
      return { start: Math.min(...own.map((c) => Date.parse(c.startedAt!))), end: Math.max(...own.map((c) => Date.parse(c.startedAt!) + c.durationMs)) }
    }
    const one = report('p1.json')
    const [a, b] = [spans(one, 'web1'), spans(one, 'web2')]
    expect(b.start).toBeGreaterThanOrEqual(a.end - 5)
    await nbs(['check', '--on', 'web*', '--reporter', 'json:p10.json'], { cwd: project.dir })
    const all = report('p10.json')
    const [c, d] = [spans(all, 'web1'), spans(all, 'web2')]
    expect(d.start).toBeLessThan(c.end)
    const bad = await nbs(['check', '--on', 'web*', '--parallel', 'two'], { cwd: project.dir })
    expect(bad.exitCode).toBe(3)
  })

  real.it('a hanging remote command is killed at its timeout, on the host, with nothing left running', async () => {
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false, hosts: { web1: hostsConfig().web1 } }),
      'checks/hang.check.json': jsonCheck({ id: 'hang', phase: 'health', timeout: '1s', command: ['sh', '-c', `sleep 300; : ${MARKER}`] }),
    })
    try {
      const res = await nbs(['check', '--on', 'web1', '--reporter', 'json:h.json'], { cwd: p.dir })
      expect(res.exitCode).toBe(1)
      const r = JSON.parse(readFileSync(join(p.dir, 'h.json'), 'utf8')) as RunReport
      expect(result(r, 'web1', 'hang')).toMatchObject({ status: 'errored', kind: 'Timeout' })
      // the remote shell and its sleep are gone (the "remote" host is this machine)
      const { execa } = await import('execa')
      const left = await execa('pgrep', ['-f', MARKER], { reject: false })
      expect(left.stdout.trim()).toBe('')
    } finally {
      p.cleanup()
    }
  })

  real.it('a programmatic machine check runs ctx.exec and reads ctx.machine on the host, ctx.localExec here', async () => {
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false, hosts: { web2: hostsConfig().web2 } }),
      'checks/probe.check.ts': `import { defineCheck } from 'nbs'
export default defineCheck({
  id: 'probe',
  phase: 'health',
  async run(ctx) {
    const there = await ctx.exec('sh', ['-c', 'printf %s "$NBS_TEST_HOST"'])
    const here = await ctx.localExec('sh', ['-c', 'printf %s "\${NBS_TEST_HOST:-here}"'])
    const uptime = await ctx.machine.readFile('/proc/uptime')
    return { message: [there.stdout.text, here.stdout.text, ctx.machine.description, uptime ? 'read' : 'missing'].join(' ') }
  },
})
`,
    })
    try {
      const res = await nbs(['check', '--on', 'web2', '--reporter', 'json:x.json'], { cwd: p.dir })
      expect(res.exitCode, res.stderr + res.stdout).toBe(0)
      const r = JSON.parse(readFileSync(join(p.dir, 'x.json'), 'utf8')) as RunReport
      expect(result(r, 'web2', 'probe')!.message).toBe(`${sshd.hosts[1]} here ssh ${sshd.hosts[1]} read`)
    } finally {
      p.cleanup()
    }
  })

  real.it('without --on, a host the config gives a targetHost is checked over ssh, as before otherwise', async () => {
    const res = await nbs(['check', '--host', 'web1', '--reporter', 'json:one.json'], { cwd: project.dir })
    const r = report('one.json')
    expect(r).toMatchObject({ fleet: false, host: 'web1' })
    expect(result(r, 'web1', 'role')!.stdout!.text).toBe(`on ${sshd.hosts[0]}\n`)
    expect(res.exitCode).toBe(0)
    // the config shared by every host (a timer on each): this machine's own entry is read here,
    // and a mounted root is read where it is mounted, whatever targetHost the config gives
    const here = hostname()
    const shared = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false, hosts: { [here]: { targetHost: 'root@127.0.0.1', port: deadPort }, web1: hostsConfig().web1 } }),
      'checks/kernel.check.json': jsonCheck({ id: 'kernel', phase: 'health', command: ['uname', '-s'] }),
    })
    try {
      const own = await nbs(['check', '--reporter', 'json:own.json'], { cwd: shared.dir })
      expect(own.exitCode, own.stdout).toBe(0)
      const ownReport = JSON.parse(readFileSync(join(shared.dir, 'own.json'), 'utf8')) as RunReport
      expect(ownReport.hosts[0]).toMatchObject({ name: here, target: 'this machine' })
      expect(result(ownReport, here, 'reachable')).toBeUndefined()
      const mounted = await nbs(['check', '--host', 'web1', '--root', shared.dir, '--reporter', 'json:m.json'], { cwd: shared.dir })
      const mountedReport = JSON.parse(readFileSync(join(shared.dir, 'm.json'), 'utf8')) as RunReport
      expect(mountedReport.hosts[0]!.target).toBe(`root ${shared.dir}`)
      expect(result(mountedReport, 'web1', 'reachable')).toBeUndefined()
      expect(mounted.exitCode).toBe(0)
    } finally {
      shared.cleanup()
    }
    // a single-host JUnit keeps its suite names (Jenkins and GitLab keep their history)
    const j = await nbs(['check', '--host', 'web1', '--reporter', 'junit:one.xml'], { cwd: project.dir })
    expect(j.exitCode).toBe(0)
    expect(xpath(join(project.dir, 'one.xml'), 'string(//testsuite[1]/@name)')).toBe('pre-build')
  })
})

real.describe('nbs status --on: one row per host', () => {
  real.it('reads every host over ssh; the exit code is the worst host, an unreachable host counts unless allowed', async () => {
    const res = await nbs(['status', '--on', 'web1,db1', '--json'], { cwd: project.dir })
    const s = JSON.parse(res.stdout) as FleetStatus
    expect(s.hosts.map((h) => [h.name, h.state])).toEqual([
      ['db1', 'unreachable'],
      ['web1', 'reported'],
    ])
    expect(s.hosts[0]!.reason).toContain('Connection refused')
    // what web1 reports was read there: its host name is sshd's machine, reached over ssh
    expect(s.hosts[1]!.report!.host).toMatchObject({ name: 'web1', local: true })
    expect(s.hosts[1]!.report!.host.reason).toContain('reached over ssh')
    expect(res.exitCode).toBe(1)
    const allowed = await nbs(['status', '--on', 'web1,db1', '--allow-unreachable'], { cwd: project.dir })
    expect(allowed.stdout).toMatch(/^HOST\s+RUNNING\s+PROFILE\s+SYNC/m)
    expect(allowed.stdout).toMatch(/^db1\s.*unreachable$/m)
    expect(allowed.stdout).toContain('db1: ssh: connect to host 127.0.0.1')
    // sshd's machine is Debian, not NixOS: never "healthy and in sync", units never claimed as 0
    expect(allowed.stdout).toMatch(/^web1\s.*not read\s+not read\s+—\s+not NixOS$/m)
    expect(allowed.stdout).toContain('0 of 2 hosts healthy; 1 unreachable')
    expect(allowed.exitCode).toBe(1)
    const none = await nbs(['status', '--on', 'nothing*'], { cwd: project.dir })
    expect(none.exitCode).toBe(3)
    // without --on, status reads this machine, and says how to read the host the config targets
    const here = await nbs(['status', '--host', 'web1', '--json'], { cwd: project.dir })
    expect(JSON.parse(here.stdout).host.reason).toMatch(/^web1 is not this machine \(.*\); it has a targetHost: --on web1 reads it over ssh$/)
  })
})
