/**
 * The scripts the ssh transport sends to `sh -s`, checked with the two shells that are `sh` on the
 * machines nbs reaches: dash (Debian) and bash (NixOS). No ssh here: the e2e suite runs them over it.
 */
import { gone, pgrep } from '../../helpers/pgrep.js'
import { spawn, spawnSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { execScript, isEnvName, MarkerFilter, printfCommands, printfFormat, RemoteScriptError, shQuote } from '../../../src/machine/remote-script.js'

const SHELLS = ['dash', 'bash'] as const
/** Runs `script` with `shell -s` (the script on stdin, as over ssh) and returns stdout's bytes. */
const runSh = (shell: string, script: Buffer) => {
  const r = spawnSync(shell, ['-s'], { input: script, maxBuffer: 64 << 20 })
  return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status }
}
const printArgs = (words: Buffer[]) => Buffer.concat([Buffer.from("printf '%s\\000' "), ...words.flatMap((w) => [w, Buffer.from(' ')]), Buffer.from('\n')])
const nulJoined = (args: Buffer[]) => Buffer.concat(args.flatMap((a) => [a, Buffer.from([0])]))

const HOSTILE = [
  'plain', 'with space', "it's", '"double"', 'back\\slash', '$(touch /tmp/nbs-pwned)', '`id`', 'a;b', 'a&b', 'a|b',
  'new\nline', 'tab\there', '*', '?', '[a-z]', '~', '-n', '--', '', "'", "''", "\\'", '%s%d', '$HOME', '${x:-y}', '!', '#c',
]

describe('shQuote', () => {
  it("wraps in single quotes and writes each ' as '\\''", () => {
    expect(shQuote('a b').toString()).toBe("'a b'")
    expect(shQuote("it's").toString()).toBe("'it'\\''s'")
    expect(shQuote('').toString()).toBe("''")
  })

  it('refuses a NUL, which no argv can carry, naming what held it', () => {
    expect(() => shQuote('a\0b', 'environment variable X')).toThrow(RemoteScriptError)
    expect(() => shQuote('a\0b', 'environment variable X')).toThrow(/environment variable X contains a NUL/)
  })

  for (const shell of SHELLS) {
    it(`${shell} reads every quoted word back byte for byte (hostile words, non-UTF-8, random bytes)`, () => {
      const fixed = [...HOSTILE.map((s) => Buffer.from(s)), Buffer.from([0xff, 0xfe, 0x80, 0x27, 0xc3]), Buffer.alloc(100_000, 'x')]
      expect(runSh(shell, printArgs(fixed.map((a) => shQuote(a)))).stdout).toEqual(nulJoined(fixed))
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a.map((b) => b || 1))), { minLength: 1, maxLength: 8 }), (args) => {
          expect(runSh(shell, printArgs(args.map((a) => shQuote(a)))).stdout).toEqual(nulJoined(args))
        }),
        { numRuns: 60 },
      )
    })
  }
})

describe('printfFormat', () => {
  it('escapes only what printf or the quotes would change', () => {
    expect(printfFormat(Buffer.from("a%b\\c'd")).toString()).toBe("'a%%b\\\\c\\047d'")
    expect(printfFormat(Buffer.from([0, 0x2d, 0x2d])).toString()).toBe("'\\000--'")
    expect(printfFormat(Buffer.from('-x')).toString()).toBe("'\\055x'")
  })

  for (const shell of SHELLS) {
    it(`${shell}'s printf writes the bytes back exactly, NULs included`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
          expect(runSh(shell, printfCommands(data, 50)).stdout).toEqual(Buffer.from(data))
        }),
        { numRuns: 60 },
      )
    })
  }
})

describe('isEnvName', () => {
  it('accepts sh names only', () => {
    for (const ok of ['A', '_x', 'PATH', 'a1_B']) expect(isEnvName(ok)).toBe(true)
    for (const bad of ['', '1A', 'A-B', 'A B', 'A=B', 'é', 'A;rm']) expect(isEnvName(bad)).toBe(false)
  })
})

describe('MarkerFilter', () => {
  const nonce = 'abc123'
  const marker = Buffer.from(`\0nbs-${nonce} exit 42\n`)
  const run = (chunks: Buffer[]) => {
    const out: Buffer[] = []
    const f = new MarkerFilter(nonce, (c) => out.push(Buffer.from(c)))
    for (const c of chunks) f.write(c)
    f.flush()
    return { text: Buffer.concat(out), end: f.end }
  }

  it('takes the marker out wherever the chunks split it, and passes the rest on unchanged', () => {
    const stream = Buffer.concat([Buffer.from('before\0x\0nbs-wrong exit 1\n'), marker, Buffer.from('after')])
    const want = Buffer.from('before\0x\0nbs-wrong exit 1\nafter')
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += 3) {
        const r = run([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)])
        expect(r.text).toEqual(want)
        expect(r.end).toEqual({ kind: 'exit', code: 42 })
      }
    }
  })

  it('gives back a held prefix that never became a marker, and reads notfound and cwd', () => {
    expect(run([Buffer.from(`x\0nbs-${nonce} ex`)])).toEqual({ text: Buffer.from(`x\0nbs-${nonce} ex`), end: undefined })
    expect(run([Buffer.from(`\0nbs-${nonce} notfound 2\n`)]).end).toEqual({ kind: 'notfound', index: 2 })
    expect(run([Buffer.from(`\0nbs-${nonce} cwd\n`)]).end).toEqual({ kind: 'cwd' })
    const long = Buffer.concat([Buffer.from(`\0nbs-${nonce} `), Buffer.alloc(100, 'y')])
    expect(run([long]).text).toEqual(long) // too long to be a marker: not held
  })
})

