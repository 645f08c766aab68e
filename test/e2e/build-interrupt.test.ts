/**
 * Interrupting `nbs build` as a terminal does: the signal goes to the WHOLE foreground process
 * group (nbs, the tool, Nix, the activation), here by running nbs in its own group and signalling
 * the group (`kill -INT -PGID`), and once through a real pty (`script`) writing ^C. The tools are
 * the test doubles (nh, nixos-rebuild: not installable on Debian 12) running REAL Nix; the
 * activation is the fixture's switch-to-configuration stand-in, which takes NBS_STC_SECONDS and
 * appends to NBS_STC_MARKER when it starts, completes, or catches a signal (a SIGKILLed one leaves
 * `started` alone). Without systemd as PID 1 the nixos-rebuild double activates as its own child,
 * as nh does; the transient-unit case (nixos-rebuild-ng) needs the booted container (not here).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import type { BuildRecord } from '../../src/build/record.js'
import { runBuild } from '../../src/build/wrapper.js'
import { BUILD_BASE_PATH, freshBuildFlake, NIX_ENV } from '../helpers/nix.js'
import { CLI, pidsMatching, REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const DOUBLES = join(REPO_ROOT, 'test/doubles')
const FIXTURES = join(REPO_ROOT, 'test/fixtures/build-flakes')
const tmp = mkdtempSync(join(tmpdir(), 'nbs-build-int-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const basePath = BUILD_BASE_PATH
/** PATH with exactly one tool double (and no nom: output is piped anyway) */
function toolBin(tool: 'nh' | 'nixos-rebuild'): string {
  const dir = join(tmp, `bin-${tool}`)
  if (!existsSync(dir)) {
    mkdirSync(dir)
    symlinkSync(join(DOUBLES, tool), join(dir, tool))
  }
  return dir
}

