/**
 * The exec batcher with sessions that are a real local `sh -s` (dash here; the script itself is
 * checked under dash and bash in remote-batch.test.ts): what joins which session, slots, per-command
 * timeouts and aborts, a host without the tools, a session that dies. Over a real sshd in
 * test/e2e/ssh-machine.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ExecBatcher, pipeSession, type BatchOutcome, type BatchSessionHandle, type BatcherOptions } from '../../../src/machine/batch-session.js'
import { batchJobBody } from '../../../src/machine/remote-batch.js'
import { Semaphore } from '../../../src/machine/semaphore.js'
import { gone, pgrep } from '../../helpers/pgrep.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let marks = 0
const mark = () => `${41 + (marks++ % 50)}.${process.pid}${String(Date.now() % 100000).padStart(5, '0')}`

const batchers: ExecBatcher[] = []
afterEach(async () => {
  await Promise.all(batchers.splice(0).map((b) => b.close()))
})

/** A batcher whose sessions are local `sh -s` processes, with `slots` session slots. */
function local(o: BatcherOptions & { slots?: Semaphore; env?: NodeJS.ProcessEnv } = {}) {
  const slots = o.slots ?? new Semaphore(4)
  const opened: BatchSessionHandle[] = []
  const batcher = new ExecBatcher(
    {
      acquire: (signal) => slots.acquire(signal),
      contended: () => slots.queued > 0,
      open: (script, io) => {
        const h = pipeSession('sh', ['-s'], script, io, o.env ? { env: o.env } : {})
        opened.push(h)
        return h
      },
      failure: async (tail, code) => `sh: the session ended (exit ${code})${tail ? `: ${tail.trim()}` : ''}`,
    },
    o,
  )
  batchers.push(batcher)
  const run = (argv: string[], opts: Parameters<ExecBatcher['run']>[1] = {}) => batcher.run(batchJobBody({ argv, lookup: [0], killGraceS: 1 }), opts)
  return { batcher, run, opened, slots }
}

const text = (o: BatchOutcome) => (o.kind === 'ran' ? o.stdout.text : `unsupported: ${o.reason}`)

