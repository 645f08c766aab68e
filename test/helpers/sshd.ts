/**
 * A real OpenSSH sshd for tests, started by the test itself: 127.0.0.1 only, its own host key,
 * user keys and config in a temp folder, stopped by pid. Never the system's service.
 *
 *   const sshd = await startSshd({ ports: 2 })
 *   sshMachine({ name: 'a', destination: sshd.hosts[0]!, sshOptions: ['-F', sshd.sshConfigFile], controlDir })
 *   await sshd.stop()
 *
 * Each port is a different "host" to the client: its own `Host` alias, and sshd sets
 * `NBS_TEST_HOST=<alias>` in the sessions it accepts there (`Match LocalPort` + `SetEnv`).
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { join } from 'node:path'
import { killTree } from '../../src/runner/kill-tree.js'

export const SSHD = '/usr/sbin/sshd'

export interface SshdOptions {
  /** how many ports to listen on (each a different alias), or the ports themselves; default 1 */
  ports?: number | number[]
  /** users whose `Host` aliases the client config gets, besides root (`<alias>-<user>`) */
  users?: string[]
  /** sshd's MaxSessions (default 10, sshd's own default) */
  maxSessions?: number
  /** sshd's MaxStartups (default 100, so parallel tests are not throttled) */
  maxStartups?: number
}

export interface Sshd {
  ports: number[]
  /** one `Host` alias per port, for root: `nbs-test-0`, `nbs-test-1`… */
  hosts: string[]
  /** a client config (`ssh -F`): the aliases, the user key, the pinned host key, IdentitiesOnly */
  sshConfigFile: string
  /** the alias of `hosts[i]` that logs in as `user` */
  hostFor(i: number, user: string): string
  /** an alias of port 0 whose key sshd does not know (Permission denied) */
  badKeyHost: string
  dir: string
  logFile: string
  pid: number
  /** sshd's log so far */
  log(): Promise<string>
  stop(): Promise<void>
}

/** A TCP port nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

function keygen(file: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nbs-test', '-f', file], { stdio: 'pipe' })
  if (r.status !== 0) throw new Error(`ssh-keygen ${file}: ${r.stderr?.toString() ?? r.error?.message}`)
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** Pids whose real uid is `uid`, from /proc. */
export function pidsOfUid(uid: number): number[] {
  if (!Number.isInteger(uid) || uid <= 0) return []
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))
      if (m && Number(m[1]) === uid) out.push(Number(entry))
    } catch {
      // gone
    }
  }
  return out
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const ports = Array.isArray(opts.ports)
    ? opts.ports
    : await Promise.all(Array.from({ length: opts.ports ?? 1 }, () => freePort()))
  if (new Set(ports).size !== ports.length) throw new Error(`startSshd: ports must differ: ${ports.join(', ')}`)
  // short: the client's ControlPath sockets do not live here, but keep paths readable anyway
  const dir = await mkdtemp('/tmp/nbs-sshd-')
  const hostKey = join(dir, 'host_key')
  const userKey = join(dir, 'user_key')
  const badKey = join(dir, 'bad_key')
  for (const k of [hostKey, userKey, badKey]) keygen(k)
  // sshd reads authorized_keys as the user logging in: other users (a fish-shell test user) too
  await chmod(dir, 0o755)
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${userKey}.pub`), { mode: 0o644 })
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ')
  await writeFile(join(dir, 'known_hosts'), ports.map((p) => `[127.0.0.1]:${p} ${hostPub}\n`).join(''))

  const hosts = ports.map((_, i) => `nbs-test-${i}`)
  const logFile = join(dir, 'sshd.log')
  const cfg = join(dir, 'sshd_config')
  await writeFile(
    cfg,
    [
      'ListenAddress 127.0.0.1',
      ...ports.map((p) => `Port ${p}`),
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no', // the keys sit under /tmp, which is world-writable
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `MaxSessions ${opts.maxSessions ?? 10}`,
      `MaxStartups ${opts.maxStartups ?? 100}`,
      'LogLevel VERBOSE',
      'PrintMotd no',
      ...ports.flatMap((p, i) => [`Match LocalPort ${p}`, `  SetEnv NBS_TEST_HOST=${hosts[i]}`]),
      '',
    ].join('\n'),
  )

  const users = ['root', ...(opts.users ?? [])]
  const hostFor = (i: number, user: string) => (user === 'root' ? hosts[i]! : `${hosts[i]}-${user}`)
  const block = (alias: string, port: number, user: string, key: string) =>
    [
      `Host ${alias}`,
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '',
    ].join('\n')
  const badKeyHost = 'nbs-test-badkey'
  const sshConfigFile = join(dir, 'ssh_config')
  await writeFile(
    sshConfigFile,
    [
      ...ports.flatMap((p, i) => users.map((u) => block(hostFor(i, u), p, u, userKey))),
      block(badKeyHost, ports[0]!, 'root', badKey),
      // addresses given directly (unreachable ports in tests): the same keys, nothing else
      block('127.0.0.1', 22, 'root', userKey).replace('  Port 22\n', ''),
    ].join('\n'),
  )

  // privilege separation folder sshd insists on; made only when missing
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true })
  const check = spawnSync(SSHD, ['-t', '-f', cfg], { stdio: 'pipe' })
  if (check.status !== 0) throw new Error(`sshd -t: ${check.stderr.toString().trim()}`)
  const child = spawn(SSHD, ['-D', '-e', '-f', cfg, '-E', logFile], { stdio: 'ignore', detached: true })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${SSHD}`)
  let exited = false
  child.once('exit', () => (exited = true))
  child.unref()

  const stop = async () => {
    if (!exited) await killTree(pid, { graceMs: 1000 })
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    if (exited) {
      const log = await readFile(logFile, 'utf8').catch(() => '')
      await stop()
      throw new Error(`sshd exited at start: ${log.trim().split('\n').slice(-3).join(' | ')}`)
    }
    if ((await Promise.all(ports.map(accepts))).every(Boolean)) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`sshd did not accept on ${ports.join(', ')} within 10 s`)
    }
    await sleep(20)
  }
  return { ports, hosts, sshConfigFile, hostFor, badKeyHost, dir, logFile, pid, log: () => readFile(logFile, 'utf8'), stop }
}

/**
 * A throwaway local user (the sshd runs on this machine) with `shell` as login shell, whose
 * password is `*` (not locked: sshd without PAM refuses locked accounts even for keys).
 */
export async function addUser(shell: string): Promise<{ name: string; home: string; remove(): Promise<void> }> {
  const name = `nbst${Math.random().toString(36).slice(2, 8)}`
  const run = (file: string, args: string[]) => {
    const r = spawnSync(file, args, { stdio: 'pipe' })
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr?.toString().trim() ?? r.error?.message}`)
  }
  run('useradd', ['-m', '-s', shell, '-p', '*', name])
  const home = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[5] ?? `/home/${name}`
  return {
    name,
    home,
    remove: async () => {
      // its leftover processes first (by pid: it is our throwaway user), or userdel refuses
      const uid = Number((await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[2])
      for (const pid of pidsOfUid(uid)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone already
        }
      }
      await sleep(50)
      run('userdel', ['-r', name])
    },
  }
}