let seq = 0
/** A fresh copy of a fixture flake (new nonce: every store path changes), as a `path:` ref. */
const freshFlake = (name: string): string => freshBuildFlake(tmp, name)

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** `nbs build os <action>` in its own process group (a terminal's foreground job), with the stand-in's hooks. */
function start(tool: 'nh' | 'nixos-rebuild', action: string, host: string, stcSeconds = 0, extraEnv: Record<string, string> = {}) {
  const dir = join(tmp, `case-${++seq}`)
  const [logs, root, cwd] = ['logs', 'root', 'cwd'].map((d) => join(dir, d)) as [string, string, string]
  for (const d of [logs, root, cwd]) mkdirSync(d, { recursive: true })
  const marker = join(dir, 'stc-marker')
  writeFileSync(marker, '')
  const env: Record<string, string> = {
    ...NIX_ENV,
    PATH: `${toolBin(tool)}:${basePath}`,
    NBS_LOG_DIR: logs,
    NBS_DOUBLE_ROOT: root,
    NBS_STC_MARKER: marker,
    ...(stcSeconds ? { NBS_STC_SECONDS: String(stcSeconds) } : {}),
    ...extraEnv,
  }
  const child = execa(process.execPath, [CLI, 'build', 'os', action, '--flake', freshFlake('good'), '--host', host, '--root', root], {
    cwd,
    env,
    stdin: 'ignore',
    detached: true, // its own group, as a shell makes a foreground job: signalled below as a terminal does
    reject: false,
  })
  let err = ''
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const pgid = child.pid!
  return {
    child,
    err: () => err,
    marks: () => readFileSync(marker, 'utf8').trim().split('\n').filter(Boolean),
    /** what a terminal does on Ctrl-C: SIGINT to every process of the foreground group */
    ctrlC: () => process.kill(-pgid, 'SIGINT'),
    last: (): BuildRecord => JSON.parse(readFileSync(join(logs, 'last-build.json'), 'utf8')),
  }
}

needs('nix').describe('Ctrl-C and SIGTERM during activation never reach it', () => {
  it.each(['nh', 'nixos-rebuild'] as const)('%s: Ctrl-C to the whole group (twice, thrice) during activation: it completes, nbs waits and records it', async (tool) => {
    const b = start(tool, 'switch', 'demo', 3)
    await waitFor('activation to start', () => b.marks().some((m) => m.startsWith('started')))
    b.ctrlC()
    await sleep(300)
    b.ctrlC()
    await sleep(300)
    b.ctrlC()
    const r = await b.child
    const marks = b.marks()
    // the stand-in ran to its end: no SIGINT reached it, nothing killed it
    expect(marks.filter((m) => /^(started|completed|signal) test|^(started|completed|signal) switch/.test(m)).map((m) => m.replace(/ \d+$/, ''))).toEqual(
      tool === 'nh' ? ['started test', 'completed test'] : ['started switch', 'completed switch'],
    )
    expect(marks.some((m) => m.startsWith('signal'))).toBe(false)
    expect(b.err()).toMatch(/nbs: interrupt — activation is running; waiting for it to finish/)
    expect(b.err()).not.toMatch(/stopping the build now/)
    const rec = b.last()
    // nbs waited: the switch completed, so the result is the tool's, and the interrupt is only told
    expect(rec).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'completed', success: true, exitCode: 0 })
    expect(r.exitCode).toBe(0)
    expect(b.err()).toMatch(/nbs: build succeeded in .*\(SIGINT during activation: nbs waited for it\)/)
  })

  it('units fail during an interrupted activation: recorded as failed, not as killed', async () => {
    const b = start('nixos-rebuild', 'test', 'units-fail', 2)
    await waitFor('activation to start', () => b.marks().some((m) => m.startsWith('started')))
    b.ctrlC()
    await b.child
    expect(b.marks().map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'completed test'])
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'failed' })
    expect(b.last().errorDetails.some((d) => d.kind === 'activation')).toBe(true)
  })

  it('nh 3.6 (exits 0 when activation fails), Ctrl-C during an activation whose units fail: recorded failed, exit 1', async () => {
    const b = start('nh', 'test', 'units-fail', 2, { NBS_DOUBLE_VERSION: '3.6' })
    await waitFor('activation to start', () => b.marks().some((m) => m.startsWith('started')))
    b.ctrlC()
    const r = await b.child
    expect(b.marks().map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'completed test'])
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'failed', success: false, exitCode: 1 })
    expect(r.exitCode).toBe(1)
  })

  it('SIGTERM to nbs alone (a CI cancel) during activation: not forwarded, activation completes', async () => {
    const b = start('nh', 'test', 'demo', 2)
    await waitFor('activation to start', () => b.marks().some((m) => m.startsWith('started')))
    b.child.kill('SIGTERM')
    const r = await b.child
    expect(b.marks().map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'completed test'])
    expect(b.err()).toMatch(/nbs: SIGTERM — activation is running; waiting for it to finish/)
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGTERM', activation: 'completed', success: true })
    expect(r.exitCode).toBe(0)
  })

  it('a dropped ssh session (SIGHUP to the whole group) during activation: it completes, nbs records it', async () => {
    const b = start('nh', 'test', 'demo', 2)
    await waitFor('activation to start', () => b.marks().some((m) => m.startsWith('started')))
    process.kill(-b.child.pid!, 'SIGHUP')
    const r = await b.child
    expect(b.marks().map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'completed test'])
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGHUP', activation: 'completed', success: true })
    expect(r.exitCode).toBe(0)
  })

  it('Ctrl-C held down through the activation and the recording after it: the record is still written', async () => {
    const b = start('nixos-rebuild', 'test', 'demo', 1)
    await waitFor('activation to start', () => b.marks().some((m) => m.startsWith('started')))
    const held = setInterval(() => {
      try {
        b.ctrlC()
      } catch {
        // the group is gone
      }
    }, 25)
    const r = await b.child.finally(() => clearInterval(held))
    expect(b.marks().map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'completed test'])
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'completed', success: true })
    expect(r.exitCode).toBe(0)
  })

  it('through a real pty: ^C typed during activation does not reach it', async () => {
    const dir = join(tmp, `pty-${++seq}`)
    const [logs, root] = [join(dir, 'logs'), join(dir, 'root')]
    mkdirSync(logs, { recursive: true })
    mkdirSync(root, { recursive: true })
    const marker = join(dir, 'marker')
    writeFileSync(marker, '')
    // `script` runs the command on a new pty as its session's foreground job and copies our bytes
    // to it: a 0x03 byte becomes SIGINT for that whole group, as a keyboard's Ctrl-C does
    const p = execa('script', ['-qfec', `"${process.execPath}" "${CLI}" build os switch --flake "$NBS_T_FLAKE" --host demo --root "$NBS_T_ROOT"`, '/dev/null'], {
      cwd: dir,
      env: { ...NIX_ENV, PATH: `${toolBin('nh')}:${basePath}`, NBS_LOG_DIR: logs, NBS_DOUBLE_ROOT: root, NBS_STC_MARKER: marker, NBS_STC_SECONDS: '3', NBS_T_FLAKE: freshFlake('good'), NBS_T_ROOT: root },
      stdin: 'pipe',
      reject: false,
    })
    let out = ''
    p.stdout!.on('data', (c: Buffer) => (out += c.toString()))
    await waitFor('activation to start', () => readFileSync(marker, 'utf8').includes('started'))
    p.stdin!.write('\u0003')
    await sleep(500)
    p.stdin!.write('\u0003')
    await waitFor('nbs to finish', () => /nbs: build succeeded/.test(out), 60_000)
    p.stdin!.end()
    await p
    expect(readFileSync(marker, 'utf8').trim().split('\n').map((m) => m.replace(/ \d+$/, ''))).toEqual(['started test', 'completed test', 'started boot', 'completed boot'])
    expect(out).toMatch(/activation is running; waiting for it to finish/)
    expect(JSON.parse(readFileSync(join(logs, 'last-build.json'), 'utf8'))).toMatchObject({ interrupted: true, signal: 'SIGINT', activation: 'completed' })
  })
})

