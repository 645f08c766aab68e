import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { proveParse, xmllintValidate, XSDS } from '../helpers/consumers.js'
import { validateJsonReport } from '../helpers/json-report.js'
import { ISOLATED_CONFIG, makeProject, nbs, pidsMatching } from '../helpers/project.js'

const projects: { cleanup(): void }[] = []
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('process trees', () => {
  it('a timed-out check has its whole tree killed, grandchildren included, and is errored', async () => {
    const marker = `9${process.pid}1`
    const p = makeProject({
      'nbs.config.json': ISOLATED_CONFIG,
      'checks/hang.check.json': JSON.stringify({
        id: 'hang',
        timeout: '1s',
        // a background grandchild, one in its own session, and a foreground child
        command: ['sh', '-c', `sleep ${marker} & setsid sleep ${marker} & sleep ${marker}`],
      }),
    })
    projects.push(p)
    const run = nbs(['check', '--reporter', 'json'], { cwd: p.dir })
    await waitFor('the sleepers to start', async () => (await pidsMatching(`sleep ${marker}`)).length === 3)
    const r = await run
    expect(r.exitCode).toBe(1)
    const check = JSON.parse(r.stdout).phases.at(-1).checks[0]
    expect(check).toMatchObject({ status: 'errored', kind: 'Timeout', message: 'timed out after 1s' })
    expect(await pidsMatching(`sleep ${marker}`)).toEqual([])
  })
})

describe.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)('%s in the middle of a run', (signal, code) => {
  it(`kills running checks, writes every report valid and marked interrupted, exits ${code}`, async () => {
    const marker = `8${process.pid}${code}`
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false, concurrency: 2 }),
      'checks/run.check.json': JSON.stringify([
        { id: 'quick', phase: 'pre-build', command: ['true'] },
        { id: 'long', phase: 'build', needs: ['quick'], command: ['sh', '-c', `sleep ${marker} & sleep ${marker}`] },
        { id: 'after-long', phase: 'health', needs: ['long'], command: ['true'] },
      ]),
    })
    projects.push(p)
    const run = nbs(['check', '--reporter', 'junit:r.xml', '--reporter', 'tap:r.tap', '--reporter', 'json:r.json'], { cwd: p.dir })
    await waitFor('the long check to start', async () => (await pidsMatching(`sleep ${marker}`)).length === 2)
    run.kill(signal)
    const r = await run
    expect(r.exitCode).toBe(code)
    expect(await pidsMatching(`sleep ${marker}`)).toEqual([])

    const json = JSON.parse(readFileSync(join(p.dir, 'r.json'), 'utf8'))
    expect(validateJsonReport(json)).toEqual([])
    expect(json).toMatchObject({ status: 'interrupted', interrupted: { signal } })
    const checks = json.phases.flatMap((ph: { checks: unknown[] }) => ph.checks)
    expect(checks.map((c: { id: string; status: string }) => `${c.id}:${c.status}`)).toEqual(['quick:passed', 'long:errored', 'after-long:skipped'])

    for (const xsd of [XSDS.ant, XSDS.jenkins]) expect(xmllintValidate([join(p.dir, 'r.xml')], xsd).status).toBe(0)
    expect(readFileSync(join(p.dir, 'r.xml'), 'utf8')).toContain('name="nbs.interrupted" value="true"')

    const [tap] = proveParse([readFileSync(join(p.dir, 'r.tap'), 'utf8')])
    expect(tap!.parse_errors).toEqual([])
    expect(tap!.tests_run).toBe(3)
    expect(readFileSync(join(p.dir, 'r.tap'), 'utf8')).toContain(`# interrupted by ${signal}`)
  })
})
