import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { proveParse } from '../helpers/consumers.js'
import { makeProject, nbs, REPO_ROOT } from '../helpers/project.js'

const projects: { cleanup(): void }[] = []
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))
const project = (files: Record<string, string>) => {
  const p = makeProject({ 'nbs.config.json': JSON.stringify({ builtins: false }), ...files })
  projects.push(p)
  return p.dir
}
const results = (stdout: string) =>
  Object.fromEntries(JSON.parse(stdout).phases.flatMap((p: { checks: { id: string }[] }) => p.checks).map((c: { id: string }) => [c.id, c]))

/** A plugin that records every hook call (with its plugin name) into hooks.log next to the project. */
const recorder = (name: string, extra = '') => `import { appendFileSync } from 'node:fs'
import { definePlugin, defineCheck, z } from 'nbs'
const log = (line: string) => appendFileSync(new URL('../hooks.log', import.meta.url), line + '\\n')
export default definePlugin({
  name: '${name}',
  options: z.object({ greeting: z.string().default('hello') }),
  checks: [defineCheck({ id: 'greets', run: (ctx) => ({ message: String((ctx.pluginOptions as { greeting: string }).greeting) }) })],
  hooks: {
    onRunStart: (run, ctx) => log(ctx.name + ' start ' + run.total),
    onCheckEnd: (r, ctx) => log(ctx.name + ' end ' + r.id),
    onRunEnd: (report, ctx) => log(ctx.name + ' done ' + report.status),
  },
  ${extra}
})
`

