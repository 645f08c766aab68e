import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { buildPlan } from '../../../src/runner/graph.js'
import { schedule } from '../../../src/runner/scheduler.js'
import { descendantsOf, killTree, pidsWithEnv } from '../../../src/runner/kill-tree.js'
import { killOrphans } from '../../../src/runner/process.js'
import { ListenerQueue } from '../../../src/reporters/listeners.js'
import { judgeExpectation, LiteralScanner } from '../../../src/checks/expect.js'
import { configSchema } from '../../../src/config/schema.js'
import { internalErrorLine } from '../../../src/errors.js'
import type { CheckDefinition } from '../../../src/checks/types.js'
import { discovered, settings } from '../../helpers/plan.js'

const env = (extra = {}) => ({ flake: '/f', host: 'h', root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: new AbortController().signal, ...extra })

describe('the scheduler turns any throw into an errored check', () => {
  it('a throw outside run() (here: the locality resolver) errors that check; the run resolves with every result', async () => {
    const plan = buildPlan(
      discovered([
        { id: 'here', runsOn: 'machine', run: () => {} },
        { id: 'later', needs: ['here'], run: () => {} },
        { id: 'other', runsOn: 'local', run: () => {} },
      ] as CheckDefinition[]),
      settings(),
    )
    const results = await schedule(plan, {
      concurrency: 2,
      bail: false,
      failOn: 'error',
      env: {
        ...env(),
        // throws instead of rejecting: before, an unhandled rejection and a run that never ended
        locality: () => {
          throw new Error('resolver broke')
        },
      },
    })
    const byId = Object.fromEntries(results.map((r) => [r.id, r]))
    expect(byId.here).toMatchObject({ status: 'errored', kind: 'Exception', message: 'nbs could not run it: resolver broke' })
    expect(byId.later).toMatchObject({ status: 'skipped', message: 'dependency here errored' })
    expect(byId.other).toMatchObject({ status: 'passed' })
  })

  it('a listener that throws does not stop the scheduling', async () => {
    const plan = buildPlan(discovered([{ id: 'a', run: () => {} }, { id: 'b', needs: ['a'], run: () => {} }] as CheckDefinition[]), settings())
    const results = await schedule(plan, {
      concurrency: 2,
      bail: false,
      failOn: 'error',
      env: env(),
      onCheckStart: () => {
        throw new Error('reporter bug')
      },
      onCheckEnd: () => {
        throw new Error('reporter bug')
      },
    })
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ['a', 'passed'],
      ['b', 'passed'],
    ])
  })
})

describe('ListenerQueue', () => {
  it('delivers in order, reports a throw and goes on, abandons a call past its deadline and drops the rest', async () => {
    const problems: string[] = []
    const seen: string[] = []
    const q = new ListenerQueue('plugin p', 200, (l) => problems.push(l))
    q.push('onRunStart', async () => {
      await sleep(20)
      seen.push('start')
    })
    q.push('onCheckEnd', () => {
      throw new Error('webhook down')
    })
    q.push('onCheckEnd', () => void seen.push('end a'))
    q.push('onCheckEnd', () => new Promise(() => {}))
    q.push('onRunEnd', () => void seen.push('never'))
    expect(await q.drain(5000)).toBe(false)
    expect(seen).toEqual(['start', 'end a'])
    expect(problems).toEqual(['plugin p (onCheckEnd): webhook down', 'plugin p (onCheckEnd): did not finish within 200ms; abandoned'])
  })

  it('a slow listener never holds back another', async () => {
    const slow = new ListenerQueue('plugin slow', 5000, () => {})
    const fast = new ListenerQueue('reporter tap', 5000, () => {})
    const order: string[] = []
    for (const id of ['a', 'b']) {
      slow.push('onCheckEnd', async () => {
        await sleep(100)
        order.push(`slow ${id}`)
      })
      fast.push('onCheckEnd', () => void order.push(`fast ${id}`))
    }
    await Promise.all([slow.drain(), fast.drain()])
    expect(order).toEqual(['fast a', 'fast b', 'slow a', 'slow b'])
  })

  it('drain holds the process open until its deadline: a never-settling call cannot end the run early', async () => {
    const q = new ListenerQueue('reporter x', 60_000, () => {})
    q.push('onRunEnd', () => new Promise(() => {}))
    const t0 = Date.now()
    expect(await q.drain(150)).toBe(false)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
    expect(q.abandoned).toBe(true)
  })
})

