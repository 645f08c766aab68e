import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ISOLATED_CONFIG, jsonCheck, makeProject, nbs } from '../helpers/project.js'

const projects: { cleanup(): void }[] = []
const project = (files: Record<string, string>) => {
  const p = makeProject(files)
  projects.push(p)
  return p.dir
}
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))

/** A check that leaves a file behind when it runs: proves whether anything ran. */
const markerCheck = (dir: string) => jsonCheck({ id: 'marker', command: ['touch', join(dir, 'ran')] })

describe('nbs CLI basics', () => {
  it('prints its version and help, for the program and each command', async () => {
    const dir = project({})
    const version = await nbs(['--version'], { cwd: dir })
    expect(version.exitCode).toBe(0)
    expect(version.stdout).toMatch(/^nbs\/\d+\.\d+\.\d+$/)
    const help = await nbs(['--help'], { cwd: dir })
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toContain('check')
    expect(help.stdout).toContain('list')
    const checkHelp = await nbs(['check', '--help'], { cwd: dir })
    expect(checkHelp.stdout).toContain('--reporter')
    expect(checkHelp.stdout).toContain('--concurrency')
    expect((await nbs(['list', '--help'], { cwd: dir })).stdout).toContain('--json')
  })

  it('rejects an unknown flag, a bad value and an unknown command with one line and exit 3', async () => {
    const dir = project({ 'nbs.config.json': ISOLATED_CONFIG })
    for (const args of [['check', '--nope'], ['check', '--concurrency', 'many'], ['check', '--fail-on', 'maybe'], ['frobnicate']]) {
      const r = await nbs(args, { cwd: dir })
      expect(r.exitCode, args.join(' ')).toBe(3)
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
    expect((await nbs(['check', '--nope'], { cwd: dir })).stderr).toContain('--nope')
  })
})

describe('config', () => {
  it('loads nbs.config.ts importing from "nbs" in a project without node_modules', async () => {
    const dir = project({
      'nbs.config.ts': `import { defineConfig } from 'nbs'\nconst phases: string[] = ['only']\nexport default defineConfig({ builtins: false, phases, hosts: { box: { local: true } }, options: { typed: { greeting: 'hi' } } })\n`,
      'checks/typed.check.ts': `import { defineCheck, z } from 'nbs'\nexport default defineCheck({ id: 'typed', phase: 'only', options: z.object({ greeting: z.string() }), run: (ctx) => ({ message: ctx.options.greeting + ' ' + ctx.host }) })\n`,
    })
    const r = await nbs(['check', '--host', 'box', '--reporter', 'json'], { cwd: dir })
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.phases[0].name).toBe('only')
    expect(report.phases[0].checks[0]).toMatchObject({ id: 'typed', status: 'passed', message: 'hi box' })
  })

  it('accepts plain export default objects in .mjs and .json configs, and --config', async () => {
    const dir = project({
      'nbs.config.mjs': `export default { builtins: false, disable: ['marker'] }\n`,
      'other.json': JSON.stringify({ builtins: false }),
      'checks/marker.check.json': jsonCheck({ id: 'marker', command: ['true'] }),
    })
    const viaMjs = JSON.parse((await nbs(['check', '--reporter', 'json'], { cwd: dir })).stdout)
    expect(viaMjs.phases.at(-1).checks[0]).toMatchObject({ status: 'skipped', message: 'disabled in config' })
    const viaFlag = JSON.parse((await nbs(['check', '--config', 'other.json', '--reporter', 'json'], { cwd: dir })).stdout)
    expect(viaFlag.phases.at(-1).checks[0].status).toBe('passed')
  })

  it('names the file and the field of an invalid config, exit 3, nothing run', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'nbs.config.ts': `export default { concurrency: 'lots' }` }, /^nbs check: nbs\.config\.ts: concurrency: .*number/],
      [{ 'nbs.config.json': `{ "phases": ["a", "a"] }` }, /nbs\.config\.json: phases: phases must be unique/],
      [{ 'nbs.config.json': `{ "flakes": "." }` }, /nbs\.config\.json: .*flakes/],
      [{ 'nbs.config.json': `{ "builtins": false, ` }, /nbs\.config\.json: invalid JSON/],
      [{ 'nbs.config.ts': `export default {{` }, /nbs\.config\.ts: failed to load/],
      [{ 'nbs.config.ts': `throw new Error('no config for you')` }, /nbs\.config\.ts: failed to load: no config for you/],
    ]
    for (const [files, message] of cases) {
      const dir = project(files)
      const r = await nbs(['check'], { cwd: dir })
      expect(r.exitCode, Object.keys(files)[0]).toBe(3)
      expect(r.stderr).toMatch(message)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
    const dir = project({})
    const missing = await nbs(['check', '--config', 'nope.ts'], { cwd: dir })
    expect(missing.exitCode).toBe(3)
    expect(missing.stderr).toContain('--config nope.ts: no such file')
  })
})

