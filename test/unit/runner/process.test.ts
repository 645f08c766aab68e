import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { descendantsOf, killTree } from '../../../src/runner/kill-tree.js'
import { runProcess, type ProcessResult } from '../../../src/runner/process.js'

/** A sleep duration no other process uses, so /proc can be scanned for exactly our sleepers. */
let uniq = 900_000 + Math.floor(Math.random() * 90_000)
const marker = () => String(++uniq)

/** Pids whose argv is exactly `sleep <n>`. */
function sleepers(n: string): number[] {
  const want = `sleep\0${n}\0`
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1') === want) out.push(Number(name))
    } catch {
      // exited meanwhile
    }
  }
  return out
}

/** Runs and, while it runs, records the most sleepers seen: proves the final check can fail. */
async function runWatching(n: string, run: () => Promise<ProcessResult>) {
  let seen = 0
  let done = false
  const p = run().finally(() => (done = true))
  while (!done) {
    seen = Math.max(seen, sleepers(n).length)
    await new Promise((r) => setTimeout(r, 10))
  }
  return { r: await p, seen }
}

const dir = mkdtempSync(join(tmpdir(), 'nbs-process-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('runProcess', () => {
  it('captures exit code, stdout and stderr', async () => {
    const r = await runProcess('sh', ['-c', 'echo out; echo err >&2; exit 3'])
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, aborted: false, notFound: false })
    expect(r.stdout).toEqual({ text: 'out\n', bytes: 4, truncated: false })
    expect(r.stderr).toEqual({ text: 'err\n', bytes: 4, truncated: false })
    expect(r.error).toBeUndefined()
  })

  it('reports a missing command as notFound, not as a throw', async () => {
    const r = await runProcess('nbs-no-such-command-xyz', ['a'])
    expect(r).toMatchObject({ notFound: true, exitCode: null })
  })

  it('reports a non-executable file and a missing cwd as errors, not notFound', async () => {
    const a = await runProcess('/etc/passwd', [])
    expect(a).toMatchObject({ notFound: false, exitCode: null })
    expect(a.error).toMatch(/permission denied/)
    const b = await runProcess('true', [], { cwd: join(dir, 'missing') })
    expect(b.notFound).toBe(false)
    expect(b.error).toBeTruthy()
  })

  it('passes arguments literally, without a shell', async () => {
    const touched = join(dir, 'touched')
    const args = ['a b', `"q" 'r'`, `$(touch ${touched})`, 'x; touch ' + touched, '`id`', '*', '']
    const r = await runProcess('printf', ['[%s]', ...args])
    expect(r.stdout.text).toBe(args.map((a) => `[${a}]`).join(''))
    expect(existsSync(touched)).toBe(false)
  })

  it('merges env, feeds input, runs in cwd and streams chunks', async () => {
    const chunks: string[] = []
    const r = await runProcess('sh', ['-c', 'echo "$NBS_T1 $HOME"; pwd; cat'], {
      env: { NBS_T1: 'yes' },
      input: 'from stdin',
      cwd: dir,
      onStdout: (c) => chunks.push(c.toString()),
    })
    expect(r.stdout.text).toBe(`yes ${process.env.HOME}\n${dir}\nfrom stdin`)
    expect(chunks.join('')).toBe(r.stdout.text)
  })

  it('runs the child as the leader of its own process group', async () => {
    const r = await runProcess('sh', ['-c', 'echo $$; ps -o pgid= -p $$'])
    const [pid, pgid] = r.stdout.text.trim().split(/\s+/)
    expect(pgid).toBe(pid)
  })

  it('on timeout kills the whole tree and settles promptly', async () => {
    const n = marker()
    const t = performance.now()
    const { r, seen } = await runWatching(n, () =>
      runProcess('sh', ['-c', `sleep ${n} & sleep ${n} & echo started; wait`], { timeoutMs: 300 }),
    )
    const ms = performance.now() - t
    expect(seen).toBe(2)
    expect(r).toMatchObject({ timedOut: true, aborted: false, exitCode: null })
    expect(r.stdout.text).toBe('started\n')
    expect(ms).toBeLessThan(3000)
    expect(sleepers(n)).toEqual([])
  })

  it('kills a grandchild that called setsid, and an orphaned one', async () => {
    const n = marker()
    // the first sleeper is a setsid child of sh; the second is orphaned by its subshell before
    // the kill, so neither the process group nor the ppid tree reaches it
    const script = `setsid sleep ${n} & (setsid sleep ${n} &); echo started; wait`
    const { r, seen } = await runWatching(n, () => runProcess('sh', ['-c', script], { timeoutMs: 400 }))
    expect(seen).toBe(2)
    expect(r.timedOut).toBe(true)
    expect(r.durationMs).toBeLessThan(3000)
    expect(sleepers(n)).toEqual([])
  })

  it('kills a child that ignores SIGTERM after the grace period', async () => {
    const n = marker()
    const script = `trap '' TERM; sleep ${n} & echo started; wait; wait`
    const { r, seen } = await runWatching(n, () =>
      runProcess('sh', ['-c', script], { timeoutMs: 200, killGraceMs: 300 }),
    )
    expect(seen).toBe(1)
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL' })
    expect(sleepers(n)).toEqual([])
  })

  it('on abort kills the tree', async () => {
    const n = marker()
    const ac = new AbortController()
    const { r, seen } = await runWatching(n, () =>
      runProcess('sh', ['-c', `sleep ${n} & echo started; wait`], {
        signal: ac.signal,
        onStdout: () => setTimeout(() => ac.abort(), 100),
      }),
    )
    expect(seen).toBe(1)
    expect(r).toMatchObject({ aborted: true, timedOut: false })
    expect(r.durationMs).toBeLessThan(3000)
    expect(sleepers(n)).toEqual([])
  })

  it('does not start when already aborted', async () => {
    const r = await runProcess('sh', ['-c', 'echo ran'], { signal: AbortSignal.abort() })
    expect(r).toMatchObject({ aborted: true, exitCode: null })
    expect(r.stdout.text).toBe('')
  })

  it('returns promptly when a leftover holds stdout, and kills the leftover', async () => {
    const n = marker()
    const { r, seen } = await runWatching(n, () =>
      runProcess('sh', ['-c', `sleep ${n} & echo bye`], { timeoutMs: 20_000 }),
    )
    expect(seen).toBe(1)
    expect(r).toMatchObject({ exitCode: 0, timedOut: false })
    expect(r.stdout.text).toBe('bye\n')
    expect(r.durationMs).toBeLessThan(1500)
    expect(sleepers(n)).toEqual([])
  })

  it('drainMs: keeps what a pipe holder writes after the child exited (an ssh session\'s ControlMaster), within the drain', async () => {
    // the child exits at once; another holder of its stderr writes the last line 400 ms later
    const late = ['-c', '(sleep 0.4; echo end-marker >&2) & exit 0']
    const waited = await runProcess('sh', late, { drainMs: 5000 })
    expect(waited).toMatchObject({ exitCode: 0, timedOut: false })
    expect(waited.stderr.text).toBe('end-marker\n')
    expect(waited.durationMs).toBeLessThan(3000) // the pipes closed: no need to wait the whole drain
    // the default drain (100 ms) gives up on the holder and kills it: the line is lost
    const short = await runProcess('sh', late)
    expect(short.stderr.text).toBe('')
  })

  it('kills leftovers that do not hold the pipes too', async () => {
    const n = marker()
    const { r, seen } = await runWatching(n, () =>
      runProcess('sh', ['-c', `sleep ${n} >/dev/null 2>&1 & sleep 0.2; echo bye`]),
    )
    expect(seen).toBe(1)
    expect(r.exitCode).toBe(0)
    expect(sleepers(n)).toEqual([])
  })

  it('bounds captured output: 200 MB in, about 1 MiB kept, memory flat', async () => {
    const rssBefore = process.memoryUsage().rss
    let peak = rssBefore
    const r = await runProcess('sh', ['-c', `head -c 200000000 /dev/zero | tr '\\0' 'x'; echo done >&2`], {
      onStdout: () => (peak = Math.max(peak, process.memoryUsage.rss())),
    })
    const growth = Math.max(peak, process.memoryUsage().rss) - rssBefore
    expect(r.exitCode).toBe(0)
    expect(r.stdout.truncated).toBe(true)
    expect(r.stdout.bytes).toBe(200_000_000)
    expect(r.stdout.text.length).toBeLessThanOrEqual(1024 * 1024 + 64)
    expect(r.stdout.text).toMatch(/^x+\n…\[truncated 198951424 bytes\]…\nx+$/)
    expect(r.stderr.text).toBe('done\n')
    expect(growth).toBeLessThan(100 * 1024 * 1024)
  }, 30_000)

  it('splits maxOutputBytes between head and tail', async () => {
    const r = await runProcess('sh', ['-c', 'printf 0123456789abcdefghij'], { maxOutputBytes: 8 })
    expect(r.stdout).toEqual({ text: '0123\n…[truncated 12 bytes]…\nghij', bytes: 20, truncated: true })
  })

  it('descendantsOf walks the ppid tree', async () => {
    const n = marker()
    const ac = new AbortController()
    let pid = 0
    const p = runProcess('sh', ['-c', `sh -c 'sleep ${n}; true' & echo $$; wait`], {
      signal: ac.signal,
      onStdout: (c) => (pid = Number(c.toString().trim())),
    })
    for (let i = 0; i < 300 && (pid === 0 || sleepers(n).length === 0); i++) {
      await new Promise((r) => setTimeout(r, 10))
    }
    const sleeper = sleepers(n)[0]
    const tree = descendantsOf(pid)
    ac.abort()
    await p
    expect(sleeper).toBeDefined()
    expect(tree).toHaveLength(2) // the inner sh and its sleeper, a grandchild
    expect(tree).toContain(sleeper)
    expect(descendantsOf(process.pid)).not.toContain(pid)
  })

  it('killTree kills a detached tree including setsid children, on its own', async () => {
    const n = marker()
    const child = spawn('sh', ['-c', `setsid sleep ${n} & sleep ${n} & wait`], { detached: true, stdio: 'ignore' })
    for (let i = 0; i < 300 && sleepers(n).length < 2; i++) await new Promise((r) => setTimeout(r, 10))
    expect(sleepers(n)).toHaveLength(2)
    const t = performance.now()
    await killTree(child.pid!, { graceMs: 500 })
    expect(performance.now() - t).toBeLessThan(1500)
    expect(sleepers(n)).toEqual([])
  })
})