needs('nix').describe('Ctrl-C before activation stops the build', () => {
  async function slow(tool: 'nh' | 'nixos-rebuild', extraEnv: Record<string, string> = {}) {
    const before = new Set(await pidsMatching('sleep 120'))
    const b = start(tool, 'switch', 'slow', 0, extraEnv)
    let builders: number[] = []
    await waitFor('the builder to start', async () => (builders = (await pidsMatching('sleep 120')).filter((p) => !before.has(p))).length > 0)
    return { ...b, builders }
  }
  const running = async (pids: number[]) => {
    const now = new Set(await pidsMatching('sleep 120'))
    return pids.filter((p) => now.has(p))
  }

  it.each(['nh', 'nixos-rebuild'] as const)('%s: one Ctrl-C to the group stops the build, says a second one stops it now; nothing activated', async (tool) => {
    const b = await slow(tool)
    b.ctrlC()
    const r = await b.child
    expect(b.err()).toMatch(/nbs: interrupt — waiting for the build to stop; Ctrl-C again to stop it now/)
    expect(r.exitCode).toBe(130)
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGINT', success: false })
    expect(b.last().activation).toBeUndefined()
    expect(b.marks()).toEqual([])
    expect(await running(b.builders)).toEqual([])
  })

  it('a second Ctrl-C before activation stops it at once', async () => {
    // a tool that takes a minute to stop after nbs's SIGTERM: only the second Ctrl-C ends it soon
    const b = await slow('nixos-rebuild', { NBS_DOUBLE_SLOW_STOP: '60' })
    const t0 = Date.now()
    b.ctrlC()
    await waitFor('the first interrupt to be acknowledged', () => /Ctrl-C again to stop it now/.test(b.err()))
    b.ctrlC()
    const r = await b.child
    expect(Date.now() - t0).toBeLessThan(30_000) // not the tool's minute, nor a 10 s kill grace twice over
    expect(b.err()).toMatch(/nbs: stopping the build now/)
    expect(r.exitCode).toBe(130)
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGINT' })
    expect(b.marks()).toEqual([])
    expect(await running(b.builders)).toEqual([])
  })

  it('SIGTERM to nbs alone before activation is forwarded: the build stops, recorded interrupted by SIGTERM', async () => {
    const b = await slow('nh')
    b.child.kill('SIGTERM')
    const r = await b.child
    expect(b.err()).toMatch(/nbs: SIGTERM — stopping the build/)
    expect(r.exitCode).toBe(143)
    expect(b.last()).toMatchObject({ interrupted: true, signal: 'SIGTERM' })
    expect(b.marks()).toEqual([])
    expect(await running(b.builders)).toEqual([])
  })
})

describe('Ctrl-C without nbs (how the stand-in shows harm)', () => {
  it('the stand-in records a SIGINT that reaches it (what nbs prevents)', async () => {
    const dir = mkdtempSync(join(tmp, 'stc-'))
    const stc = join(dir, 'stc')
    writeFileSync(stc, readFileSync(join(FIXTURES, 'good/switch-to-configuration'), 'utf8').replace('@failUnits@', ''), { mode: 0o755 })
    const marker = join(dir, 'marker')
    const p = execa(stc, ['test'], { env: { NBS_STC_MARKER: marker, NBS_STC_SECONDS: '5' }, detached: true, reject: false })
    await waitFor('it to start', () => existsSync(marker))
    await sleep(100)
    process.kill(-p.pid!, 'SIGINT')
    await p
    expect(readFileSync(marker, 'utf8')).toMatch(/^started test \d+\nsignal INT test\n$/)
  })
})