describe('plugins', () => {
  it('loads a plugin from plugins/: its checks are plugin/id, options come from config and are validated', async () => {
    const dir = project({ 'plugins/team.ts': recorder('team') })
    const r = await nbs(['check', '--reporter', 'json'], { cwd: dir })
    expect(r.stderr).toBe('')
    expect(results(r.stdout)['team/greets']).toMatchObject({ status: 'passed', message: 'hello' })

    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false, plugins: [['./plugins/team.ts', { greeting: 'moin' }]] }))
    expect(results((await nbs(['check', '--reporter', 'json'], { cwd: dir })).stdout)['team/greets'].message).toBe('moin')

    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false, plugins: [['./plugins/team.ts', { greeting: 42 }]] }))
    const bad = await nbs(['check'], { cwd: dir })
    expect(bad.exitCode).toBe(3)
    expect(bad.stderr).toMatch(/^nbs check: plugin team \(plugins\/team\.ts\): options\.greeting: .*string/)
    expect(bad.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('nbs list shows each check with its plugin', async () => {
    const dir = project({ 'plugins/team.ts': recorder('team'), 'plugins/team/checks/ping.check.json': JSON.stringify({ id: 'ping', needs: ['greets'], command: ['true'] }) })
    // plugins/team.ts and plugins/team/ both say "team": the file is the module, the folder its check files
    const list = JSON.parse((await nbs(['list', '--json'], { cwd: dir })).stdout)
    expect(list.checks.map((c: { id: string; plugin?: string; needs: string[] }) => [c.id, c.plugin, c.needs])).toEqual([
      ['team/ping', 'team', ['team/greets']],
      ['team/greets', 'team', []],
    ])
    expect((await nbs(['list'], { cwd: dir })).stdout).toMatch(/team\/greets .*plugin: team · plugins\/team\.ts/)
  })

  it('loads a plugin from an npm package in the project node_modules, as a factory called with its options', async () => {
    const dir = project({
      'node_modules/nbs-plugin-acme/package.json': JSON.stringify({ name: 'nbs-plugin-acme', type: 'module', exports: { '.': './index.js' } }),
      'node_modules/nbs-plugin-acme/index.js': `export default (options) => ({ name: 'acme', checks: [{ id: 'site', command: ['sh', '-c', 'echo ' + options.site] , expect: { stdout: { contains: options.site } } }] })\n`,
      'nbs.config.json': JSON.stringify({ builtins: false, plugins: [['nbs-plugin-acme', { site: 'example.org' }]] }),
    })
    const r = await nbs(['check', '--reporter', 'json'], { cwd: dir })
    expect(r.stderr).toBe('')
    expect(results(r.stdout)['acme/site']).toMatchObject({ status: 'passed', stdout: { text: 'example.org\n' } })
    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false, plugins: ['nbs-plugin-missing'] }))
    const missing = await nbs(['check'], { cwd: dir })
    expect(missing.exitCode).toBe(3)
    expect(missing.stderr).toContain('nbs.config.json: plugins[0]: cannot find package "nbs-plugin-missing"')
  })

  it('a plugin reporter gets the same events as the built-ins and writes its file', async () => {
    const dir = project({
      'plugins/csv.ts': `import { definePlugin } from 'nbs'
export default definePlugin({ name: 'csv', reporters: { table: ({ sink }) => {
  const rows = []
  return {
    onRunStart: (run) => rows.push('total,' + run.total),
    onCheckEnd: (r) => rows.push(r.id + ',' + r.status),
    onRunEnd: (report) => sink.write([...rows, 'status,' + report.status].join('\\n') + '\\n'),
  }
} } })
`,
      'checks/a.check.json': JSON.stringify([{ id: 'ok', command: ['true'] }, { id: 'no', command: ['false'] }]),
    })
    const r = await nbs(['check', '--reporter', 'csv/table:out.csv', '--reporter', 'tap'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    const csv = readFileSync(join(dir, 'out.csv'), 'utf8').trim().split('\n')
    expect(csv[0]).toBe('total,2')
    expect(csv.slice(1, 3).sort()).toEqual(['no,failed', 'ok,passed'])
    expect(csv[3]).toBe('status,failed')
    const [tap] = proveParse([r.stdout])
    expect(tap!.failed).toBe(1)
    const unknown = await nbs(['check', '--reporter', 'csv/nope'], { cwd: dir })
    expect(unknown.stderr).toContain('available: pretty, tap, tap14, junit, json, github, gitlab, prometheus, csv/table')
  })

  it('runs hooks in plugin order, before the reporters, for every event', async () => {
    const dir = project({ 'plugins/a-first.ts': recorder('a-first'), 'plugins/b-second.ts': recorder('b-second') })
    const r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(0)
    const log = readFileSync(join(dir, 'hooks.log'), 'utf8').trim().split('\n')
    expect(log[0]).toBe('a-first start 2')
    expect(log[1]).toBe('b-second start 2')
    expect(log.slice(2, 6)).toHaveLength(4)
    for (let i = 2; i < 6; i += 2) expect([log[i]!.split(' ')[0], log[i + 1]!.split(' ')[0]]).toEqual(['a-first', 'b-second'])
    expect(log.slice(-2)).toEqual(['a-first done passed', 'b-second done passed'])
  })

  it("a throwing hook is a warning naming the plugin; the reports are still written and the exit code is the checks'", async () => {
    const dir = project({
      'plugins/flaky.ts': `import { definePlugin } from 'nbs'\nexport default definePlugin({ name: 'flaky', hooks: { onRunEnd() { throw new Error('webhook unreachable') } } })\n`,
      'checks/a.check.json': JSON.stringify({ id: 'ok', command: ['true'] }),
    })
    const r = await nbs(['check', '--reporter', 'json:r.json', '--reporter', 'junit:r.xml'], { cwd: dir })
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toBe('nbs: warning: plugin flaky (onRunEnd): webhook unreachable')
    expect(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).summary.passed).toBe(1)
    expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toContain('<testcase')
  })

  it('rejects a name clash, a wrong shape and a folder whose plugin has another name, with exit 3', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ 'plugins/one.ts': recorder('same'), 'plugins/two.ts': recorder('same') }, 'two plugins are named "same": plugins/one.ts and plugins/two.ts'],
      [{ 'plugins/bad.ts': `export default { name: 'bad', checks: 'nope' }` }, 'plugin plugins/bad.ts: checks: '],
      [{ 'plugins/anon.ts': `export default { checks: [] }` }, 'plugin plugins/anon.ts: name: '],
      [{ 'plugins/disk/index.ts': recorder('storage') }, 'plugin plugins/disk/index.ts is named "storage" but lives in plugins/disk/'],
      [{ 'plugins/throws.ts': `export default () => { throw new Error('no token') }` }, 'plugin plugins/throws.ts: its factory threw: no token'],
    ]
    for (const [files, message] of cases) {
      const r = await nbs(['check'], { cwd: project(files) })
      expect(r.exitCode, message).toBe(3)
      expect(r.stderr).toContain(message)
    }
  })

  it.skipIf(process.getuid?.() !== 0)('as root, refuses plugin, check and config files others could change, naming the fix', async () => {
    const dir = project({ 'plugins/team.ts': recorder('team'), 'checks/a.check.json': JSON.stringify({ id: 'a', command: ['true'] }) })
    chmodSync(join(dir, 'plugins/team.ts'), 0o666)
    let r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain(`refusing plugin plugins/team.ts: writable by group or others (mode 0666) while running as root; fix: chmod go-w ${join(dir, 'plugins/team.ts')}`)
    chmodSync(join(dir, 'plugins/team.ts'), 0o644)
    chownSync(join(dir, 'checks/a.check.json'), 65534, 65534)
    r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain(`refusing check file checks/a.check.json: owned by uid 65534, not root, while running as root; fix: chown root ${join(dir, 'checks/a.check.json')}`)
    chownSync(join(dir, 'checks/a.check.json'), 0, 0)
    chmodSync(join(dir, 'checks'), 0o777)
    r = await nbs(['check'], { cwd: dir })
    expect(r.stderr).toContain("refusing check file checks/a.check.json's folder")
    chmodSync(join(dir, 'checks'), 0o755)
    chmodSync(join(dir, 'nbs.config.json'), 0o664)
    r = await nbs(['check'], { cwd: dir })
    expect(r.stderr).toContain('refusing config nbs.config.json: writable by group or others (mode 0664)')
    chmodSync(join(dir, 'nbs.config.json'), 0o644)
    expect((await nbs(['check'], { cwd: dir })).exitCode).toBe(0)
  })
})