describe('check files', () => {
  it('stops before running anything when a check file is broken, naming it', async () => {
    const broken: [string, string, RegExp][] = [
      ['checks/syntax.check.ts', `export default defineCheck({ id: 'x',, })`, /checks\/syntax\.check\.ts: failed to load/],
      ['checks/throws.check.mjs', `throw new Error('kaboom')`, /checks\/throws\.check\.mjs: failed to load: kaboom/],
      ['checks/shape.check.json', jsonCheck({ id: 'Bad Id', command: ['true'] }), /checks\/shape\.check\.json: id: kebab-case/],
      ['checks/both.check.ts', `export default { id: 'both', command: ['true'], run() {} }`, /checks\/both\.check\.ts: a check needs exactly one of "command" or "run"/],
      ['checks/arr.check.json', JSON.stringify([{ id: 'ok', command: ['true'] }, { id: 'bad', command: [] }]), /checks\/arr\.check\.json: \[1\]\.command: /],
      ['checks/json.check.json', `{ "id": `, /checks\/json\.check\.json: invalid JSON/],
      ['checks/none.check.ts', `export const x = 1`, /checks\/none\.check\.ts: has no default export/],
    ]
    for (const [file, content, message] of broken) {
      const dir = project({ 'nbs.config.json': ISOLATED_CONFIG, [file]: content })
      projects.at(-1)!
      const withMarker = join(dir, 'checks/marker.check.json')
      const { writeFileSync } = await import('node:fs')
      writeFileSync(withMarker, markerCheck(dir))
      const r = await nbs(['check'], { cwd: dir })
      expect(r.exitCode, file).toBe(3)
      expect(r.stderr, file).toMatch(message)
      expect(existsSync(join(dir, 'ran')), `${file}: nothing may run`).toBe(false)
    }
  })

  it('rejects duplicate ids and dependency cycles with exit 3', async () => {
    const dup = project({
      'nbs.config.json': ISOLATED_CONFIG,
      'checks/a.check.json': jsonCheck({ id: 'same', command: ['true'] }),
      'checks/b.check.json': jsonCheck({ id: 'same', command: ['true'] }),
    })
    const r1 = await nbs(['check'], { cwd: dup })
    expect(r1.exitCode).toBe(3)
    expect(r1.stderr).toContain('duplicate check id "same" in checks/a.check.json and checks/b.check.json')
    const cyc = project({
      'nbs.config.json': ISOLATED_CONFIG,
      'checks/c.check.json': JSON.stringify([
        { id: 'a', needs: ['b'], command: ['true'] },
        { id: 'b', needs: ['c'], command: ['true'] },
        { id: 'c', needs: ['a'], command: ['true'] },
      ]),
    })
    const r2 = await nbs(['check'], { cwd: cyc })
    expect(r2.exitCode).toBe(3)
    expect(r2.stderr).toContain('a → b → c → a')
  })

  it('ignores node_modules and dot folders, and prefixes checks under plugins/<name>/', async () => {
    const dir = project({
      'nbs.config.json': ISOLATED_CONFIG,
      'checks/node_modules/x/bad.check.json': '{ broken',
      'checks/.hidden/bad.check.json': '{ broken',
      'plugins/disk/checks/free.check.json': jsonCheck({ id: 'free', command: ['true'] }),
      'plugins/disk/checks/alert.check.json': jsonCheck({ id: 'alert', needs: ['free'], command: ['true'] }),
    })
    const r = await nbs(['list', '--json'], { cwd: dir })
    expect(r.exitCode).toBe(0)
    const list = JSON.parse(r.stdout)
    expect(list.checks.map((c: { id: string }) => c.id)).toEqual(['disk/alert', 'disk/free'])
    expect(list.checks[0]).toMatchObject({ needs: ['disk/free'], source: 'plugins/disk/checks/alert.check.json', phase: 'health' })
  })
})

