/**
 * The ssh Machine against a real OpenSSH sshd the suite starts itself on 127.0.0.1 (its own host
 * and user keys, stopped by pid), through the system's real ssh client. The sshd runs on this
 * machine, so what is left running "remotely" is checked here with pgrep. Two ports stand for two
 * hosts (sshd sets NBS_TEST_HOST per port); a throwaway user with fish as login shell proves that
 * the login shell never parses an argument.
 */
import { gone, pgrep } from '../helpers/pgrep.js'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { MachineError } from '../../src/machine/types.js'
import { controlPath, sshControlDir, sshMachine, type SshMachine, type SshMachineOptions } from '../../src/machine/ssh.js'
import { REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'
import { addUser, freePort, startSshd, type Sshd } from '../helpers/sshd.js'

let sshd: Sshd
let control: Awaited<ReturnType<typeof sshControlDir>>
let fish: Awaited<ReturnType<typeof addUser>>
let data: string
const machines: SshMachine[] = []

/** A machine for host alias `host` of the test sshd (its own config file: nothing of ~/.ssh applies). */
function machine(host: string, o: Partial<SshMachineOptions> = {}): SshMachine {
  const m = sshMachine({ name: host, destination: host, sshOptions: ['-F', sshd.sshConfigFile], controlDir: control.dir, connectTimeoutS: 5, ...o })
  machines.push(m)
  return m
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs argv on `m` and returns the exact bytes of its stdout (the capture is text; this is raw). */
async function rawStdout(m: SshMachine, file: string | Buffer, args: (string | Buffer)[], o: Parameters<SshMachine['exec']>[2] = {}) {
  const chunks: Buffer[] = []
  const r = await m.exec(file, args, { ...o, onStdout: (c) => chunks.push(Buffer.from(c)) })
  return { r, bytes: Buffer.concat(chunks) }
}
/** The pid of the master behind `socket`, as `ssh -O check` tells it. */
function masterPid(socket: string, host: string): number {
  const check = spawnSync('ssh', ['-F', sshd.sshConfigFile, '-o', `ControlPath=${socket}`, '-O', 'check', host], { encoding: 'utf8' })
  const pid = Number(/pid=(\d+)/.exec(check.stderr)?.[1])
  expect(pid).toBeGreaterThan(0)
  return pid
}
/** Runs `fn`; sshd's own log (LogLevel VERBOSE) says how many sessions it started and the most open at once. */
async function countingSessions<T>(fn: () => Promise<T>): Promise<{ value: T; sessions: { started: number; most: number } }> {
  const before = (await sshd.log()).length
  const value = await fn()
  await sleep(300) // sshd logs a session's close once its channel has closed
  let open = 0
  let most = 0
  let started = 0
  for (const line of (await sshd.log()).slice(before).split('\n')) {
    if (line.includes('Starting session: command')) {
      started++
      most = Math.max(most, ++open)
    } else if (line.includes('Close session:')) open = Math.max(0, open - 1)
  }
  return { value, sessions: { started, most } }
}
const nulJoined = (args: (string | Buffer)[]) => Buffer.concat(args.flatMap((a) => [Buffer.from(a), Buffer.from([0])]))

const HOSTILE: (string | Buffer)[] = [
  'plain', 'with space', "it's", '"double"', 'back\\slash', '$(touch /tmp/nbs-pwned)', '`id`', 'a;b', 'a&b', 'a|b', 'a>b',
  'new\nline', 'tab\there', 'cr\rhere', '*', '?', '[a-z]', '~', '-n', '--', '-e', '', "'", "''", "\\'", '%s%d', '$HOME',
  '${x:-y}', '!', '!!', '#c', '{a,b}', '(x)', 'é ü 漢字 😀', '\x1b[31mred', Buffer.from([0xff, 0xfe, 0x80, 0x27, 0xc3]),
  'x'.repeat(100_000),
]

needs('sshd', 'root', 'fish').describe('the ssh Machine, against a real sshd', () => {
  beforeAll(async () => {
    fish = await addUser('/usr/bin/fish')
    sshd = await startSshd({ ports: 2, maxSessions: 10, users: [fish.name] })
    control = await sshControlDir()
    data = join(sshd.dir, 'data')
    mkdirSync(data)
    for (let i = 0; i < 50; i++) symlinkSync(`/nix/store/hash${i}-nixos-system`, join(data, `system-${i}-link`))
    writeFileSync(join(data, 'file'), 'hello\nworld\n')
    mkdirSync(join(data, 'private'), { mode: 0o700 })
    writeFileSync(join(data, 'private', 'secret'), 'root only')
    chmodSync(join(data, 'private'), 0o700)
  }, 60_000)

  afterAll(async () => {
    await Promise.all(machines.map((m) => m.close()))
    await control?.dispose()
    await sshd?.stop()
    await fish?.remove()
  }, 60_000)

  it('connects once per host: description, live, no hostPath; two names are two masters, two hosts', async () => {
    const a = machine(sshd.hosts[0]!)
    const b = machine(sshd.hosts[1]!)
    expect(a.description).toBe(`ssh ${sshd.hosts[0]}`)
    expect(sshMachine({ name: 'x', destination: '10.0.0.7', user: 'root', port: 2222, controlDir: control.dir }).description).toBe('ssh root@10.0.0.7:2222')
    expect(a.live).toBe(true)
    expect(a.hostPath).toBeUndefined()
    expect(await a.connect()).toEqual({ ok: true })
    expect(await b.connect()).toEqual({ ok: true })
    const host = async (m: SshMachine) => (await m.exec('printenv', ['NBS_TEST_HOST'])).stdout.text.trim()
    expect([await host(a), await host(b)]).toEqual([sshd.hosts[0], sshd.hosts[1]])
    // the ControlPath is keyed by the inventory name: hashed, short
    const sockets = readdirSync(control.dir)
    expect(sockets.length).toBeGreaterThanOrEqual(2)
    for (const s of sockets) expect(s).toMatch(/^[0-9a-f]{16}$/)
    // sshd saw one connection per host, however many sessions ran over it
    for (let i = 0; i < 3; i++) await a.exec('true')
    const accepted = (await sshd.log()).split('\n').filter((l) => /Accepted publickey for root/.test(l))
    expect(accepted.length).toBe(2)
  })

  it('an alias of the same address under another name is another host with its own connection', async () => {
    const one = machine(sshd.hosts[0]!, { name: 'alias-one' })
    const two = machine(sshd.hosts[0]!, { name: 'alias-two' })
    expect((await one.exec('true')).exitCode).toBe(0)
    expect((await two.exec('true')).exitCode).toBe(0)
    await one.close()
    expect((await two.exec('echo', ['still here'])).stdout.text).toBe('still here\n')
  })

  for (const login of ['root', 'fish'] as const) {
    it(`argv reaches the command byte for byte with ${login === 'root' ? "root's bash" : 'fish'} as login shell (fixed hostile words and a fuzz)`, async () => {
      const m = login === 'root' ? machine(sshd.hosts[0]!, { name: 'fuzz-root' }) : machine(sshd.hostFor(0, fish.name), { name: 'fuzz-fish' })
      if (login === 'fish') {
        // the shell that ran our `sh -s` is fish: it leads the session (the command has its own)
        const r = await m.exec('sh', ['-c', 's=$(cut -d" " -f6 /proc/$PPID/stat); cat /proc/$s/comm'])
        expect(r.stdout.text.trim()).toBe('fish')
        expect((await m.exec('id', ['-un'])).stdout.text.trim()).toBe(fish.name)
      }
      const fixed = await rawStdout(m, 'printf', ['%s\\000', ...HOSTILE])
      expect(fixed.r).toMatchObject({ exitCode: 0 })
      expect(fixed.bytes).toEqual(nulJoined(HOSTILE))
      expect(existsSync('/tmp/nbs-pwned')).toBe(false)
      // the program's own name can be hostile and non-UTF-8 too: a link with such a name
      const odd = Buffer.concat([Buffer.from(join(data, "od'd $(x) ")), Buffer.from([0xff])])
      if (!existsSync(odd)) symlinkSync('/usr/bin/printf', odd)
      expect((await rawStdout(m, odd, ['%s', 'ran'])).bytes.toString()).toBe('ran')
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.string({ unit: 'grapheme', maxLength: 20 }),
              fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a.map((b) => b || 0x20))),
              fc.constantFrom(...HOSTILE.slice(0, -1)),
            ),
            { minLength: 1, maxLength: 12 },
          ),
          async (args) => {
            const args2 = args.map((a) => (typeof a === 'string' ? a.replace(/\0/g, ' ') : a))
            const { r, bytes } = await rawStdout(m, 'printf', ['%s\\000', ...args2])
            expect(r.exitCode).toBe(0)
            expect(bytes).toEqual(nulJoined(args2))
          },
        ),
        { numRuns: 25 },
      )
    }, 120_000)
  }

  it('environment through names that are checked, input byte for byte, stdin /dev/null by default, cwd', async () => {
    const m = machine(sshd.hostFor(0, fish.name), { name: 'env-fish' })
    const env = await m.exec('sh', ['-c', 'printf "[%s][%s]" "$NBS_A" "${HOME-unset}"; pwd'], { env: { NBS_A: "x 'y' $z\n", HOME: undefined }, cwd: '/tmp' })
    expect(env.stdout.text).toBe("[x 'y' $z\n][unset]/tmp\n")
    const bad = await m.exec('true', [], { env: { 'A-B': 'x' } })
    expect(bad).toMatchObject({ exitCode: null, error: expect.stringContaining('"A-B" is not a valid name') })
    const input = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31 + (i >> 8)) % 256))
    const cat = await rawStdout(m, 'cat', [], { input })
    expect(cat.bytes.equals(input)).toBe(true)
    expect((await m.exec('cat')).stdout.text).toBe('') // /dev/null, not the channel
    const cwd = await m.exec('true', [], { cwd: '/nonexistent' })
    expect(cwd.error).toContain('/nonexistent')
  })

  it('exit codes are the command\'s; 255 from the command is not an ssh failure; a missing command is notFound', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'codes' })
    expect((await m.exec('sh', ['-c', 'exit 3'])).exitCode).toBe(3)
    const own255 = await m.exec('sh', ['-c', 'echo "ssh: connect to host x port 22: Connection refused" >&2; exit 255'])
    expect(own255).toMatchObject({ exitCode: 255, notFound: false })
    expect(own255.error).toBeUndefined()
    expect(own255.stderr.text).toBe('ssh: connect to host x port 22: Connection refused\n')
    const missing = await m.exec('nbs-no-such-command', ['x'])
    expect(missing).toMatchObject({ notFound: true, exitCode: 127, error: 'command not found: nbs-no-such-command' })
    expect((await m.exec('/nonexistent/tool')).notFound).toBe(true)
    expect((await m.exec('sh', ['-c', 'exit 127'])).notFound).toBe(false)
  })

  it('a lost connection is an ssh error, not an exit code', async () => {
    const m = machine(sshd.hosts[1]!, { name: 'lost' })
    expect(await m.connect()).toEqual({ ok: true })
    const pid = masterPid(controlPath(control.dir, 'lost'), sshd.hosts[1]!)
    process.kill(pid, 'SIGKILL')
    await sleep(100)
    const r = await m.exec('true')
    expect(r.exitCode).toBeNull()
    expect(r.error).toMatch(/^ssh: the connection to nbs-test-1 was lost/)
    await expect(m.readFile('/etc/hostname')).rejects.toMatchObject({ name: 'MachineError', code: 'ESSH' })
  })

  it('an unreachable port: connect says ssh\'s own "Connection refused"; exec and reads carry it', async () => {
    const port = await freePort()
    const m = machine('127.0.0.1', { name: 'refused', port })
    const c = await m.connect()
    expect(c).toEqual({ ok: false, reason: `ssh: connect to host 127.0.0.1 port ${port}: Connection refused` })
    expect((await m.exec('true')).error).toBe(`ssh: connect to host 127.0.0.1 port ${port}: Connection refused`)
    await expect(m.readLink('/x')).rejects.toThrow(/Connection refused/)
  })

  it('a key sshd does not know: "Permission denied"', async () => {
    const c = await machine(sshd.badKeyHost).connect()
    expect(c.ok).toBe(false)
    expect(!c.ok && c.reason).toMatch(/Permission denied \(publickey\)/)
  })

  it('host keys are checked as configured: an unknown host key fails, never a prompt', async () => {
    const empty = join(sshd.dir, 'no_known_hosts')
    writeFileSync(empty, '')
    const m = machine(sshd.hosts[0]!, { name: 'unknown-key', sshOptions: ['-F', sshd.sshConfigFile, '-o', `UserKnownHostsFile=${empty}`] })
    const c = await m.connect()
    expect(c).toEqual({ ok: false, reason: 'Host key verification failed.' })
  })

  it('a timeout kills the remote process tree, even what ignores SIGTERM', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'timeout' })
    const mark = `300.${process.pid}${Date.now() % 1_000_000}`
    const started = Date.now()
    const r = await m.exec('sh', ['-c', `sleep ${mark}; echo never`], { timeoutMs: 1000 })
    expect(r).toMatchObject({ timedOut: true, exitCode: null })
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await gone(mark, 5000)).toBe('')
    const stubborn = `301.${process.pid}${Date.now() % 1_000_000}`
    const ctl = new AbortController()
    const p = m.exec('sh', ['-c', `trap '' TERM; sleep ${stubborn}; echo never`], { signal: ctl.signal })
    const deadline = Date.now() + 10_000
    while (!pgrep(`sleep ${stubborn}`) && Date.now() < deadline) await sleep(20)
    expect(pgrep(`sleep ${stubborn}`)).not.toBe('')
    ctl.abort()
    expect(await p).toMatchObject({ aborted: true })
    expect(await gone(stubborn, 6000)).toBe('')
  })

  it('bounded capture as locally, callbacks see every byte', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'capture' })
    let seenBytes = 0
    let errBytes = 0
    const r = await m.exec('sh', ['-c', 'head -c 3000000 /dev/zero | tr "\\0" a; echo oops >&2'], {
      maxOutputBytes: 1000,
      onStdout: (c) => (seenBytes += c.length),
      onStderr: (c) => (errBytes += c.length),
    })
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatchObject({ bytes: 3_000_000, truncated: true })
    expect(r.stdout.text.length).toBeLessThan(1100)
    expect(seenBytes).toBe(3_000_000)
    expect(errBytes).toBe(5) // "oops\n": the end marker never reaches the callback
    expect(r.stderr.text).toBe('oops\n')
  })

  it('at most maxSessions sessions at once: 20 execs that each need their own session (onSpawn) against sshd MaxSessions 10 all succeed, never more than 8 run', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'sessions' })
    const dir = join(sshd.dir, 'running')
    mkdirSync(dir)
    const count = 'touch "$1/$$"; sleep 0.6; ls "$1" | wc -l; rm "$1/$$"'
    const own = { onSpawn: () => {} }
    const { value: results, sessions } = await countingSessions(() => Promise.all(Array.from({ length: 20 }, () => m.exec('sh', ['-c', count, 'sh', dir], own))))
    expect(sessions.started).toBe(21) // and the connection's own, which the others do not need
    expect(sessions.most).toBeLessThanOrEqual(8)
    expect(results.map((r) => r.exitCode)).toEqual(Array(20).fill(0))
    const most = Math.max(...results.map((r) => Number(r.stdout.text.trim())))
    expect(most).toBeLessThanOrEqual(8)
    expect(most).toBeGreaterThanOrEqual(4) // they did run side by side
    const three = machine(sshd.hosts[0]!, { name: 'sessions-3', maxSessions: 3 })
    const r3 = await Promise.all(Array.from({ length: 9 }, () => three.exec('sh', ['-c', count, 'sh', dir], own)))
    expect(Math.max(...r3.map((r) => Number(r.stdout.text.trim())))).toBeLessThanOrEqual(3)
  }, 60_000)

  it('execs share sessions: 20 issued together run side by side in ONE session (the connection\'s own); one issued while they run joins it', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'batch-exec' })
    const dir = join(sshd.dir, 'running-batch')
    mkdirSync(dir)
    const count = 'touch "$1/$$"; sleep 0.8; ls "$1" | wc -l; rm "$1/$$"'
    const started = Date.now()
    const { value, sessions } = await countingSessions(async () => {
      expect(await m.connect()).toEqual({ ok: true })
      const first = Promise.all(Array.from({ length: 20 }, (_, i) => m.exec('sh', ['-c', `${count}; exit ${i % 3}`, 'sh', dir])))
      await sleep(300)
      const late = await m.exec('echo', ['late'])
      return { first: await first, late }
    })
    expect(sessions.started).toBe(1)
    expect(value.late).toMatchObject({ exitCode: 0, stdout: { text: 'late\n' } })
    expect(value.first.map((r) => r.exitCode)).toEqual(Array.from({ length: 20 }, (_, i) => i % 3))
    expect(Math.max(...value.first.map((r) => Number(r.stdout.text.trim())))).toBe(20)
    expect(Date.now() - started).toBeLessThan(8000)
  }, 30_000)

  it('in one session, a timeout kills that command\'s process group only: the other still returns its output', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'batch-timeout' })
    const mark = `302.${process.pid}${Date.now() % 1_000_000}`
    const stubborn = `303.${process.pid}${Date.now() % 1_000_000}`
    const ctl = new AbortController()
    const { value, sessions } = await countingSessions(async () => {
      expect(await m.connect()).toEqual({ ok: true })
      const hung = m.exec('sh', ['-c', `echo before; sleep ${mark}; echo never`], { timeoutMs: 1000 })
      const ignoresTerm = m.exec('sh', ['-c', `trap '' TERM; sleep ${stubborn}`], { signal: ctl.signal })
      const slow = m.exec('sh', ['-c', 'sleep 2; echo slow done'])
      const t0 = Date.now()
      const r = await hung
      const hungMs = Date.now() - t0
      const stillThere = pgrep(`sleep ${stubborn}`)
      ctl.abort()
      return { hung: r, hungMs, stillThere, slow: await slow, ignoresTerm: await ignoresTerm }
    })
    expect(value.hung).toMatchObject({ timedOut: true, exitCode: null, error: 'timed out after 1000 ms', stdout: { text: 'before\n' } })
    expect(value.hungMs).toBeLessThan(1900)
    expect(await gone(mark, 3000)).toBe('')
    expect(value.stillThere).not.toBe('') // the timeout took only its own command
    expect(value.ignoresTerm).toMatchObject({ aborted: true, exitCode: null })
    expect(await gone(stubborn, 4000)).toBe('')
    expect(value.slow).toMatchObject({ exitCode: 0, timedOut: false, stdout: { text: 'slow done\n' } })
    expect(sessions.started).toBe(1) // the kills went through that session, no other
  }, 30_000)

  it('a command printing 100 MB shares its session without holding up the others; its capture stays bounded', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'batch-huge' })
    expect(await m.connect()).toEqual({ ok: true })
    const order: string[] = []
    let seen = 0
    const huge = m
      .exec('sh', ['-c', 'head -c 100000000 /dev/zero | tr "\\0" x; echo end >&2'], { onStdout: (c) => (seen += c.length) })
      .then((r) => (order.push('huge'), r))
    // 300 ms apart: their order must not depend on how busy the machine is
    const quick = Array.from({ length: 3 }, (_, i) => m.exec('sh', ['-c', `sleep 0.${(i + 1) * 3}; echo quick ${i}`]).then((r) => (order.push(`quick ${i}`), r)))
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
    const rssBefore = process.memoryUsage().rss
    const [big, ...small] = await Promise.all([huge, ...quick])
    clearInterval(sampler)
    expect(small.map((r) => r.stdout.text)).toEqual(['quick 0\n', 'quick 1\n', 'quick 2\n'])
    expect(order.slice(0, 3)).toEqual(['quick 0', 'quick 1', 'quick 2'])
    expect(big).toMatchObject({ exitCode: 0, stdout: { bytes: 100_000_000, truncated: true }, stderr: { text: 'end\n' } })
    expect(big.stdout.text.length).toBeLessThan(1_100_000)
    expect(seen).toBe(100_000_000)
    expect(peak - rssBefore).toBeLessThan(200 * 1024 * 1024)
  }, 120_000)

  it('a session that dies (its connection lost) kills every command it ran, and says ssh', async () => {
    const m = machine(sshd.hosts[1]!, { name: 'batch-lost' })
    expect(await m.connect()).toEqual({ ok: true })
    const marks = [0, 1].map((i) => `30${4 + i}.${process.pid}${Date.now() % 1_000_000}`)
    const runs = marks.map((mark) => m.exec('sh', ['-c', `sleep ${mark}`]))
    const deadline = Date.now() + 10_000
    while (marks.some((mark) => !pgrep(`sleep ${mark}`)) && Date.now() < deadline) await sleep(20)
    process.kill(masterPid(controlPath(control.dir, 'batch-lost'), sshd.hosts[1]!), 'SIGKILL')
    for (const r of await Promise.all(runs)) {
      expect(r.exitCode).toBeNull()
      expect(r.error).toMatch(/^ssh: the connection to nbs-test-1 was lost/)
    }
    for (const mark of marks) expect(await gone(mark, 5000)).toBe('')
  }, 30_000)

  it('reads in the same tick are one command: 50 readLinks, and reads of every kind with an exec, all in the one session', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'batch' })
    const { value, sessions } = await countingSessions(async () => {
      expect(await m.connect()).toEqual({ ok: true })
      const links = await Promise.all(Array.from({ length: 50 }, (_, i) => m.readLink(join(data, `system-${i}-link`))))
      await sleep(800) // well past any linger: still the same session
      const mixed = await Promise.all([m.stat(join(data, 'file')), m.readDir(data), m.readFile(join(data, 'file')), m.hostname(), m.exec('echo', ['exec too'])])
      return { links, mixed, after: await m.readLink(join(data, 'system-3-link')) }
    })
    expect(sessions.started).toBe(1)
    expect(value.links).toEqual(Array.from({ length: 50 }, (_, i) => `/nix/store/hash${i}-nixos-system`))
    const [st, dir, text, host, echo] = value.mixed
    expect(st?.size).toBe(12)
    expect(dir?.sort()).toEqual(readdirSync(data).sort())
    expect(text).toBe('hello\nworld\n')
    expect(host).toBe(hostname())
    expect(echo.stdout.text).toBe('exec too\n')
    expect(value.after).toBe('/nix/store/hash3-nixos-system')
  })

  it('with maxSessions 1 the connection keeps no session of its own: a round of execs and reads is one session, then the next round another', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'one-session', maxSessions: 1 })
    const { value, sessions } = await countingSessions(async () => {
      expect(await m.connect()).toEqual({ ok: true })
      const first = await Promise.all([m.exec('echo', ['a']), m.readFile(join(data, 'file')), m.exec('sh', ['-c', 'exit 4'])])
      await sleep(800) // past the linger: that session closed
      const second = await Promise.all([m.exec('echo', ['b']), m.readLink(join(data, 'system-1-link'))])
      return { first, second }
    })
    expect(sessions).toEqual({ started: 2, most: 1 })
    const [a, file, four] = value.first
    expect([a.exitCode, a.stdout.text, file, four.exitCode]).toEqual([0, 'a\n', 'hello\nworld\n', 4])
    const [b, link] = value.second
    expect([b.stdout.text, link]).toEqual(['b\n', '/nix/store/hash1-nixos-system'])
  })

  it('reads: the same answers as the local fs; missing is null; refused is a MachineError with its code', async () => {
    const root = machine(sshd.hosts[0]!, { name: 'reads-root' })
    const f = join(data, 'file')
    const l = join(data, 'system-0-link')
    const local = statSync(f)
    expect(await root.stat(f)).toEqual({ type: 'file', size: local.size, mode: local.mode, uid: local.uid, gid: local.gid, mtimeMs: local.mtimeMs })
    const link = lstatSync(l)
    expect(await root.stat(l, { follow: false })).toMatchObject({ type: 'symlink', mode: link.mode, mtimeMs: link.mtimeMs })
    expect(await root.stat(l)).toBeNull() // dangling
    expect(await root.readFile(f, { maxBytes: 5 })).toBe('hello')
    expect(await root.realPath(join(data, '.', 'file'))).toBe(f)
    expect(await root.readLink(f)).toBeNull() // not a link
    for (const missing of [root.readFile('/nope'), root.readDir('/nope'), root.readLink('/nope/x'), root.realPath(l), root.stat('/nope')]) expect(await missing).toBeNull()
    expect(await root.readDir(join(data, 'private'))).toEqual(['secret'])

    const user = machine(sshd.hostFor(0, fish.name), { name: 'reads-fish' })
    const secret = join(data, 'private', 'secret')
    const refused = await Promise.allSettled([user.readDir(join(data, 'private')), user.readFile(secret), user.stat(secret), user.realPath(secret), user.readLink(secret)])
    for (const r of refused) {
      expect(r.status).toBe('rejected')
      const e = (r as PromiseRejectedResult).reason
      expect(e).toBeInstanceOf(MachineError)
      expect(e).toMatchObject({ code: 'EACCES', path: expect.stringContaining('private') })
    }
  })

  it('privilege prefixes exec only; reads run as the login user', async () => {
    const m = machine(sshd.hosts[0]!, { name: 'privileged', privilege: ['env', 'NBS_PRIVILEGED=yes'] })
    expect((await m.exec('printenv', ['NBS_PRIVILEGED'])).stdout.text).toBe('yes\n')
    const missing = machine(sshd.hosts[0]!, { name: 'privilege-missing', privilege: ['nbs-no-such-sudo', '-n'] })
    expect(await missing.exec('true')).toMatchObject({ notFound: true, error: 'command not found: nbs-no-such-sudo' })
    expect(await missing.readFile(join(data, 'file'))).toBe('hello\nworld\n')
  })

  it('close() ends the master: socket and process gone; closing twice is fine; nothing runs after', async () => {
    const m = machine(sshd.hosts[1]!, { name: 'closing' })
    expect(await m.connect()).toEqual({ ok: true })
    const path = controlPath(control.dir, 'closing')
    const pid = masterPid(path, sshd.hosts[1]!)
    await m.close()
    await m.close()
    expect(existsSync(path)).toBe(false)
    expect(existsSync(`/proc/${pid}`)).toBe(false)
    expect((await m.exec('true')).error).toMatch(/closed/)
  })

  it('the master never outlives nbs: a process that exits without close() takes it along', async () => {
    const script = join(sshd.dir, 'exits.mjs')
    writeFileSync(
      script,
      `import { spawnSync } from 'node:child_process'
import { controlPath, sshControlDir, sshMachine } from ${JSON.stringify(join(REPO_ROOT, 'dist/machine/ssh.js'))}
const [cfg, host] = process.argv.slice(2)
const { dir } = await sshControlDir()
const m = sshMachine({ name: 'exits', destination: host, sshOptions: ['-F', cfg], controlDir: dir })
const c = await m.connect()
const check = spawnSync('ssh', ['-F', cfg, '-o', 'ControlPath=' + controlPath(dir, 'exits'), '-O', 'check', host], { encoding: 'utf8' })
console.log(JSON.stringify({ c, dir, pid: Number(/pid=(\\d+)/.exec(check.stderr)?.[1]) }))
process.exit(0)
`,
    )
    const r = spawnSync(process.execPath, [script, sshd.sshConfigFile, sshd.hosts[0]!], { encoding: 'utf8', timeout: 30_000 })
    const out = JSON.parse(r.stdout) as { c: unknown; dir: string; pid: number }
    try {
      expect(out.c).toEqual({ ok: true })
      expect(out.pid).toBeGreaterThan(0)
      const deadline = Date.now() + 3000
      while (existsSync(`/proc/${out.pid}`) && Date.now() < deadline) await sleep(20)
      expect(existsSync(`/proc/${out.pid}`)).toBe(false)
    } finally {
      rmSync(out.dir, { recursive: true, force: true })
    }
  })

  it('nbs killed outright (SIGKILL, no exit hook): the commands its session ran are killed on the host, and its ssh is gone', async () => {
    const script = join(sshd.dir, 'killed.mjs')
    const marks = [0, 1].map((i) => `30${6 + i}.${process.pid}${Date.now() % 1_000_000}`)
    writeFileSync(
      script,
      `import { spawnSync } from 'node:child_process'
import { controlPath, sshControlDir, sshMachine } from ${JSON.stringify(join(REPO_ROOT, 'dist/machine/ssh.js'))}
const [cfg, host, ...marks] = process.argv.slice(2)
const { dir } = await sshControlDir()
const m = sshMachine({ name: 'killed', destination: host, sshOptions: ['-F', cfg], controlDir: dir })
await m.connect()
const check = spawnSync('ssh', ['-F', cfg, '-o', 'ControlPath=' + controlPath(dir, 'killed'), '-O', 'check', host], { encoding: 'utf8' })
for (const mark of marks) void m.exec('sh', ['-c', "trap '' TERM; sleep " + mark])
console.log(JSON.stringify({ dir, pid: Number(/pid=(\\d+)/.exec(check.stderr)?.[1]) }))
setInterval(() => {}, 1000)
`,
    )
    const child = spawn(process.execPath, [script, sshd.sshConfigFile, sshd.hosts[0]!, ...marks], { stdio: ['ignore', 'pipe', 'inherit'] })
    const line = await new Promise<string>((resolve) => child.stdout.once('data', (c: Buffer) => resolve(c.toString())))
    const out = JSON.parse(line) as { dir: string; pid: number }
    try {
      const deadline = Date.now() + 10_000
      while (marks.some((mark) => !pgrep(`sleep ${mark}`)) && Date.now() < deadline) await sleep(20)
      for (const mark of marks) expect(pgrep(`sleep ${mark}`)).not.toBe('')
      child.kill('SIGKILL')
      for (const mark of marks) expect(await gone(`sleep ${mark}`, 5000)).toBe('') // TERM-proof: KILL after the grace
      expect(out.pid).toBeGreaterThan(0)
      const until = Date.now() + 3000
      while (existsSync(`/proc/${out.pid}`) && Date.now() < until) await sleep(20)
      expect(existsSync(`/proc/${out.pid}`)).toBe(false)
    } finally {
      child.kill('SIGKILL')
      rmSync(out.dir, { recursive: true, force: true })
    }
  })
})