describe('the example plugins in plugins/', () => {
  it('disk checks free space and inodes against thresholds from its options', async () => {
    const dir = project({ 'nbs.config.json': JSON.stringify({ builtins: false, plugins: [join(REPO_ROOT, 'plugins/disk')] }) })
    const ok = results((await nbs(['check', '--reporter', 'json', '--skip', 'disk/gc-dead'], { cwd: dir })).stdout)
    expect(ok['disk/free-space']).toMatchObject({ status: 'passed', message: expect.stringMatching(/^\/ [\d.]+% free \(/) })
    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false, plugins: [[join(REPO_ROOT, 'plugins/disk'), { minFreePercent: 100, paths: ['/'] }]] }))
    const r = await nbs(['check', '--reporter', 'json', '--only', 'disk/free-space'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    expect(results(r.stdout)['disk/free-space'].message).toMatch(/^\/ [\d.]+% free \(.*\); want at least 100%$/)
  })

  it('markdown writes a summary table', async () => {
    const dir = project({
      'nbs.config.json': JSON.stringify({ builtins: false, plugins: [join(REPO_ROOT, 'plugins/markdown')] }),
      'checks/a.check.json': JSON.stringify([{ id: 'good', command: ['true'] }, { id: 'bad|pipe', command: ['false'] }].slice(0, 1).concat([{ id: 'bad', command: ['sh', '-c', 'exit 4'] }])),
    })
    await nbs(['check', '--reporter', 'markdown/summary:summary.md'], { cwd: dir })
    const md = readFileSync(join(dir, 'summary.md'), 'utf8')
    expect(md).toMatch(/^## nbs check: ❌ failed$/m)
    expect(md).toContain('| ✅ | `good` | health |')
    expect(md).toContain('| ❌ | `bad` | health | failed: exit code 4, expected 0 |')
    expect(existsSync(join(dir, 'summary.md'))).toBe(true)
  })
})

void mkdirSync