/** pids (not zombies) whose argv is `sleep <n>`, from the real /proc */
function liveSleepers(n: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'latin1')
        return readFileSync(`/proc/${p}/cmdline`, 'latin1') === `sleep\0${n}\0` && !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
      } catch {
        return false
      }
    })
    .map(Number)
}

describe('no /proc (macOS): "cannot tell", never a throw', () => {
  afterEach(() => {
    delete process.env.NBS_PROC_ROOT
  })

  it('process-table reads answer empty, the orphan sweep finds nothing, killTree still kills the group', async () => {
    process.env.NBS_PROC_ROOT = '/nonexistent-proc-root'
    expect(descendantsOf(process.pid)).toEqual([])
    expect(pidsWithEnv('PATH', '/', true)).toEqual([])
    expect(killOrphans()).toEqual([])
    const child = spawn('sh', ['-c', 'sleep 371 & sleep 371; wait'], { detached: true, stdio: 'ignore' })
    const exited = new Promise((done) => child.once('exit', done))
    await sleep(100)
    expect(liveSleepers('371')).toHaveLength(2)
    await killTree(child.pid!, { graceMs: 200 })
    await exited
    // the test itself may read the real /proc: nothing of the group is left alive
    expect(liveSleepers('371')).toEqual([])
  })
})

describe('expectations on truncated output', () => {
  const big = (middle: string) => {
    const text = `${'a'.repeat(10)}…${'b'.repeat(10)}`
    return { exitCode: 0, signal: null, stdout: { text, bytes: 10_000, truncated: true }, stderr: { text: '', bytes: 0, truncated: false }, middle }
  }

  it('a literal found anywhere in the stream decides notContains and contains, even across chunk borders', () => {
    const scan = new LiteralScanner(['FORBIDDEN', 'here'])
    for (const c of ['xxFORB', 'IDD', 'EN yy', 'he', 're']) scan.write(Buffer.from(c))
    expect(judgeExpectation({ stdout: { notContains: 'FORBIDDEN', contains: 'here' } }, big(''), { stdout: scan })).toEqual({
      failures: ['stdout contains "FORBIDDEN"'],
      undecided: [],
    })
  })

  it('without the whole stream, a truncated output cannot tell: undecided, never passed', () => {
    const r = judgeExpectation({ stdout: { notContains: 'X', notMatches: 'Y+' } }, big(''))
    expect(r.failures).toEqual([])
    expect(r.undecided).toEqual([
      'stdout (10000 bytes) was truncated, the middle dropped: cannot tell whether it contains "X"',
      'stdout (10000 bytes) was truncated, the middle dropped: cannot tell whether it matches /Y+/',
    ])
  })
})

describe('config and messages', () => {
  it('refuses timeout 0 and hookTimeout 0, accepts a long timeout', () => {
    for (const t of [0, '0s', '0ms']) expect(configSchema.safeParse({ timeout: t }).success).toBe(false)
    expect(configSchema.safeParse({ hookTimeout: 0 }).success).toBe(false)
    expect(configSchema.safeParse({ timeout: '24h', hookTimeout: '5s' }).success).toBe(true)
  })

  it('an internal error is one line without --debug', () => {
    expect(internalErrorLine(new Error('boom\nsecond line'), false)).toBe('nbs: internal error: boom; run with --debug for the stack\n')
    expect(internalErrorLine(new Error('boom'), true)).toMatch(/^nbs: internal error: Error: boom\n\s+at /)
  })
})
