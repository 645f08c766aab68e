/**
 * The batch session's script (remote-batch.ts), run by the two shells that are `sh` on the machines
 * nbs reaches: dash (Debian) and bash (NixOS), as `sh -s` reading it from a pipe as over ssh. Each
 * shell is started in a session of its own, as sshd starts it (its EXIT trap signals its group).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { appears, gone, pgrep } from '../../helpers/pgrep.js'
import { BatchParser, batchJobBody, batchKill, batchPreamble, type BatchEvent, type BatchJobOptions } from '../../../src/machine/remote-batch.js'
import type { ScriptEnd } from '../../../src/machine/remote-script.js'

const SHELLS = ['dash', 'bash'] as const
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** A marker unique to this test run, for `sleep <mark>` processes pgrep can find. */
let marks = 0
const mark = () => `${31 + (marks++ % 60)}.${process.pid}${String(Date.now() % 100000).padStart(5, '0')}`

interface JobState {
  stdout: Buffer
  stderr: Buffer
  pgid?: number
  end?: ScriptEnd
  closed: number
  /** ms after the batch started */
  at?: number
}

const started: ChildProcessWithoutNullStreams[] = []
afterEach(() => {
  for (const c of started.splice(0)) {
    try {
      if (c.exitCode === null && c.pid) process.kill(-c.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
})

/** `shell -s` (or `argv`) in its own session, fed the preamble; jobs are sent with `send`. */
function batch(shell: string, o: { argv?: string[]; env?: NodeJS.ProcessEnv; detached?: boolean } = {}) {
  const nonce = randomBytes(8).toString('hex')
  const t0 = Date.now()
  const jobs = new Map<number, JobState>()
  const events: BatchEvent[] = []
  const waiting = new Map<number, () => void>()
  const job = (i: number) => {
    let j = jobs.get(i)
    if (!j) jobs.set(i, (j = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), closed: 0 }))
    return j
  }
  const parser = new BatchParser(nonce, (e) => {
    events.push(e)
    if (!('job' in e)) return
    const j = job(e.job)
    if (e.kind === 'output') j[e.stream] = Buffer.concat([j[e.stream], e.data])
    else if (e.kind === 'start') j.pgid = e.pgid
    else if (e.kind === 'end') j.end = e.end
    else if (e.kind === 'closed') j.closed++
    if (j.end && j.closed === 2) {
      j.at = Date.now() - t0
      waiting.get(e.job)?.()
    }
  })
  const [file, ...args] = o.argv ?? [shell, '-s']
  const child = spawn(file!, args, { detached: o.detached ?? true, stdio: 'pipe', ...(o.env ? { env: o.env } : {}) })
  started.push(child)
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  child.stdout.on('data', (c: Buffer) => parser.write(c))
  child.stdin.on('error', () => {})
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)))
  child.stdin.write(batchPreamble(nonce))
  return {
    nonce,
    events,
    exited,
    stderr: () => stderr,
    send(i: number, opts: Partial<BatchJobOptions> & { argv: BatchJobOptions['argv'] }) {
      child.stdin.write(batchJobBody({ lookup: [0], killGraceS: 1, ...opts })(i))
    },
    kill: (pgid: number, graceS = 1) => child.stdin.write(batchKill(pgid, graceS)),
    end: () => child.stdin.end(),
    /** job i once its end and both its streams' ends are in */
    done: (i: number) => new Promise<JobState>((r) => (job(i).at !== undefined ? r(job(i)) : waiting.set(i, () => r(job(i))))),
    started: async (i: number) => {
      for (let n = 0; job(i).pgid === undefined && n < 400; n++) await sleep(10)
      return job(i).pgid!
    },
  }
}

describe('BatchParser', () => {
  const nonce = 'n0nce'
  const collect = (chunks: Buffer[]) => {
    const events: BatchEvent[] = []
    const p = new BatchParser(nonce, (e) => events.push(e))
    for (const c of chunks) p.write(c)
    return events
  }
  const stream = Buffer.from(
    [
      'login chatter',
      `${nonce} R`,
      `${nonce} 0 s 1234`,
      `${nonce} 0 o ${Buffer.from('hi\n').toString('base64')}`,
      `other ${nonce} 0 x 9`,
      `${nonce} 0 e ${Buffer.from([0xff, 0]).toString('base64')}`,
      `${nonce} 0 x 3`,
      `${nonce} 1 x n 2`,
      `${nonce} 2 x c`,
      `${nonce} 0 o`,
      `${nonce} 0 e`,
      `${nonce}x 0 x 1`,
      `${nonce} F tools missing`,
      `${nonce} 0 x 3 4`,
      '',
    ].join('\n'),
  )

  it('reads frames (the nonce first) into events and ignores every other line', () => {
    expect(collect([stream])).toEqual([
      { kind: 'ready' },
      { kind: 'start', job: 0, pgid: 1234 },
      { kind: 'output', job: 0, stream: 'stdout', data: Buffer.from('hi\n') },
      { kind: 'output', job: 0, stream: 'stderr', data: Buffer.from([0xff, 0]) },
      { kind: 'end', job: 0, end: { kind: 'exit', code: 3 } },
      { kind: 'end', job: 1, end: { kind: 'notfound', index: 2 } },
      { kind: 'end', job: 2, end: { kind: 'cwd' } },
      { kind: 'closed', job: 0, stream: 'stdout' },
      { kind: 'closed', job: 0, stream: 'stderr' },
      { kind: 'unsupported', reason: 'tools missing' },
    ])
  })

  it('gives the same events however the stream is cut', () => {
    const whole = collect([stream])
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), stream.length]
        expect(collect(at.slice(1).map((end, i) => stream.subarray(at[i], end)))).toEqual(whole)
      }),
    )
    expect(collect([...stream].map((b) => Buffer.from([b])))).toEqual(whole)
  })

  it('drops an endless foreign line without keeping it, and reads the frames after it', () => {
    const events = collect([Buffer.alloc(3 << 20, 'x'), Buffer.from(`\n${nonce} 5 x 0\n`)])
    expect(events).toEqual([{ kind: 'end', job: 5, end: { kind: 'exit', code: 0 } }])
  })
})

