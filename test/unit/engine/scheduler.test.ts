import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { buildPlan } from '../../../src/runner/graph.js'
import { schedule, type ScheduleOptions } from '../../../src/runner/scheduler.js'
import type { CheckContext, CheckDefinition, CheckOutcome } from '../../../src/checks/types.js'
import type { CheckResult } from '../../../src/report/types.js'
import type { NbsConfig } from '../../../src/config/schema.js'
import { discovered, settings } from '../../helpers/plan.js'

type Body = (ctx: CheckContext) => Promise<CheckOutcome | void> | CheckOutcome | void
const check = (id: string, run: Body, more: Partial<CheckDefinition> = {}) => ({ id, run, ...more }) as CheckDefinition
const pass = (ms = 0): Body => async () => void (await sleep(ms))
const fail = (msg = 'nope'): Body => (ctx) => ctx.fail(msg)

function run(defs: CheckDefinition[], opts: Partial<ScheduleOptions> & { config?: NbsConfig; signal?: AbortSignal } = {}) {
  const s = settings(opts.config)
  const plan = buildPlan(discovered(defs), s)
  const started: string[] = []
  const promise = schedule(plan, {
    concurrency: 8,
    bail: false,
    failOn: 'error',
    env: { flake: '/f', host: 'h', root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: opts.signal ?? new AbortController().signal },
    onCheckStart: (c) => started.push(c.id),
    ...opts,
  })
  return { promise, started }
}
const byId = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.id, r]))

