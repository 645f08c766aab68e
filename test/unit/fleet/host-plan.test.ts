import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import type { CheckDefinition } from '../../../src/checks/types.js'
import { MachineError, type Machine } from '../../../src/machine/types.js'
import { SSH_FAILED } from '../../../src/machine/ssh.js'

const EMPTY = { text: '', bytes: 0, truncated: false }
import { buildPlan } from '../../../src/runner/graph.js'
import { hostPlan, REACHABLE_ID, type ConnectableMachine, type Reach } from '../../../src/runner/host-plan.js'
import { limiter } from '../../../src/runner/limiter.js'
import { schedule } from '../../../src/runner/scheduler.js'
import type { CheckResult } from '../../../src/report/types.js'
import { discovered, settings } from '../../helpers/plan.js'

/** A machine whose connection answers as told; reads are never reached in these tests. */
function fakeRemote(name: string, reach: Reach, seen: string[] = []): ConnectableMachine {
  const unused = async () => {
    throw new Error('not used')
  }
  return {
    description: `ssh ${name}`,
    live: true,
    exec: async () => {
      throw new Error('not used')
    },
    readLink: unused,
    realPath: unused,
    readFile: unused,
    readDir: unused,
    stat: unused,
    hostname: async () => name,
    connect: async () => {
      seen.push(`connect ${name}`)
      return reach
    },
    close: async () => void seen.push(`close ${name}`),
  } satisfies Machine & ConnectableMachine
}

const defs: CheckDefinition[] = [
  { id: 'eval', phase: 'pre-build', run: async () => void (await sleep(20)) },
  { id: 'units', phase: 'post-build', run: (ctx) => ({ message: `read ${ctx.machine.description}` }) },
  { id: 'disk', phase: 'health', needs: ['units'], run: () => undefined },
]

function runHost(host: string, reach?: Reach, opts: { allowUnreachable?: boolean; localSlots?: ReturnType<typeof limiter>; stop?: { reason?: string }; bail?: boolean } = {}) {
  const s = settings()
  const base = buildPlan(discovered(defs), s)
  const machine = reach ? fakeRemote(host, reach) : undefined
  const plan = hostPlan(base, { host, ...(machine ? { remote: { machine, allowUnreachable: opts.allowUnreachable ?? false, connectTimeoutMs: 5000 } } : {}) })
  return schedule(plan, {
    concurrency: 4,
    bail: opts.bail ?? false,
    failOn: 'error',
    ...(opts.localSlots ? { localSlots: opts.localSlots } : {}),
    ...(opts.stop ? { stop: opts.stop } : {}),
    env: { flake: '/f', host, root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: new AbortController().signal, ...(machine ? { machine } : {}) },
  })
}
const byId = (rs: CheckResult[]) => Object.fromEntries(rs.map((r) => [r.id, r]))

describe('one graph per host', () => {
  it('gives every node the host, and an ssh host a reachable step its machine checks need', async () => {
    const results = byId(await runHost('web1', { ok: true }))
    expect(Object.keys(results).sort()).toEqual(['disk', 'eval', REACHABLE_ID, 'units'])
    expect(Object.values(results).every((r) => r.host === 'web1')).toBe(true)
    expect(results[REACHABLE_ID]).toMatchObject({ status: 'passed', phase: 'post-build', title: 'ssh web1 answers' })
    expect(results.units!.needs).toContain(REACHABLE_ID)
    // a machine check reads the host's machine, not this one
    expect(results.units!.message).toBe('read ssh web1')
    expect(results.eval!.needs).not.toContain(REACHABLE_ID)
  })

  it('an unreachable host: reachable errored with ssh\'s reason, its machine checks skipped as unreachable, local checks still run', async () => {
    const reason = 'ssh: connect to host 10.0.0.7 port 22: Connection refused'
    const results = byId(await runHost('db1', { ok: false, reason }))
    expect(results[REACHABLE_ID]).toMatchObject({ status: 'errored', kind: 'Unreachable', message: reason })
    expect(results.units).toMatchObject({ status: 'skipped', skip: 'unreachable', message: `host unreachable: ${reason}` })
    // a check that needs a skipped machine check is skipped because of it, as before
    expect(results.disk).toMatchObject({ status: 'skipped' })
    expect(results.eval!.status).toBe('passed')
  })

  it('--allow-unreachable: the reachable step is skipped with the reason, so no consumer counts a failure', async () => {
    const results = byId(await runHost('db1', { ok: false, reason: 'ssh: Could not resolve hostname db1' }, { allowUnreachable: true }))
    expect(results[REACHABLE_ID]).toMatchObject({ status: 'skipped', skip: 'unreachable' })
    expect(results[REACHABLE_ID]!.message).toContain('Could not resolve hostname db1')
    expect(results.units).toMatchObject({ status: 'skipped', skip: 'unreachable', message: 'host unreachable: ssh: Could not resolve hostname db1' })
  })

  it('a transport failure under a machine check errors it, whatever the check made of it', async () => {
    const lost = 'ssh: the connection to web1 was lost: Connection reset by peer'
    const machine: ConnectableMachine = {
      ...fakeRemote('web1', { ok: true }),
      // what the ssh machine throws for a read whose session failed
      readFile: async (path: string) => {
        throw new MachineError(`${path}: ${lost}`, SSH_FAILED, path)
      },
      exec: async () => ({ exitCode: null, signal: null, stdout: EMPTY, stderr: EMPTY, durationMs: 1, timedOut: false, aborted: false, notFound: false, error: lost }),
    }
    const checks: CheckDefinition[] = [
      // a probe that reads "cannot read" as "not NixOS here" and skips
      { id: 'profiles', phase: 'health', run: async (ctx) => ((await ctx.machine.readFile('/etc/NIXOS').catch(() => null)) === null ? ctx.skip('not NixOS') : undefined) },
      // one that reads a failed systemctl as "systemd is not running"
      { id: 'units', phase: 'health', run: async (ctx) => ((await ctx.exec('systemctl', ['is-system-running'])).exitCode === 0 ? undefined : ctx.skip('systemd is not running')) },
      { id: 'cmd', phase: 'health', command: ['true'] },
    ]
    const plan = hostPlan(buildPlan(discovered(checks), settings()), { host: 'web1', remote: { machine, allowUnreachable: false, connectTimeoutMs: 1000 } })
    const results = byId(
      await schedule(plan, { concurrency: 4, bail: false, failOn: 'error', env: { flake: '/f', host: 'web1', root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: new AbortController().signal, machine } }),
    )
    expect(results.profiles).toMatchObject({ status: 'errored', kind: 'Unreachable' })
    expect(results.profiles!.message).toContain('Connection reset by peer')
    expect(results.units).toMatchObject({ status: 'errored', kind: 'Unreachable', message: lost })
    expect(results.cmd).toMatchObject({ status: 'errored', kind: 'Unreachable', message: lost })
  })

  it('a host without a target has no reachable step', async () => {
    const results = await runHost('laptop')
    expect(results.map((r) => r.id)).not.toContain(REACHABLE_ID)
  })

  it('refuses a user check that takes the reserved id', () => {
    const base = buildPlan(discovered([{ id: REACHABLE_ID, phase: 'health', run: () => undefined }]), settings())
    expect(() => hostPlan(base, { host: 'web1', remote: { machine: fakeRemote('web1', { ok: true }), allowUnreachable: false, connectTimeoutMs: 1000 } })).toThrow(/reserved|taken/)
  })
})

