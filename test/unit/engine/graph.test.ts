import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { buildPlan, findCycle } from '../../../src/runner/graph.js'
import type { CheckDefinition } from '../../../src/checks/types.js'
import { discovered, settings } from '../../helpers/plan.js'

const cmd = (id: string, more: Partial<CheckDefinition> = {}): CheckDefinition => ({ id, command: ['true'], ...more }) as CheckDefinition
const ids = (plan: { nodes: { id: string }[] }) => plan.nodes.map((n) => n.id)

describe('buildPlan', () => {
  it('orders checks by configured phase, keeping discovery order inside a phase', () => {
    const plan = buildPlan(discovered([cmd('h', { phase: 'health' }), cmd('p', { phase: 'pre-build' }), cmd('b', { phase: 'build' }), cmd('p2', { phase: 'pre-build' })]), settings())
    expect(ids(plan)).toEqual(['p', 'p2', 'b', 'h'])
  })

  it('puts a check without a phase in the last phase, so it may need anything', () => {
    const plan = buildPlan(discovered([cmd('x', { needs: ['y'] }), cmd('y', { phase: 'post-build' })]), settings())
    expect(plan.nodes.find((n) => n.id === 'x')!.phase).toBe('health')
  })

  it('accepts a diamond and a need on an earlier phase', () => {
    const plan = buildPlan(
      discovered([cmd('a', { phase: 'pre-build' }), cmd('b', { phase: 'build', needs: ['a'] }), cmd('c', { phase: 'build', needs: ['a'] }), cmd('d', { phase: 'health', needs: ['b', 'c'] })]),
      settings(),
    )
    expect(plan.nodes.find((n) => n.id === 'd')!.needs).toEqual(['b', 'c'])
  })

  it('names the whole cycle', () => {
    const checks = discovered([cmd('a', { needs: ['b'] }), cmd('b', { needs: ['c'] }), cmd('c', { needs: ['a'] })])
    expect(() => buildPlan(checks, settings())).toThrow('dependency cycle: a → b → c → a')
    expect(() => buildPlan(discovered([cmd('self', { needs: ['self'] })]), settings())).toThrow('self → self')
  })

  it('finds a cycle that is not reachable from the first check', () => {
    expect(findCycle([{ id: 'x', needs: [] }, { id: 'p', needs: ['q'] }, { id: 'q', needs: ['p'] }])).toEqual(['p', 'q', 'p'])
  })

  it('rejects an unknown need, naming the file and the check', () => {
    expect(() => buildPlan(discovered([cmd('a', { needs: ['nope'] })]), settings())).toThrow('checks/a.check.ts: check "a" needs unknown check "nope"')
  })

  it('rejects a need on a later phase', () => {
    const checks = discovered([cmd('early', { phase: 'pre-build', needs: ['late'] }), cmd('late', { phase: 'health' })])
    expect(() => buildPlan(checks, settings())).toThrow('check "early" (phase pre-build) needs "late" from the later phase health')
  })

  it('rejects a phase that is not configured', () => {
    expect(() => buildPlan(discovered([cmd('a', { phase: 'deploy' })]), settings())).toThrow('phase "deploy", which is not one of the phases')
    expect(ids(buildPlan(discovered([cmd('a', { phase: 'deploy' })]), settings({ phases: ['deploy'] })))).toEqual(['a'])
  })

  it('--only runs the check and everything it needs, transitively, and nothing else', () => {
    const checks = discovered([cmd('a'), cmd('b', { needs: ['a'] }), cmd('c', { needs: ['b'] }), cmd('other')])
    expect(ids(buildPlan(checks, settings(), { only: ['c'] }))).toEqual(['a', 'b', 'c'])
  })

  it('--tag and --phase select, and bring along what the selection needs', () => {
    const checks = discovered([cmd('a', { phase: 'pre-build' }), cmd('b', { phase: 'health', needs: ['a'], tags: ['net'] }), cmd('c', { phase: 'health' })])
    expect(ids(buildPlan(checks, settings(), { tag: ['net'] }))).toEqual(['a', 'b'])
    expect(ids(buildPlan(checks, settings(), { phase: ['pre-build'] }))).toEqual(['a'])
    expect(ids(buildPlan(checks, settings(), { phase: ['health'] }))).toEqual(['a', 'b', 'c'])
  })

  it('--skip and disable keep the check in the plan, marked, so dependents can say why they did not run', () => {
    const checks = discovered([cmd('a'), cmd('b'), cmd('c')])
    const plan = buildPlan(checks, settings({ disable: ['a'] }), { skip: ['b'] })
    expect(plan.nodes.map((n) => [n.id, n.excluded])).toEqual([
      ['a', 'disabled in config'],
      ['b', 'skipped with --skip'],
      ['c', undefined],
    ])
  })

  it('rejects unknown ids, phases and tags in filters', () => {
    const checks = discovered([cmd('a', { tags: ['x'] })])
    expect(() => buildPlan(checks, settings(), { only: ['zz'] })).toThrow('--only zz: no check has this id')
    expect(() => buildPlan(checks, settings(), { skip: ['zz'] })).toThrow('--skip zz')
    expect(() => buildPlan(checks, settings(), { phase: ['zz'] })).toThrow('--phase zz: not a phase')
    expect(() => buildPlan(checks, settings(), { tag: ['zz'] })).toThrow('--tag zz: no check has this tag')
    expect(() => buildPlan(checks, settings({ disable: ['zz'] }))).toThrow('nbs.config.ts: disable[0]: no check has the id "zz"')
  })

  it('opt-in checks: left out (not even reported) unless enable lists them or --only names them', () => {
    const checks = discovered([cmd('eval', { phase: 'pre-build' }), cmd('dry', { phase: 'build', needs: ['eval'], tags: ['nix'] }), cmd('build', { phase: 'build', needs: ['eval'], tags: ['nix'], optIn: true })])
    const plain = buildPlan(checks, settings())
    expect(ids(plain)).toEqual(['eval', 'dry'])
    expect(plain.notEnabled?.map((n) => n.id)).toEqual(['build'])
    // --tag and --phase narrow what would run anyway; they never pull an opt-in check in
    expect(ids(buildPlan(checks, settings(), { tag: ['nix'] }))).toEqual(['eval', 'dry'])
    expect(ids(buildPlan(checks, settings(), { phase: ['build'] }))).toEqual(['eval', 'dry'])
    // named with --only: run with what it needs
    expect(ids(buildPlan(checks, settings(), { only: ['build'] }))).toEqual(['eval', 'build'])
    // enabled in the config: part of every run, and of --tag / --phase selections
    const enabled = buildPlan(checks, settings({ enable: ['build'] }))
    expect(ids(enabled)).toEqual(['eval', 'dry', 'build'])
    expect(enabled.notEnabled).toBeUndefined()
    expect(ids(buildPlan(checks, settings({ enable: ['build'] }), { tag: ['nix'] }))).toEqual(['eval', 'dry', 'build'])
    expect(ids(buildPlan(checks, settings({ enable: ['build'] }), { only: ['dry'] }))).toEqual(['eval', 'dry'])
    // enabled but skipped on the command line: reported as skipped, like any other check
    expect(buildPlan(checks, settings({ enable: ['build'] }), { skip: ['build'] }).nodes.find((n) => n.id === 'build')?.excluded).toBe('skipped with --skip')
  })

  it('a check that needs an opt-in check brings it in (it cannot run without it)', () => {
    const checks = discovered([cmd('build', { phase: 'build', optIn: true }), cmd('closure-size', { phase: 'post-build', needs: ['build'] })])
    expect(ids(buildPlan(checks, settings()))).toEqual(['build', 'closure-size'])
  })

  it('enable: an unknown id, or one that is also disabled, is a config error naming the field', () => {
    const checks = discovered([cmd('a'), cmd('b', { optIn: true })])
    expect(() => buildPlan(checks, settings({ enable: ['zz'] }))).toThrow('nbs.config.ts: enable[0]: no check has the id "zz"')
    expect(() => buildPlan(checks, settings({ enable: ['b'], disable: ['b'] }))).toThrow('nbs.config.ts: enable[0]: "b" is also in disable')
  })

  it('validates per-check options from the config with the check schema, naming the field', () => {
    const def = { id: 'opt', options: z.object({ max: z.number().default(3) }), run: () => {} } as unknown as CheckDefinition
    expect(buildPlan(discovered([def]), settings()).nodes[0]!.options).toEqual({ max: 3 })
    expect(buildPlan(discovered([def]), settings({ options: { opt: { max: 9 } } })).nodes[0]!.options).toEqual({ max: 9 })
    expect(() => buildPlan(discovered([def]), settings({ options: { opt: { max: 'x' } } }))).toThrow(/nbs\.config\.ts: options\.opt\.max: .*number/)
    expect(() => buildPlan(discovered([cmd('plain')]), settings({ options: { plain: { a: 1 } } }))).toThrow('check "plain" takes no options')
    expect(() => buildPlan(discovered([cmd('plain')]), settings({ options: { ghost: {} } }))).toThrow('options.ghost: no check has the id "ghost"')
  })

  it('resolves a plugin check need to the same plugin first', () => {
    const checks = [...discovered([cmd('free')]), ...discovered([cmd('free'), cmd('alert', { needs: ['free'] })], 'disk')]
    expect(buildPlan(checks, settings()).nodes.find((n) => n.id === 'disk/alert')!.needs).toEqual(['disk/free'])
  })

  it('turns timeouts and retry delays into milliseconds, with the configured default', () => {
    const plan = buildPlan(discovered([cmd('a', { timeout: '2m', retryDelay: '250ms', retries: 2 }), cmd('b')]), settings({ timeout: '90s' }))
    expect(plan.nodes.map((n) => [n.timeoutMs, n.retryDelayMs, n.retries])).toEqual([
      [120_000, 250, 2],
      [90_000, 0, 0],
    ])
  })

  it('after: orders without pulling the other check in, and counts for cycles and phases', () => {
    const checks = discovered([cmd('eval', { phase: 'pre-build' }), cmd('sync', { phase: 'post-build', after: ['eval'] })])
    expect(buildPlan(checks, settings()).nodes[1]!.after).toEqual(['eval'])
    const only = buildPlan(checks, settings(), { only: ['sync'] })
    expect(only.nodes.map((n) => [n.id, n.after])).toEqual([['sync', []]])
    expect(() => buildPlan(discovered([cmd('a', { after: ['b'] }), cmd('b', { needs: ['a'] })]), settings())).toThrow('a → b → a')
    expect(() => buildPlan(discovered([cmd('a', { after: ['zz'] })]), settings())).toThrow('check "a" runs after unknown check "zz"')
  })
})
