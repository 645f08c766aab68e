import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { proveParse } from '../helpers/consumers.js'
import { CLI, nbs, pidsMatching } from '../helpers/project.js'
import { jsonProjects } from '../helpers/json-projects.js'

const project = jsonProjects()
const json = (dir: string, file = 'r.json') => JSON.parse(readFileSync(join(dir, file), 'utf8'))
const lines = (text: string) => text.split('\n').filter(Boolean)
const twoChecks = JSON.stringify([
  { id: 'a', command: ['true'] },
  { id: 'b', command: ['sh', '-c', 'sleep 0.3'] },
])

describe('every run ends with its reports', () => {
  it('a plugin hook that never settles is abandoned after hookTimeout with one warning; every report is written, the exit code is the checks\'', async () => {
    const dir = project(
      {
        'plugins/stuck.ts': `import { definePlugin } from 'nbs'\nexport default definePlugin({ name: 'stuck', hooks: { onCheckEnd: () => new Promise(() => {}) } })\n`,
        'checks/a.check.json': twoChecks,
      },
      { hookTimeout: '1s' },
    )
    const t0 = Date.now()
    const r = await nbs(['check', '--reporter', 'json:r.json', '--reporter', 'junit:r.xml'], { cwd: dir })
    // before: the unref'd deadline let Node exit 13 with neither file written
    expect(r.exitCode).toBe(0)
    expect(Date.now() - t0).toBeLessThan(15_000)
    expect(json(dir).summary).toMatchObject({ total: 2, passed: 2 })
    expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toMatch(/<testsuite [^>]* tests="2" failures="0"/)
    expect(lines(r.stderr)).toEqual(['nbs: warning: plugin stuck (onCheckEnd): did not finish within 1s; abandoned'])
  })

  it('a reporter that hangs at the end is abandoned: its file is not written, the others are, exit 70', async () => {
    const dir = project(
      {
        'plugins/slow.ts': `import { definePlugin } from 'nbs'
export default definePlugin({ name: 'slow', reporters: { hang: ({ sink }) => ({ onRunEnd: () => { sink.write('partial'); return new Promise(() => {}) } }) } })
`,
        'checks/a.check.json': twoChecks,
      },
      { hookTimeout: '1s' },
    )
    const r = await nbs(['check', '--reporter', 'slow/hang:hang.txt', '--reporter', 'json:r.json', '--reporter', 'junit:r.xml'], { cwd: dir })
    expect(r.exitCode).toBe(70)
    expect(existsSync(join(dir, 'hang.txt'))).toBe(false)
    expect(json(dir).summary.passed).toBe(2)
    expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toContain('<testcase')
    expect(lines(r.stderr)).toEqual([
      'nbs: reporter slow/hang (onRunEnd): did not finish within 1s; abandoned',
      `nbs: reporter slow/hang: ${join(dir, 'hang.txt')} not written`,
    ])
  })

  it('a slow plugin hook never holds back TAP streaming; it still gets its events, in order, later', async () => {
    const dir = project(
      {
        'plugins/slow.ts': `import { appendFileSync } from 'node:fs'
import { definePlugin } from 'nbs'
const log = (line: string) => appendFileSync(new URL('../hooks.log', import.meta.url), line + '\\n')
export default definePlugin({ name: 'slow', hooks: {
  async onCheckEnd(r) { await new Promise((d) => setTimeout(d, 2500)); log(r.id + ' ' + Date.now()) },
  onRunEnd(report) { log('end ' + report.status) },
} })
`,
        'checks/a.check.json': twoChecks,
      },
      { hookTimeout: '20s' },
    )
    const child = execa(process.execPath, [CLI, 'check', '--reporter', 'tap'], { cwd: dir, reject: false, env: { NO_COLOR: '1' }, stdin: 'ignore' })
    let out = ''
    let tapDone: number | undefined
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      if (tapDone === undefined && /^ok 2 /m.test(out)) tapDone = Date.now()
    })
    const r = await child
    expect(r.exitCode).toBe(0)
    expect(proveParse([out])[0]).toMatchObject({ passed: 2, failed: 0 })
    const log = lines(readFileSync(join(dir, 'hooks.log'), 'utf8'))
    // both results were on stdout before the hook had finished with the first one
    expect(tapDone).toBeDefined()
    expect(tapDone!).toBeLessThan(Number(log[0]!.split(' ')[1]))
    expect(log.map((l) => l.split(' ')[0])).toEqual(['a', 'b', 'end'])
  }, 30_000)

  it('a stray rejection is an internal error: one line, exit 70, --debug for the stack', async () => {
    const dir = project({
      'checks/stray.check.ts': `import { defineCheck } from 'nbs'
export default defineCheck({ id: 'stray', async run() { void Promise.reject(new Error('nobody awaited me')); await new Promise((d) => setTimeout(d, 200)) } })
`,
    })
    const r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(70)
    expect(lines(r.stderr)).toEqual(['nbs: internal error: nobody awaited me; run with --debug for the stack'])
    const d = await nbs(['check', '--debug'], { cwd: dir })
    expect(d.exitCode).toBe(70)
    expect(d.stderr).toMatch(/^nbs: internal error: Error: nobody awaited me\n\s+at /)
  })

  it('without /proc (macOS) a run still kills its timed-out trees and writes every report', async () => {
    const dir = project({
      'checks/a.check.json': JSON.stringify([
        { id: 'ok', command: ['true'] },
        { id: 'hangs', command: ['sh', '-c', 'sleep 417 & sleep 417; wait'], timeout: '1s' },
      ]),
    })
    const r = await nbs(['check', '--reporter', 'json:r.json', '--reporter', 'junit:r.xml'], { cwd: dir, env: { NBS_PROC_ROOT: join(dir, 'no-proc') } })
    // before: killOrphans' readdirSync('/proc') threw after the run, and no report was written
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(1)
    const results = json(dir).phases.flatMap((p: { checks: unknown[] }) => p.checks)
    expect(results).toMatchObject([
      { id: 'ok', status: 'passed' },
      { id: 'hangs', status: 'errored', kind: 'Timeout' },
    ])
    expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toContain('<testcase')
    // the process group was still signalled: nothing of the tree is left
    expect(await pidsMatching('sleep 417')).toEqual([])
  })
})