/** Runs an exec script as ssh would: `shell -s`, stdin kept open; `close()` is the channel closing. */
function startScript(shell: string, script: Buffer) {
  const child = spawn(shell, ['-s'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  child.stdin.write(script)
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => out.push(c))
  child.stderr.on('data', (c: Buffer) => err.push(c))
  const done = new Promise<number | null>((r) => child.once('close', (code) => r(code)))
  return {
    close: () => child.stdin.end(),
    done: done.then((code) => {
      child.stdin.destroy()
      return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }
    }),
  }
}

describe('execScript', () => {
  it('refuses bad environment names and NULs before anything runs', () => {
    expect(() => execScript({ argv: ['true'], lookup: [0], env: { 'A-B': 'x' }, nonce: 'n', killGraceS: 1 })).toThrow(/"A-B" is not a valid name/)
    expect(() => execScript({ argv: ['echo', 'a\0b'], lookup: [0], nonce: 'n', killGraceS: 1 })).toThrow(/NUL/)
  })

  for (const shell of SHELLS) {
    it(`${shell}: argv, env, cwd and input arrive byte for byte; the marker reports the exit code`, async () => {
      const args = [...HOSTILE.map((s) => Buffer.from(s)), Buffer.from([0xff, 0x00 + 1, 0xfe])]
      const input = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256))
      const s = startScript(
        shell,
        execScript({
          argv: ['sh', '-c', 'printf "%s\\000" "$@"; printf "[%s][%s]" "$NBS_A" "${NBS_GONE-unset}"; pwd; od -An -v -tx1 | tr -d " \\n"; echo; exit 7', 'sh', ...args],
          lookup: [0],
          env: { NBS_A: "x y'$z", NBS_GONE: undefined },
          cwd: '/tmp',
          input,
          nonce: 'n1',
          killGraceS: 1,
        }),
      )
      const r = await s.done
      expect(r.code).toBe(7)
      const out = r.stdout
      const argsEnd = out.indexOf(Buffer.from('[x y'))
      expect(out.subarray(0, argsEnd)).toEqual(nulJoined(args))
      const rest = out.subarray(argsEnd).toString().split('\n')
      expect(rest[0]).toBe("[x y'$z][unset]/tmp")
      expect(rest[1]).toBe(input.toString('hex'))
      expect(r.stderr.toString('latin1')).toBe('\0nbs-n1 exit 7\n')
    })

    it(`${shell}: a missing command or folder is reported by marker, not run`, async () => {
      const nf = await startScript(shell, execScript({ argv: ['nbs-no-such-command', 'x'], lookup: [0], nonce: 'n2', killGraceS: 1 })).done
      expect(nf.code).toBe(127)
      expect(nf.stderr.toString('latin1')).toBe('\0nbs-n2 notfound 0\n')
      const path = await startScript(shell, execScript({ argv: ['/nonexistent/bin/x'], lookup: [0], nonce: 'n3', killGraceS: 1 })).done
      expect(path.stderr.toString('latin1')).toBe('\0nbs-n3 notfound 0\n')
      const cwd = await startScript(shell, execScript({ argv: ['true'], lookup: [0], cwd: '/nonexistent', nonce: 'n4', killGraceS: 1 })).done
      expect(cwd.code).toBe(1)
      expect(cwd.stderr.toString('latin1')).toMatch(/\0nbs-n4 cwd\n$/)
    })

    it(`${shell}: closing stdin kills the command's whole group, TERM then KILL`, async () => {
      const mark = `300.${process.pid}${Date.now() % 100000}${shell.length}`
      // the inner sh ignores TERM (and so does its sleep): only the KILL after the grace ends them
      const s = startScript(shell, execScript({ argv: ['sh', '-c', `trap '' TERM; sleep ${mark}; echo never`], lookup: [0], nonce: 'n5', killGraceS: 1 }))
      const deadline = Date.now() + 5000
      while (!pgrep(`sleep ${mark}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(pgrep(`sleep ${mark}`)).not.toBe('')
      s.close()
      expect(await gone(mark, 5000)).toBe('')
      const r = await s.done
      expect(r.stdout.toString()).not.toContain('never')
    })

    it(`${shell}: background children left by the command go with it`, async () => {
      const mark = `301.${process.pid}${Date.now() % 100000}${shell.length}`
      const r = await startScript(shell, execScript({ argv: ['sh', '-c', `sleep ${mark} >/dev/null 2>&1 & echo started`], lookup: [0], nonce: 'n6', killGraceS: 1 })).done
      expect(r.stdout.toString()).toBe('started\n')
      expect(r.stderr.toString('latin1')).toBe('\0nbs-n6 exit 0\n')
      expect(await gone(mark, 3000)).toBe('')
    })
  }
})
