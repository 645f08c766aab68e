/**
 * The real CLI: whatever nbs exits with, every consumer of its reports calls the run the same
 * (prove, tap-parser, tappy; xmllint-valid JUnit counted as dorny, mikepenz, GitLab and EnricoMi do).
 * Titles hold ` # SKIP ` and ` # TODO `, the text that made tappy count a different run.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, expect, it } from 'vitest'
import { JUNIT_CONSUMERS, XSDS, proveRun, pythonConsumers, tapParse, tappyTally, xmllintValidate } from '../helpers/consumers.js'
import { makeProject, nbs, pidsMatching } from '../helpers/project.js'
import { needs, tappyPython } from '../helpers/real.js'

const projects: { cleanup(): void }[] = []
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))

const checks = (extra: Record<string, unknown>[]) =>
  JSON.stringify([
    { id: 'ok-one', title: 'passes # SKIP not really', phase: 'pre-build', command: ['true'] },
    { id: 'skipped', title: 'left out # TODO later', phase: 'pre-build', command: ['true'] },
    { id: 'lint', title: 'style # TODO fix me', phase: 'health', severity: 'warning', command: ['false'] },
    { id: 'lint-2', title: 'more # SKIP', phase: 'health', severity: 'warning', command: ['sh', '-c', 'echo "# SKIP from output"; exit 3'] },
    ...extra,
  ])

/** Every consumer's verdict on the reports of one run. */
async function verdicts(dir: string): Promise<Record<string, 'passed' | 'failed'>> {
  const tap = readFileSync(join(dir, 'r.tap'), 'utf8')
  const xml = join(dir, 'r.xml')
  for (const xsd of [XSDS.ant, XSDS.jenkins]) expect(xmllintValidate([xml], xsd).status).toBe(0)
  const py = pythonConsumers(tappyPython()!, { tap: [tap], junit: [readFileSync(xml, 'utf8')] })
  const junit = py.junit[0]!
  expect(junit.mismatches).toEqual([])
  return {
    prove: proveRun(tap).status === 0 ? 'passed' : 'failed',
    'tap-parser': (await tapParse(tap)).final.ok ? 'passed' : 'failed',
    tappy: tappyTally(py.tappy[0]!).verdict,
    ...Object.fromEntries(JUNIT_CONSUMERS.map((c) => [c, junit[c].verdict])),
  }
}

const all = (v: 'passed' | 'failed') => Object.fromEntries(['prove', 'tap-parser', 'tappy', ...JUNIT_CONSUMERS].map((c) => [c, v]))
const REPORTS = ['--reporter', 'junit:r.xml', '--reporter', 'tap:r.tap']

needs('tappy').describe('nbs check: the exit code is every consumer\'s verdict', () => {
  it.each([
    ['failed warnings only: exit 0, every consumer says passed', [], [], 0],
    ['failed warnings with --fail-on warning: exit 1, every consumer says failed', [], ['--fail-on', 'warning'], 1],
    ['a failed error check: exit 1, every consumer says failed', [{ id: 'bad', title: 'broken # TODO', phase: 'health', command: ['false'] }], [], 1],
  ] as const)('%s', async (_title, extra, flags, code) => {
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false, disable: ['skipped'] }),
      'checks/run.check.json': checks([...extra]),
    })
    projects.push(p)
    const r = await nbs(['check', ...REPORTS, ...flags], { cwd: p.dir })
    expect(r.exitCode, r.stderr).toBe(code)
    expect(await verdicts(p.dir)).toEqual(all(code === 0 ? 'passed' : 'failed'))
    const tap = readFileSync(join(p.dir, 'r.tap'), 'utf8')
    // points come in completion order
    expect(tap).toMatch(/^ok \d - ok-one - passes ＃ SKIP not really$/m)
    expect(tap).toMatch(/^ok \d - skipped - left out ＃ TODO later # SKIP /m)
  })

  it('interrupted while only passed checks have finished: exit 130, every consumer says failed', async () => {
    const marker = `7${process.pid}13`
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false }),
      'checks/run.check.json': JSON.stringify([
        { id: 'quick', title: 'quick # SKIP', phase: 'pre-build', command: ['true'] },
        // a warning: its errored `interrupted` result does not fail the run by itself
        { id: 'slow', phase: 'build', needs: ['quick'], severity: 'warning', command: ['sleep', marker] },
        { id: 'after', phase: 'health', needs: ['slow'], command: ['true'] },
      ]),
    })
    projects.push(p)
    const run = nbs(['check', ...REPORTS], { cwd: p.dir })
    const end = Date.now() + 10_000
    while ((await pidsMatching(`sleep ${marker}`)).length === 0 && Date.now() < end) await sleep(25)
    run.kill('SIGINT')
    const r = await run
    expect(r.exitCode).toBe(130)
    expect(await verdicts(p.dir)).toEqual(all('failed'))
  })
})