describe('shared slots across hosts', () => {
  it('local checks of many hosts never run more at once than the pool allows', async () => {
    let now = 0
    let peak = 0
    const slots = limiter(2)
    const plan = (host: string) =>
      hostPlan(
        buildPlan(
          discovered([
            {
              id: 'eval',
              phase: 'pre-build',
              run: async () => {
                peak = Math.max(peak, ++now)
                await sleep(30)
                now--
              },
            },
          ]),
          settings(),
        ),
        { host },
      )
    const hosts = ['a', 'b', 'c', 'd', 'e', 'f']
    await Promise.all(
      hosts.map((h) =>
        schedule(plan(h), { concurrency: 4, bail: false, failOn: 'error', localSlots: slots, env: { flake: '/f', host: h, root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: new AbortController().signal } }),
      ),
    )
    expect(peak).toBe(2)
  })

  it('connecting takes no shared local slot: every host connects at once while evaluations wait their turn', async () => {
    let connecting = 0
    let peakConnecting = 0
    let evaluating = 0
    let peakEvaluating = 0
    const slots = limiter(2)
    const hosts = ['a', 'b', 'c', 'd', 'e', 'f']
    const slowConnect = (name: string): ConnectableMachine => ({
      ...fakeRemote(name, { ok: true }),
      connect: async () => {
        peakConnecting = Math.max(peakConnecting, ++connecting)
        await sleep(40)
        connecting--
        return { ok: true }
      },
    })
    const evalDefs: CheckDefinition[] = [
      {
        id: 'eval',
        phase: 'pre-build',
        run: async () => {
          peakEvaluating = Math.max(peakEvaluating, ++evaluating)
          await sleep(30)
          evaluating--
        },
      },
      { id: 'disk', phase: 'health', run: () => undefined },
    ]
    await Promise.all(
      hosts.map((h) => {
        const machine = slowConnect(h)
        const plan = hostPlan(buildPlan(discovered(evalDefs), settings()), { host: h, remote: { machine, allowUnreachable: false, connectTimeoutMs: 5000 } })
        return schedule(plan, { concurrency: 4, bail: false, failOn: 'error', localSlots: slots, env: { flake: '/f', host: h, root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: new AbortController().signal, machine } })
      }),
    )
    expect(peakConnecting).toBe(hosts.length)
    expect(peakEvaluating).toBe(2)
  })

  it('the limiter hands a freed slot to the next waiter, never to a newcomer beyond the limit', async () => {
    const l = limiter(1)
    let inside = 0
    let peak = 0
    const job = () =>
      l.run(async () => {
        peak = Math.max(peak, ++inside)
        await Promise.resolve()
        inside--
      })
    await Promise.all([job(), job(), job(), job()])
    expect(peak).toBe(1)
    expect(limiter(0).max).toBe(Infinity)
  })

  it('--bail on one host stops starting checks on the others', async () => {
    const stop: { reason?: string } = {}
    const failing: CheckDefinition[] = [{ id: 'x', phase: 'health', run: (ctx) => ctx.fail('broken') }]
    const slow: CheckDefinition[] = [
      { id: 'first', phase: 'health', run: async () => void (await sleep(50)) },
      { id: 'second', phase: 'health', needs: ['first'], run: () => undefined },
    ]
    const env = (host: string) => ({ flake: '/f', host, root: '/', projectRoot: process.cwd(), nixOptions: {}, signal: new AbortController().signal })
    const [, other] = await Promise.all([
      schedule(hostPlan(buildPlan(discovered(failing), settings()), { host: 'bad' }), { concurrency: 1, bail: true, stop, failOn: 'error', env: env('bad') }),
      schedule(hostPlan(buildPlan(discovered(slow), settings()), { host: 'good' }), { concurrency: 1, bail: true, stop, failOn: 'error', env: env('good') }),
    ])
    expect(byId(other).second).toMatchObject({ status: 'skipped', message: 'bail: bad x failed' })
  })
})
