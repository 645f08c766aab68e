/** The runProcess options nbs build relies on (the rest of runProcess is tested in test/unit/runner). */
import { describe, expect, it } from 'vitest'
import type { Writable } from 'node:stream'
import { runProcess } from '../../../src/runner/process.js'

describe('runProcess options for an interactive build', () => {
  it('detached: false keeps the child in our process group and session (terminal, Ctrl-C)', async () => {
    const r = await runProcess('sh', ['-c', 'ps -o pgid= -o sid= -p $$'], { detached: false })
    const [pgid, sid] = r.stdout.text.trim().split(/\s+/).map(Number)
    const own = (await runProcess('ps', ['-o', 'pgid=', '-o', 'sid=', '-p', String(process.pid)])).stdout.text.trim().split(/\s+/).map(Number)
    expect([pgid, sid]).toEqual(own)
  })

  it("stdin: 'pipe' hands the writable end to onSpawn; capture: false keeps nothing but still streams", async () => {
    let stdin: Writable | null = null
    const chunks: string[] = []
    const r = await runProcess('cat', [], {
      stdin: 'pipe',
      capture: false,
      onSpawn: (c) => {
        stdin = c.stdin
        c.stdin?.end('hello\n')
      },
      onStdout: (c) => void chunks.push(c.toString()),
    })
    expect(stdin).not.toBeNull()
    expect(chunks.join('')).toBe('hello\n')
    expect(r.stdout).toEqual({ text: '', bytes: 0, truncated: false })
    expect(r.exitCode).toBe(0)
  })

  it('killSignal picks the first signal on abort from the abort reason (SIGINT forwarded as SIGINT)', async () => {
    const controller = new AbortController()
    const out: string[] = []
    const run = runProcess('sh', ['-c', 'trap "echo got INT; exit 7" INT; echo ready; while :; do sleep 0.05; done'], {
      detached: false,
      signal: controller.signal,
      killSignal: (reason) => (reason === 'SIGINT' ? 'SIGINT' : 'SIGTERM'),
      onStdout: (c) => {
        out.push(c.toString())
        if (c.toString().includes('ready')) controller.abort('SIGINT')
      },
    })
    const r = await run
    expect(out.join('')).toContain('got INT')
    expect(r).toMatchObject({ exitCode: 7, aborted: true })
  })
})