describe('running checks', () => {
  const files = (dir?: string) => ({
    'nbs.config.json': ISOLATED_CONFIG,
    'checks/all.check.json': JSON.stringify([
      { id: 'good', phase: 'pre-build', command: ['sh', '-c', 'echo hello'], expect: { stdout: { contains: 'hello' } } },
      { id: 'bad', phase: 'build', needs: ['good'], command: ['sh', '-c', 'echo oops >&2; exit 2'] },
      { id: 'after-bad', phase: 'health', needs: ['bad'], command: ['true'] },
      { id: 'soft', phase: 'health', severity: 'warning', command: ['false'] },
      { id: 'ghost', phase: 'health', command: ['definitely-not-a-command-nbs'] },
      ...(dir ? [] : []),
    ]),
  })

  it('exits 1 when a check fails, with statuses and reasons in the JSON report', async () => {
    const dir = project(files())
    const r = await nbs(['check', '--reporter', 'json'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    const report = JSON.parse(r.stdout)
    const checks = Object.fromEntries(report.phases.flatMap((p: { checks: { id: string }[] }) => p.checks).map((c: { id: string }) => [c.id, c]))
    expect(checks.good).toMatchObject({ status: 'passed' })
    expect(checks.bad).toMatchObject({ status: 'failed', message: 'exit code 2, expected 0', kind: 'CheckFailed' })
    expect(checks.bad.stderr.text).toBe('oops\n')
    expect(checks['after-bad']).toMatchObject({ status: 'skipped', message: 'dependency bad failed' })
    expect(checks.soft).toMatchObject({ status: 'failed', severity: 'warning' })
    expect(checks.ghost).toMatchObject({ status: 'errored', kind: 'CommandNotFound', message: 'command not found: definitely-not-a-command-nbs' })
    expect(report.summary).toEqual({ total: 5, passed: 1, failed: 2, errored: 1, skipped: 1, warnings: 1, notThisMachine: 0, unreachable: 0 })
    expect(report.status).toBe('failed')
    // schemaVersion 2 on a single-host run: its one host listed, every result naming it
    expect(report).toMatchObject({ schemaVersion: 2, fleet: false, hosts: [{ name: report.host, status: 'failed', summary: report.summary }] })
    expect(Object.values(checks).map((c) => (c as { host: string }).host)).toEqual(Array(5).fill(report.host))
  })

  it('passes when only warnings fail, unless --fail-on warning', async () => {
    const dir = project({
      'nbs.config.json': ISOLATED_CONFIG,
      'checks/w.check.json': jsonCheck({ id: 'soft', severity: 'warning', command: ['false'] }),
    })
    expect((await nbs(['check'], { cwd: dir })).exitCode).toBe(0)
    expect((await nbs(['check', '--fail-on', 'warning'], { cwd: dir })).exitCode).toBe(1)
  })

  it('--only, --skip, --phase and --tag choose what runs', async () => {
    const dir = project(files())
    const ran = async (...args: string[]) => {
      const r = await nbs(['check', '--reporter', 'json', ...args], { cwd: dir })
      return JSON.parse(r.stdout).phases.flatMap((p: { checks: { id: string; status: string }[] }) => p.checks.map((c) => `${c.id}:${c.status}`))
    }
    expect(await ran('--only', 'bad')).toEqual(['good:passed', 'bad:failed'])
    expect(await ran('--only', 'after-bad', '--skip', 'bad')).toEqual(['good:passed', 'bad:skipped', 'after-bad:skipped'])
    expect(await ran('--phase', 'pre-build')).toEqual(['good:passed'])
  })

  it('pretty output when piped: one plain line per check and a summary', async () => {
    const dir = project(files())
    const r = await nbs(['check'], { cwd: dir })
    expect(r.stdout).not.toMatch(/\x1b\[/)
    expect(r.stdout).toMatch(/^✓ good/m)
    expect(r.stdout).toMatch(/^✗ bad/m)
    expect(r.stdout).toMatch(/^↓ after-bad .*skipped: dependency bad failed/m)
    expect(r.stdout).toContain('oops')
    expect(r.stdout).toMatch(/Checks\s+1 passed · 2 failed · 1 errored · 1 skipped · 1 warning \(5\)/)
  })

  it('writes report files atomically and keeps pretty on stdout; rejects two stdout reporters and unwritable paths up front', async () => {
    const dir = project(files())
    const r = await nbs(['check', '--reporter', 'junit:r.xml', '--reporter', 'tap:r.tap', '--reporter', 'json:r.json'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain('Checks')
    expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toContain('<testsuites>')
    expect(readFileSync(join(dir, 'r.tap'), 'utf8')).toMatch(/^TAP version 13\n/)
    expect(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).schemaVersion).toBe(2)
    const { readdirSync } = await import('node:fs')
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])

    const two = await nbs(['check', '--reporter', 'tap', '--reporter', 'json:-'], { cwd: dir })
    expect(two.exitCode).toBe(3)
    expect(two.stderr).toContain('both write to stdout')
    const nowhere = await nbs(['check', '--reporter', 'junit:missing/dir/r.xml'], { cwd: dir })
    expect(nowhere.exitCode).toBe(3)
    expect(nowhere.stderr).toContain('does not exist')
    const unknown = await nbs(['check', '--reporter', 'html'], { cwd: dir })
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toContain('unknown reporter "html"; available: pretty, tap, tap14, junit, json')
  })

  it('nbs list shows checks by phase with needs, tags and source', async () => {
    const dir = project(files())
    const r = await nbs(['list'], { cwd: dir })
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/^pre-build \(1\)\n  good\s+\[checks\/all\.check\.json\]/m)
    expect(r.stdout).toMatch(/^  bad\s+\[needs: good · checks\/all\.check\.json\]/m)
    expect(r.stdout).toMatch(/^health \(3\)/m)
  })
})