describe('schedule', () => {
  it('runs a diamond in dependency order and hands data along', async () => {
    const seen: unknown[] = []
    const { promise, started } = run([
      check('a', () => ({ data: { drv: '/nix/store/x.drv' } })),
      check('b', pass(20), { needs: ['a'] }),
      check('c', pass(5), { needs: ['a'] }),
      check('d', (ctx) => void seen.push(ctx.needs), { needs: ['b', 'c'] }),
    ])
    const results = await promise
    expect(started[0]).toBe('a')
    expect(started.at(-1)).toBe('d')
    expect(results.map((r) => r.id)).toEqual(['a', 'c', 'b', 'd'])
    expect(results.every((r) => r.status === 'passed')).toBe(true)
    const { promise: p2 } = run([check('a', () => ({ data: 42 })), check('z', (ctx) => ({ message: String(ctx.needs.a!.data) }), { needs: ['a'] })])
    expect(byId(await p2).z!.message).toBe('42')
    expect(seen).toHaveLength(1)
  })

  it('skips a check whose dependency failed, errored or was skipped, naming it, transitively', async () => {
    const { promise } = run([
      check('bad', fail()),
      check('broken', () => {
        throw new Error('boom')
      }),
      check('na', (ctx) => ctx.skip('not here')),
      check('x', pass(), { needs: ['bad'] }),
      check('y', pass(), { needs: ['broken'] }),
      check('z', pass(), { needs: ['na'] }),
      check('xx', pass(), { needs: ['x'] }),
    ])
    const r = byId(await promise)
    expect(r.broken).toMatchObject({ status: 'errored', kind: 'Exception', message: 'boom' })
    expect(r.x).toMatchObject({ status: 'skipped', message: 'dependency bad failed', attempts: [] })
    expect(r.y).toMatchObject({ status: 'skipped', message: 'dependency broken errored' })
    expect(r.z).toMatchObject({ status: 'skipped', message: 'dependency na skipped' })
    expect(r.xx).toMatchObject({ status: 'skipped', message: 'dependency x skipped' })
  })

  it('never runs more than --concurrency checks at once', async () => {
    let now = 0
    let peak = 0
    const body: Body = async () => {
      peak = Math.max(peak, ++now)
      await sleep(15)
      now--
    }
    const { promise } = run(Array.from({ length: 12 }, (_, i) => check(`c${i}`, body)), { concurrency: 3 })
    await promise
    expect(peak).toBe(3)
  })

  it('does not hold a later phase back for an unrelated slow check', async () => {
    const { promise } = run([check('slow', pass(400), { phase: 'pre-build' }), check('fast', pass(), { phase: 'health' })])
    const results = await promise
    expect(results.map((r) => r.id)).toEqual(['fast', 'slow'])
  })

  it('marks a check that runs past its timeout as errored and aborts its signal', async () => {
    let aborted = false
    const { promise } = run([
      check('hang', async (ctx) => {
        ctx.signal.addEventListener('abort', () => (aborted = true))
        await sleep(10_000)
      }, { timeout: 100 }),
    ])
    const t0 = performance.now()
    const [r] = await promise
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(r).toMatchObject({ status: 'errored', kind: 'Timeout', message: 'timed out after 100ms' })
    expect(aborted).toBe(true)
  })

  it('retries a failing check and records every attempt', async () => {
    let calls = 0
    const { promise } = run([check('flaky', (ctx) => (++calls < 3 ? ctx.fail(`try ${calls}`) : undefined), { retries: 3, retryDelay: 10 })])
    const [r] = await promise
    expect(r!.status).toBe('passed')
    expect(r!.attempts.map((a) => a.status)).toEqual(['failed', 'failed', 'passed'])
    expect(r!.attempts[0]!.message).toBe('try 1')
    const { promise: p2 } = run([check('always', fail('still'), { retries: 2 })])
    const [r2] = await p2
    expect(r2).toMatchObject({ status: 'failed', message: 'still' })
    expect(r2!.attempts).toHaveLength(3)
  })

  it('with bail, stops starting checks after the first failure', async () => {
    const { promise, started } = run([check('first', fail()), check('later', pass(), { needs: [] , phase: 'health' }), check('dep', pass(), { needs: ['first'] })], {
      bail: true,
      concurrency: 1,
    })
    const r = byId(await promise)
    expect(started).toEqual(['first'])
    expect(r.later).toMatchObject({ status: 'skipped', message: 'bail: first failed' })
    expect(r.dep!.status).toBe('skipped')
  })

  it('bail ignores a failed warning unless failOn is warning', async () => {
    const defs = [check('warn', fail(), { severity: 'warning' }), check('next', pass())]
    expect(byId(await run(defs, { bail: true, concurrency: 1 }).promise).next!.status).toBe('passed')
    expect(byId(await run(defs, { bail: true, concurrency: 1, failOn: 'warning' }).promise).next!.status).toBe('skipped')
  })

  it('on interruption, errors the running checks and skips the rest, and still resolves', async () => {
    const controller = new AbortController()
    const { promise } = run([check('long', pass(10_000)), check('after', pass(), { needs: ['long'] }), check('queued', pass())], {
      concurrency: 1,
      signal: controller.signal,
    })
    setTimeout(() => controller.abort('SIGINT'), 50)
    const r = byId(await promise)
    expect(r.long).toMatchObject({ status: 'errored', kind: 'Interrupted' })
    expect(r.queued).toMatchObject({ status: 'skipped', message: 'interrupted' })
    expect(r.after).toMatchObject({ status: 'skipped', message: 'interrupted' })
  })

  it('reports disabled and --skip checks as skipped without running them', async () => {
    let ran = false
    const { promise } = run([check('off', () => void (ran = true)), check('needs-off', pass(), { needs: ['off'] })], { config: { disable: ['off'] } })
    const r = byId(await promise)
    expect(ran).toBe(false)
    expect(r.off).toMatchObject({ status: 'skipped', message: 'disabled in config' })
    expect(r['needs-off']).toMatchObject({ status: 'skipped', message: 'dependency off skipped' })
  })

  it('after: waits for the other check whatever its result, and sees its outcome', async () => {
    const { promise, started } = run([
      check('eval', (ctx) => ctx.fail('eval broke'), { phase: 'pre-build' }),
      check('sync', (ctx) => ({ message: `eval was ${ctx.needs.eval?.status}` }), { phase: 'post-build', after: ['eval'] }),
    ])
    const r = byId(await promise)
    expect(started).toEqual(['eval', 'sync'])
    expect(r.sync).toMatchObject({ status: 'passed', message: 'eval was failed' })
  })
})