/** The screen a terminal shows after these bytes: text, \r, \n, cursor up (ESC[nA), erase down (ESC[J). */
function screen(bytes: string): string[] {
  const rows: string[] = ['']
  let row = 0
  let col = 0
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c === '\u001b') {
      const m = /^\u001b\[(\??[0-9;]*)([A-Za-z])/.exec(bytes.slice(i))
      if (!m) continue
      i += m[0].length - 1
      if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || 1))
      else if (m[2] === 'J') {
        rows[row] = rows[row]!.slice(0, col)
        rows.length = row + 1
      } else if (m[2] === 'K') rows[row] = rows[row]!.slice(0, col)
      continue
    }
    if (c === '\r') col = 0
    else if (c === '\n') {
      row++
      col = 0
      if (rows.length <= row) rows.push('')
    } else {
      const line = rows[row]!.padEnd(col)
      rows[row] = line.slice(0, col) + c + line.slice(col + 1)
      col++
    }
  }
  return rows
}

needs('nix').describe('nom and the terminal', () => {
  const tty = () => {
    const all: string[] = []
    const stream = { isTTY: true, columns: 100, write: (c: string | Uint8Array) => void all.push(Buffer.from(c).toString()) }
    return { all, io: { stdout: stream, stderr: stream } }
  }
  const env = (dir: string, extra: Record<string, string> = {}) => ({
    ...process.env,
    ...NIX_ENV,
    PATH: `${DOUBLES}:${basePath}`,
    NBS_LOG_DIR: join(dir, 'logs'),
    NBS_DOUBLE_ROOT: join(dir, 'root'),
    ...extra,
  })

  it('the tool\'s plain lines go above nom\'s box, and nom is stopped before a password prompt: nothing is drawn over', async () => {
    const dir = join(tmp, `nom-${++seq}`)
    mkdirSync(join(dir, 'root'), { recursive: true })
    const prompt = '[sudo] password for tester: '
    // through the CLI, to answer the prompt on stdin; NH_NOM=1 makes nbs use nom on a pipe too
    const p = execa(process.execPath, [CLI, 'build', 'os', 'test', '--tool', 'nixos-rebuild', '--flake', freshFlake('good'), '--host', 'demo', '--root', join(dir, 'root')], {
      cwd: dir,
      env: env(dir, { NBS_DOUBLE_PROMPT: prompt, NH_NOM: '1' }),
      stdin: 'pipe',
      all: true, // one terminal: stdout and stderr interleaved as written
      reject: false,
    })
    let all = ''
    p.all!.on('data', (c: Buffer) => (all += c.toString()))
    // the user answers only once the prompt is on the screen
    await waitFor('the prompt', () => all.includes(prompt))
    const atPrompt = screen(all)
    p.stdin!.end('secret\n')
    const r = await p
    expect(r.exitCode).toBe(0)
    expect(atPrompt.at(-1)).toBe(prompt) // the prompt is the last thing on the screen, the cursor after it
    expect(atPrompt.some((l) => l.startsWith('┗━ ∑ ✔'))).toBe(true) // nom drew its last frame before
    const shown = screen(all)
    if (process.env.NBS_T_DEBUG) console.log(shown)
    expect(shown).toContain('building the system configuration...') // passthrough, not drawn over
    expect(shown.some((l) => l.startsWith('┗━ ∑ ✔'))).toBe(true) // nom's last frame, before the prompt
    expect(shown.findIndex((l) => l.startsWith(prompt))).toBeGreaterThan(shown.findIndex((l) => l.startsWith('┗━ ∑ ✔')))
    expect(shown).toContain('the following new units were started: nbs-demo.service') // activation output after nom
  })

  it('NH_NOM=0 turns nbs\'s own use of nom off; NH_NOM=1 on without a terminal', async () => {
    const dir = join(tmp, `nom-${++seq}`)
    mkdirSync(join(dir, 'root'), { recursive: true })
    const t = tty()
    await runBuild({ target: 'os', action: 'build', tool: 'nixos-rebuild', flake: freshFlake('good'), host: 'demo', io: t.io, env: env(dir, { NH_NOM: '0' }), cwd: dir })
    expect(t.all.join('')).not.toContain('nom (test double)')
    const out: string[] = []
    const pipe = { write: (c: string | Uint8Array) => void out.push(Buffer.from(c).toString()) }
    await runBuild({ target: 'os', action: 'build', tool: 'nixos-rebuild', flake: freshFlake('good'), host: 'demo', io: { stdout: pipe, stderr: pipe }, env: env(dir, { NH_NOM: '1' }), cwd: dir })
    expect(out.join('')).toContain('nom (test double)')
  })
})
