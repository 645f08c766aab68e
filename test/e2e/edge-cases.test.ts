import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, ISOLATED_CONFIG, makeProject, nbs, pidsMatching } from '../helpers/project.js'

const projects: { cleanup(): void }[] = []
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))
const project = (files: Record<string, string>) => {
  const p = makeProject({ 'nbs.config.json': ISOLATED_CONFIG, ...files })
  projects.push(p)
  return p.dir
}

describe('edge cases found in review', () => {
  it('a reader that closes early (| head) neither crashes nbs nor costs the file reports', async () => {
    const dir = project({ 'checks/a.check.json': JSON.stringify(Array.from({ length: 30 }, (_, i) => ({ id: `c${i}`, command: ['true'] }))) })
    const r = await execa('sh', ['-c', `"${process.execPath}" "${CLI}" check --reporter tap --reporter junit:r.xml | head -1`], { cwd: dir, reject: false })
    expect(r.stdout).toBe('TAP version 13')
    expect(r.stderr).not.toMatch(/EPIPE|at /)
    expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toContain('<testsuites>')
  })

  it('a run() returning an unknown status is errored, never a pass', async () => {
    const dir = project({ 'checks/a.check.mjs': `export default { id: 'typo', run: () => ({ status: 'fail', message: 'disk full' }) }\n` })
    const r = await nbs(['check', '--reporter', 'json'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    expect(JSON.parse(r.stdout).phases.at(-1).checks[0]).toMatchObject({ status: 'errored', kind: 'Exception', message: expect.stringContaining('returned status "fail"') })
  })

  it('--flake REF#host names the host for check, and relative --flake/--root start at the working directory', async () => {
    // a machine check: the root's /etc/hostname says it is web
    const dir = project({ 'checks/a.check.mjs': `export default { id: 'where', run: (ctx) => ({ message: ctx.host + ' ' + ctx.flake + ' ' + ctx.root }) }\n`, 'etc/hostname': 'web\n' })
    const r = await nbs(['check', '--reporter', 'json', '--flake', './sub#web', '--root', '.'], { cwd: dir })
    expect(JSON.parse(r.stdout).phases.at(-1).checks[0].message).toBe(`web ${join(dir, 'sub')} ${dir}`)
    const bad = await nbs(['check', '--root', 'missing'], { cwd: dir })
    expect(bad.exitCode).toBe(3)
    expect(bad.stderr).toContain('--root missing: not a directory')
  })

  it('a numeric host name stays the name: checks see "42", and deciding whether 42 is this machine does not crash the run', async () => {
    const dir = project({ 'checks/a.check.mjs': `export default [{ id: 'name', runsOn: 'local', run: (ctx) => ({ message: typeof ctx.host + ' ' + ctx.host }) }, { id: 'on-host', run: () => ({}) }]\n` })
    const r = await nbs(['check', '--reporter', 'json', '--host', '42', '--flake', dir], { cwd: dir })
    expect(r.stderr).toBe('')
    const checks = JSON.parse(r.stdout).phases.at(-1).checks
    expect(checks[0]).toMatchObject({ id: 'name', status: 'passed', message: 'string 42' })
    expect(checks[1]).toMatchObject({ id: 'on-host', status: 'skipped', skip: 'not-this-machine', message: expect.stringMatching(/^42 is not this machine/) })
  })

  it('two reports to one file, or a report to a directory, are refused before anything runs', async () => {
    const dir = project({ 'checks/a.check.json': JSON.stringify({ id: 'marker', command: ['touch', 'ran'] }) })
    const same = await nbs(['check', '--reporter', 'json:r.out', '--reporter', 'junit:r.out'], { cwd: dir })
    expect(same.exitCode).toBe(3)
    expect(same.stderr).toContain('json:r.out writes the same file')
    const directory = await nbs(['check', '--reporter', 'junit:.'], { cwd: dir })
    expect(directory.exitCode).toBe(3)
    expect(directory.stderr).toContain('is a directory')
    expect(existsSync(join(dir, 'ran'))).toBe(false)
  })

  it('a zero timeout is a config error; a timeout beyond what a timer can hold still waits', async () => {
    const zero = project({ 'checks/a.check.json': JSON.stringify({ id: 'z', timeout: 0, command: ['true'] }) })
    const r = await nbs(['check'], { cwd: zero })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('timeout: a timeout must be longer than 0')
    const long = project({ 'checks/a.check.json': JSON.stringify({ id: 'l', timeout: '30d', command: ['true'] }) })
    const ok = await nbs(['check', '--reporter', 'json'], { cwd: long })
    expect(ok.stderr).not.toContain('TimeoutOverflowWarning')
    expect(JSON.parse(ok.stdout).phases.at(-1).checks[0].status).toBe('passed')
  })

  it('a grandchild that escaped with setsid is killed when the run ends', async () => {
    const marker = `7${process.pid}3`
    const dir = project({ 'checks/a.check.json': JSON.stringify({ id: 'escape', command: ['sh', '-c', `setsid sleep ${marker} >/dev/null 2>&1 & exit 0`] }) })
    const r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(0)
    await sleep(100)
    expect(await pidsMatching(`sleep ${marker}`)).toEqual([])
  })

  it('a helper module without a default export in plugins/ is not taken for a plugin', async () => {
    const dir = project({
      'plugins/util.mjs': `export const fmt = (s) => '[' + s + ']'\n`,
      'plugins/team.mjs': `import { fmt } from './util.mjs'\nexport default { name: 'team', checks: [{ id: 'x', run: () => ({ message: fmt('ok') }) }] }\n`,
    })
    const r = await nbs(['check', '--reporter', 'json'], { cwd: dir })
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout).phases.at(-1).checks[0]).toMatchObject({ id: 'team/x', message: '[ok]' })
  })

  it('nbs exits as soon as the reports are written, even when a timed-out run() is still pending', async () => {
    const dir = project({ 'checks/a.check.mjs': `export default { id: 'slow', timeout: 200, run: () => new Promise((r) => setTimeout(r, 20000)) }\n` })
    const t0 = Date.now()
    const r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    expect(Date.now() - t0).toBeLessThan(8000)
  })

  it.skipIf(process.getuid?.() !== 0)('as root, compiled TS is cached only in a private folder; a planted one is not used', async () => {
    const dir = project({ 'checks/a.check.ts': `export default { id: 'ts', run: () => ({ message: 'compiled' }) }\n` })
    const tmp = join(dir, 'tmp')
    mkdirSync(tmp)
    const ok = await nbs(['check', '--reporter', 'json'], { cwd: dir, env: { TMPDIR: tmp } })
    expect(JSON.parse(ok.stdout).phases.at(-1).checks[0].message).toBe('compiled')
    const cache = join(tmp, 'nbs-jiti-0')
    expect(statSync(cache).mode & 0o777).toBe(0o700)
    expect(readdirSync(cache).length).toBeGreaterThan(0)
    // another user's folder at that name is never read or written
    const planted = join(dir, 'tmp2')
    mkdirSync(join(planted, 'nbs-jiti-0'), { recursive: true, mode: 0o777 })
    chownSync(join(planted, 'nbs-jiti-0'), 65534, 65534)
    const r = await nbs(['check', '--reporter', 'json'], { cwd: dir, env: { TMPDIR: planted } })
    expect(JSON.parse(r.stdout).phases.at(-1).checks[0].message).toBe('compiled')
    expect(readdirSync(join(planted, 'nbs-jiti-0'))).toEqual([])
  })
})