describe('ExecBatcher', () => {
  it('runs the execs of one tick in one session, side by side; one sent while it runs joins it', async () => {
    const { run, opened } = local()
    const t0 = Date.now()
    const first = Promise.all([1, 2, 3, 4].map((i) => run(['sh', '-c', `sleep 0.5; echo ${i}; exit ${i}`])))
    await sleep(200)
    expect(opened.length).toBe(1)
    const late = await run(['echo', 'late'])
    const results = await first
    expect(Date.now() - t0).toBeLessThan(1500)
    expect(results.map(text)).toEqual(['1\n', '2\n', '3\n', '4\n'])
    expect(results.map((r) => r.kind === 'ran' && r.end)).toEqual([1, 2, 3, 4].map((code) => ({ kind: 'exit', code })))
    expect(text(late)).toBe('late\n')
    expect(opened.length).toBe(1)
  })

  it('an idle session lingers for the next round, then closes; the next exec opens another', async () => {
    const { run, opened } = local({ lingerMs: 150 })
    await run(['true'])
    await sleep(50)
    await run(['true'])
    expect(opened.length).toBe(1)
    await opened[0]!.done
    expect(text(await run(['echo', 'again']))).toBe('again\n')
    expect(opened.length).toBe(2)
  })

  it("a timeout or an abort kills that command's group only; a command aborted before it is sent never runs", async () => {
    const { run, opened, slots } = local()
    const [hung, stubborn] = [mark(), mark()]
    const ctl = new AbortController()
    const t0 = Date.now()
    const a = run(['sh', '-c', `echo before; sleep ${hung}`], { timeoutMs: 500 })
    const b = run(['sh', '-c', `trap '' TERM; sleep ${stubborn}`], { signal: ctl.signal })
    const c = run(['sh', '-c', 'sleep 1.5; echo done'])
    const ra = await a
    expect(Date.now() - t0).toBeLessThan(1400)
    expect(ra).toMatchObject({ kind: 'ran', stop: 'timeout', stdout: { text: 'before\n' } })
    expect(await gone(`sleep ${hung}`, 1000)).toBe('')
    expect(pgrep(`sleep ${stubborn}`)).not.toBe('')
    ctl.abort()
    expect(await b).toMatchObject({ kind: 'ran', stop: 'abort' })
    expect(await gone(`sleep ${stubborn}`, 3000)).toBe('')
    expect(await c).toMatchObject({ kind: 'ran', end: { kind: 'exit', code: 0 }, stdout: { text: 'done\n' } })
    expect(opened.length).toBe(1)

    // no slot free: aborted while it waits, it never runs and its session never opens
    const hold = await slots.acquire(new AbortController().signal)
    const all = await Promise.all([1, 2, 3].map(() => slots.acquire(new AbortController().signal)))
    const never = new AbortController()
    const waiting = run(['sh', '-c', 'echo ran > /dev/stderr'], { signal: never.signal })
    await sleep(50)
    never.abort()
    expect(await waiting).toMatchObject({ kind: 'ran', stop: 'abort', stderr: { text: '' } })
    hold()
    all.forEach((r) => r())
    await sleep(50)
    expect(opened.length).toBe(1)
  })

  it('at most maxJobs commands at once in a session; the rest wait their turn in it', async () => {
    const { run, opened } = local({ maxJobs: 2 })
    const dir = mkdtempSync(join(tmpdir(), 'nbs-batch-jobs-'))
    try {
      const count = 'touch "$1/$$"; sleep 0.3; ls "$1" | wc -l; rm "$1/$$"'
      const results = await Promise.all(Array.from({ length: 6 }, () => run(['sh', '-c', count, 'sh', dir])))
      expect(Math.max(...results.map((r) => Number(text(r).trim())))).toBe(2)
      expect(opened.length).toBe(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('when other sessions wait for a slot, a running session takes no more execs: the next one waits its turn', async () => {
    const slots = new Semaphore(1)
    const { run, opened } = local({ slots })
    const first = run(['sh', '-c', 'sleep 0.4; echo first'])
    await sleep(100)
    const other = slots.acquire(new AbortController().signal) // a read, say
    const second = run(['echo', 'second'])
    expect(text(await first)).toBe('first\n')
    const release = await other // the first session closed at once for it
    expect(opened.length).toBe(1)
    release()
    expect(text(await second)).toBe('second\n')
    expect(opened.length).toBe(2)
  })

  it('a host without the tools: every exec of that session, and every later one, is unsupported', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'nbs-batch-bin-'))
    try {
      for (const tool of ['sh', 'setsid', 'sleep']) symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), join(bin, tool))
      const { batcher, run, opened } = local({ env: { PATH: bin } })
      const rs = await Promise.all([run(['true']), run(['true'])])
      expect(rs).toEqual([0, 1].map(() => ({ kind: 'unsupported', reason: 'setsid (one that takes --), sleep, base64 or awk is missing' })))
      expect(batcher.unsupported).toBe('setsid (one that takes --), sleep, base64 or awk is missing')
      expect(await run(['true'])).toMatchObject({ kind: 'unsupported' })
      expect(opened.length).toBe(1)
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it('a permanent session (the connection\'s own) takes every job without a slot and outlives any linger', async () => {
    const slots = new Semaphore(1)
    const held = await slots.acquire(new AbortController().signal) // every slot taken
    const { batcher, run, opened } = local({ slots, lingerMs: 50 })
    const shared = batcher.permanent()
    const before = run(['echo', 'queued before it runs']) // waits in a session of its own
    const handle = pipeSession('sh', ['-s'], shared.preamble, shared.io)
    shared.adopt(handle)
    const rs = await Promise.all([run(['echo', 'one']), run(['sh', '-c', 'exit 5'])])
    expect(rs.map(text)).toEqual(['one\n', ''])
    expect(rs[1]).toMatchObject({ end: { kind: 'exit', code: 5 } })
    await sleep(200)
    expect(text(await run(['echo', 'still there']))).toBe('still there\n')
    expect(opened.length).toBe(0)
    held()
    expect(text(await before)).toBe('queued before it runs\n') // its own session, once a slot was free
    let over = false
    void handle.done.then(() => (over = true))
    await sleep(100)
    expect(over).toBe(false)
    await batcher.close()
    expect(over).toBe(true)
  })

  it('a permanent session on a host without the tools refuses its jobs at once, and stays until its stdin ends', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'nbs-batch-bin-'))
    try {
      for (const tool of ['sh', 'setsid', 'sleep']) symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), join(bin, tool))
      const { batcher, run } = local()
      const shared = batcher.permanent()
      const handle = pipeSession('sh', ['-s'], shared.preamble, shared.io, { env: { PATH: bin } })
      shared.adopt(handle)
      expect(await run(['true'])).toEqual({ kind: 'unsupported', reason: 'setsid (one that takes --), sleep, base64 or awk is missing' })
      let over = false
      void handle.done.then(() => (over = true))
      await sleep(200)
      expect(over).toBe(false) // an ssh master's own session: its end would end the connection
      handle.end()
      expect((await handle.done).exitCode).toBe(0)
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it("a session that dies fails what ran in it with the transport's reason; close() ends what still runs", async () => {
    const { batcher, run, opened } = local()
    const m = mark()
    const dying = run(['sleep', m])
    for (let n = 0; !pgrep(`sleep ${m}`) && n < 200; n++) await sleep(10)
    opened[0]!.kill()
    expect(await dying).toMatchObject({ kind: 'ran', failure: expect.stringMatching(/^sh: the session ended/) })
    expect(await gone(`sleep ${m}`, 3000)).toBe('')

    const m2 = mark()
    const closing = run(['sleep', m2])
    for (let n = 0; !pgrep(`sleep ${m2}`) && n < 200; n++) await sleep(10)
    await batcher.close()
    expect(await closing).toMatchObject({ kind: 'ran', failure: expect.any(String) })
    expect(await gone(`sleep ${m2}`, 3000)).toBe('')
  })
})