describe.each(SHELLS)('the batch script under %s', (shell) => {
  it('runs jobs side by side and reports each: exit code, not found, missing folder, env, input and argv bytes', async () => {
    const b = batch(shell)
    const input = randomBytes(100_000)
    const words = ['a b', "it's", '$(x)', '', Buffer.from([0xff, 0x27, 0x80])]
    const t0 = Date.now()
    b.send(0, { argv: ['sh', '-c', 'sleep 0.4; printf "%s|%s" "$A" "${B-unset}"; echo oops >&2; exit 7'], env: { A: "x 'y'", B: undefined } })
    b.send(1, { argv: ['cat'], input })
    b.send(2, { argv: ['printf', '%s\\000', ...words] })
    b.send(3, { argv: ['nbs-no-such-command', 'x'] })
    b.send(4, { argv: ['true'], cwd: '/nonexistent' })
    b.send(5, { argv: ['env', 'X=1', 'sh', '-c', 'sleep 0.4; pwd; echo $X'], cwd: '/tmp' })
    b.send(6, { argv: ['/nonexistent/tool'] })
    const [j0, j1, j2, j3, j4, j5, j6] = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => b.done(i)))
    expect(Date.now() - t0).toBeLessThan(2000) // the two 0.4 s sleeps ran at once
    expect(j0).toMatchObject({ end: { kind: 'exit', code: 7 }, stdout: Buffer.from("x 'y'|unset"), stderr: Buffer.from('oops\n') })
    expect(j1.end).toEqual({ kind: 'exit', code: 0 })
    expect(j1.stdout.equals(input)).toBe(true)
    expect(j2.stdout).toEqual(Buffer.concat(words.flatMap((w) => [Buffer.from(w), Buffer.from([0])])))
    expect(j3).toMatchObject({ end: { kind: 'notfound', index: 0 } })
    expect(j3.pgid).toBeUndefined()
    expect(j4.end).toEqual({ kind: 'cwd' })
    expect(j4.stderr.toString()).toContain('/nonexistent')
    expect(j5).toMatchObject({ end: { kind: 'exit', code: 0 }, stdout: Buffer.from('/tmp\n1\n') })
    expect(j6.end).toEqual({ kind: 'notfound', index: 0 })
    expect(b.events[0]).toEqual({ kind: 'ready' })
    b.end()
    expect(await b.exited).toBe(0)
  })

  it("a job's own IFS never breaks its frames", async () => {
    const b = batch(shell)
    b.send(0, { argv: ['sh', '-c', 'echo ok; exit 4'], env: { IFS: ':' } })
    b.send(1, { argv: ['true'], cwd: '/nonexistent', env: { IFS: ' x0123456789' } })
    b.send(2, { argv: ['nbs-no-such-command'], env: { IFS: ' n' } })
    const [j0, j1, j2] = await Promise.all([0, 1, 2].map((i) => b.done(i)))
    expect(j0).toMatchObject({ end: { kind: 'exit', code: 4 }, stdout: Buffer.from('ok\n') })
    expect(j1.end).toEqual({ kind: 'cwd' })
    expect(j2.end).toEqual({ kind: 'notfound', index: 0 })
    b.end()
    expect(await b.exited).toBe(0)
  })

  it('relays any bytes exactly, and a command printing frames cannot fake one', async () => {
    const b = batch(shell)
    const fake = [`${b.nonce} 0 x 0`, `${b.nonce} R`, `${b.nonce} 1 o aGk=`, `${b.nonce} 1 x 9`, `${b.nonce} 1 o`, `${b.nonce} 1 e`].join('\n') + '\n'
    b.send(0, { argv: ['sh', '-c', 'printf "%s" "$1"; printf "%s" "$1" >&2; exit 3', 'sh', fake] })
    b.send(1, { argv: ['sh', '-c', 'sleep 0.3; echo real'] })
    const [j0, j1] = await Promise.all([b.done(0), b.done(1)])
    expect(j0).toMatchObject({ end: { kind: 'exit', code: 3 }, stdout: Buffer.from(fake), stderr: Buffer.from(fake) })
    expect(j1).toMatchObject({ end: { kind: 'exit', code: 0 }, stdout: Buffer.from('real\n') })
    let i = 2
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (data) => {
        const n = i++
        b.send(n, { argv: ['cat'], input: Buffer.from(data) })
        expect((await b.done(n)).stdout).toEqual(Buffer.from(data))
      }),
      { numRuns: 30 },
    )
  })

  it("a kill stops one command's process group (TERM, then KILL after the grace) and leaves the others running", async () => {
    const b = batch(shell)
    const stubborn = mark()
    const other = mark()
    b.send(0, { argv: ['sh', '-c', `trap '' TERM; sleep ${stubborn}`] })
    b.send(1, { argv: ['sh', '-c', `sleep ${other} & sleep 1.2; echo still here; kill $!`] })
    const pgid = await b.started(0)
    await b.started(1)
    expect(await appears(`sleep ${stubborn}`, 3000)).not.toBe('')
    const t0 = Date.now()
    b.kill(pgid, 1)
    const j0 = await b.done(0)
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(j0.end).toEqual({ kind: 'exit', code: 137 })
    expect(await gone(`sleep ${stubborn}`, 2000)).toBe('')
    expect(pgrep(`sleep ${other}`)).not.toBe('')
    expect(await b.done(1)).toMatchObject({ end: { kind: 'exit', code: 0 }, stdout: Buffer.from('still here\n') })
  })

  it('takes jobs while it runs; the end of its stdin kills every running group, TERM-proof ones after the grace', async () => {
    const b = batch(shell)
    const [m0, m1] = [mark(), mark()]
    b.send(0, { argv: ['sleep', m0] })
    await b.started(0)
    await sleep(200)
    b.send(1, { argv: ['sh', '-c', `trap '' TERM; sleep ${m1}`] })
    await b.started(1)
    b.send(2, { argv: ['echo', 'late'] })
    expect((await b.done(2)).stdout.toString()).toBe('late\n')
    expect(pgrep(`sleep ${m0}`)).not.toBe('')
    b.end()
    expect(await gone(`sleep ${m0}`, 1000)).toBe('')
    expect(await gone(`sleep ${m1}`, 4000)).toBe('')
  })

  it('what a command leaves running in its group is killed, and its output ends when the group lets go', async () => {
    const b = batch(shell)
    const left = mark()
    b.send(0, { argv: ['sh', '-c', `sleep ${left} & echo hi`] })
    const j0 = await b.done(0)
    expect(j0).toMatchObject({ end: { kind: 'exit', code: 0 }, stdout: Buffer.from('hi\n') })
    expect(await gone(`sleep ${left}`, 1000)).toBe('')
  })

  it('refuses (F) without base64, and leaves at once', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'nbs-batch-bin-'))
    try {
      for (const tool of ['setsid', 'sleep', 'awk']) {
        const where = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
        symlinkSync(where, join(bin, tool))
      }
      const shellPath = spawnSync('sh', ['-c', `command -v ${shell}`], { encoding: 'utf8' }).stdout.trim()
      const b = batch(shell, { argv: [shellPath, '-s'], env: { PATH: bin } })
      expect(await b.exited).toBe(0)
      expect(b.events).toEqual([{ kind: 'unsupported', reason: 'setsid (one that takes --), sleep, base64 or awk is missing' }])
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it('refuses (F) when base64 cannot wrap lines (a relay would lose output)', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'nbs-batch-bin-'))
    try {
      for (const tool of ['setsid', 'sleep', 'awk']) symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), join(bin, tool))
      // a base64 that knows no -w, as some small systems have
      writeFileSync(join(bin, 'base64'), '#!/bin/sh\ncase $1 in -w) echo "base64: unknown option -w" >&2; exit 1 ;; esac\n', { mode: 0o755 })
      const shellPath = spawnSync('sh', ['-c', `command -v ${shell}`], { encoding: 'utf8' }).stdout.trim()
      const b = batch(shell, { argv: [shellPath, '-s'], env: { PATH: bin } })
      expect(await b.exited).toBe(0)
      expect(b.events).toEqual([{ kind: 'unsupported', reason: 'base64 -w or awk fflush() does not work' }])
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it('refuses (F) when its process group is not its session: its EXIT trap signals that group', async () => {
    // a group of its own inside the test's session (perl is Debian-essential)
    const b = batch(shell, { argv: ['perl', '-e', `setpgrp(0, 0); exec "${shell}", "-s"`], detached: false })
    expect(await b.exited).toBe(0)
    expect(b.events).toEqual([{ kind: 'unsupported', reason: 'the shell does not lead its own session' }])
  })
})