describe('smaller fixes', () => {
  const big = (marker: string) => `head -c 700000 /dev/zero | tr '\\0' a; echo ${marker}; head -c 700000 /dev/zero | tr '\\0' b`

  it('notContains sees the whole output, and notMatches on truncated output is errored, never passed', async () => {
    const dir = project({
      'checks/a.check.json': JSON.stringify([
        { id: 'literal', command: ['sh', '-c', big('FORBIDDEN')], expect: { stdout: { notContains: 'FORBIDDEN' } } },
        { id: 'literal-absent', command: ['sh', '-c', big('fine')], expect: { stdout: { notContains: 'FORBIDDEN', contains: 'fine' } } },
        { id: 'regex', command: ['sh', '-c', big('FORBIDDEN')], expect: { stdout: { notMatches: 'FORBID+EN' } } },
      ]),
    })
    const r = await nbs(['check', '--reporter', 'json:r.json'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    const byId = Object.fromEntries(json(dir).phases.flatMap((p: { checks: { id: string }[] }) => p.checks).map((c: { id: string }) => [c.id, c]))
    expect(byId.literal).toMatchObject({ status: 'failed', message: 'stdout contains "FORBIDDEN"', stdout: { truncated: true } })
    expect(byId['literal-absent']).toMatchObject({ status: 'passed' })
    expect(byId.regex).toMatchObject({
      status: 'errored',
      message: 'output truncated; stdout (1400010 bytes) was truncated, the middle dropped: cannot tell whether it matches /FORBID+EN/',
    })
  })

  it('config timeout 0 is refused with exit 3, naming the field', async () => {
    const dir = project({ 'checks/a.check.json': JSON.stringify({ id: 'ok', command: ['true'] }) }, { timeout: 0 })
    const r = await nbs(['check'], { cwd: dir })
    expect(r.exitCode).toBe(3)
    expect(lines(r.stderr)).toEqual(['nbs check: nbs.config.json: timeout: a timeout must be longer than 0 (for a very long one write e.g. "24h")'])
  })

  it("the config's report paths start at the config file's folder; --reporter paths at the working directory", async () => {
    const dir = project({
      'ci/nbs.config.json': JSON.stringify({ builtins: false, include: ['checks/*.check.json'], reporters: ['junit:reports/nbs.xml', 'json:nbs.json'] }),
      'ci/checks/a.check.json': JSON.stringify({ id: 'ok', command: ['true'] }),
      'ci/reports/.keep': '',
    })
    const r = await nbs(['check', '--config', 'ci/nbs.config.json'], { cwd: dir })
    expect(r.exitCode).toBe(0)
    expect(existsSync(join(dir, 'ci/reports/nbs.xml'))).toBe(true)
    expect(json(dir, 'ci/nbs.json').summary.passed).toBe(1)
    expect(existsSync(join(dir, 'nbs.json'))).toBe(false)
    const flags = await nbs(['check', '--config', 'ci/nbs.config.json', '--reporter', 'json:here.json'], { cwd: dir })
    expect(flags.exitCode).toBe(0)
    expect(json(dir, 'here.json').summary.passed).toBe(1)
  })

  it('ctx.exec refuses terminal options: nothing a check runs writes into the TAP stream', async () => {
    const dir = project({
      'checks/leak.check.ts': `import { defineCheck } from 'nbs'
export default [
  defineCheck({ id: 'leak', async run(ctx) { await ctx.exec('echo', ['not ok 99 - injected'], { stdout: 'inherit' }) } }),
  defineCheck({ id: 'machine-leak', runsOn: 'local', async run(ctx) { await ctx.machine.exec('echo', ['not ok 98 - injected'], { stderr: 'inherit', stdout: 'inherit' }) } }),
  defineCheck({ id: 'fine', async run(ctx) { const r = await ctx.exec('echo', ['ok'], { stdout: 'pipe', timeoutMs: 5000 }); return { message: r.stdout.text.trim() } } }),
]
`,
    })
    const r = await nbs(['check', '--reporter', 'tap', '--reporter', 'json:r.json'], { cwd: dir })
    expect(r.exitCode).toBe(1)
    expect(r.stdout).not.toContain('injected')
    expect(proveParse([r.stdout])[0]).toMatchObject({ passed: 1, failed: 2 })
    const byId = Object.fromEntries(json(dir).phases.flatMap((p: { checks: { id: string }[] }) => p.checks).map((c: { id: string }) => [c.id, c]))
    expect(byId.leak).toMatchObject({ status: 'errored', message: expect.stringContaining('TypeError: ctx.exec("echo"): stdout: "inherit" not allowed in a check') })
    expect(byId['machine-leak'].message).toContain('stderr: "inherit", stdout: "inherit" not allowed in a check')
    expect(byId.fine).toMatchObject({ status: 'passed', message: 'ok' })
  })
})
