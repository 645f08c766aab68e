/**
 * The booted bookworm container (container.ts) reached over real SSH, as nbs reaches a fleet host:
 * the container shares this machine's network and its own sshd (openssh-server, in the root)
 * listens on 127.0.0.1 at a port free for this boot. Everything that sshd and the client need is
 * made per run in temp dirs: the client's keys (one per user), a known_hosts pinning the root's
 * host keys (no StrictHostKeyChecking=no), an ssh_config for `-F`, and the sshd drop-in with the
 * port and the authorized keys, bind-mounted over the root's loopback-only default.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runProcess, type ProcessResult } from '../../src/runner/process.js'
import { bootContainer, type BootOptions, type Container } from './container.js'

export const SSH_HOST = '127.0.0.1'
/** Where the per-run server files are seen inside the container. */
const SERVER_DIR = '/etc/nbs-test'

export interface SshContainer {
  container: Container
  /** the port the container's sshd listens on, on 127.0.0.1 */
  port: number
  /** the client's ssh_config, for `ssh -F`: this run's key for each user (`%r_key`) and known_hosts */
  sshConfig: string
  /** `user@127.0.0.1` */
  destination(user?: string): string
  /** a user in the container (`useradd`, no password) who may log in with a key of their own */
  addUser(user: string, opts?: { groups?: string[] }): Promise<void>
  /** runs `argv` in the container over the real ssh client, as `user` (default root) */
  ssh(argv: readonly string[], user?: string): Promise<ProcessResult>
  /** stops the container, then removes this run's keys and configs; resolves with pids left inside */
  stop(): Promise<number[]>
}

/**
 * Boots the cached root with this machine's network and waits until its sshd answers `ssh root@…
 * true` with this run's key. The port is taken free for this boot; should another process grab it
 * before sshd binds it, the next free one is written into the drop-in and sshd restarted.
 */
export async function bootSshContainer(root: string, opts: Omit<BootOptions, 'network'> = {}): Promise<SshContainer> {
  const dir = await mkdtemp(join(tmpdir(), 'nbs-sshc-'))
  const client = join(dir, 'client')
  const server = join(dir, 'server')
  await mkdir(client, { mode: 0o700 })
  // read inside by sshd as each user (authorized keys): world-readable, writable by root only
  await mkdir(join(server, 'authorized_keys'), { recursive: true, mode: 0o755 })
  await chmod(dir, 0o755)
  await chmod(server, 0o755)
  const sshdConf = join(server, 'sshd.conf')
  let port = await freePort()
  await writeFile(sshdConf, sshdConfig(port), { mode: 0o644 })
  await addKey('root')

  const sshConfig = join(client, 'ssh_config')
  const knownHosts = join(client, 'known_hosts')
  await writeFile(sshConfig, clientConfig(client, knownHosts), { mode: 0o600 })

  let container: Container
  try {
    container = await bootContainer(root, {
      ...opts,
      network: 'host',
      bindRo: [...(opts.bindRo ?? []), `${server}:${SERVER_DIR}`, `${sshdConf}:/etc/ssh/sshd_config.d/nbs-test.conf`],
    })
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
  const stop = async () => {
    const left = await container.stop()
    await rm(dir, { recursive: true, force: true })
    return left
  }

  // ssh hands the remote shell one line: each word quoted, so argv arrives as given
  const ssh = (argv: readonly string[], user = 'root') =>
    runProcess('ssh', ['-F', sshConfig, '-p', String(port), `${user}@${SSH_HOST}`, '--', argv.map(shQuote).join(' ')], { timeoutMs: 30_000, stdin: 'ignore' })

  try {
    // the root's host keys, pinned for this port: the client refuses any other key
    const keys: string[] = []
    for (const name of (await readdir(`${root}/etc/ssh`)).filter((n) => /^ssh_host_.*_key\.pub$/.test(n)).sort()) {
      const [type, key] = (await readFile(`${root}/etc/ssh/${name}`, 'utf8')).trim().split(/\s+/)
      keys.push(`[${SSH_HOST}]:%PORT% ${type} ${key}`)
    }
    const writeKnownHosts = () => writeFile(knownHosts, keys.map((k) => k.replace('%PORT%', String(port))).join('\n') + '\n', { mode: 0o600 })
    await writeKnownHosts()

    const deadline = Date.now() + 60_000
    for (let attempt = 1; ; attempt++) {
      const state = await waitForUnit(container, 'ssh.service', deadline)
      if (state === 'active') break
      // the port was taken between freePort and sshd's bind: take another, in the same file
      if (attempt >= 3 || Date.now() > deadline) {
        const log = await container.exec('journalctl', ['-b', '-u', 'ssh.service', '--no-pager', '-n', '20'])
        throw new Error(`the container's ssh.service is ${state} (port ${port}):\n${log.stdout.text}`)
      }
      port = await freePort()
      await writeFile(sshdConf, sshdConfig(port))
      await writeKnownHosts()
      await container.exec('systemctl', ['reset-failed', 'ssh.service'])
      await container.exec('systemctl', ['restart', 'ssh.service'])
    }
    for (;;) {
      const r = await ssh(['true'])
      if (r.exitCode === 0) break
      if (Date.now() > deadline) throw new Error(`ssh root@${SSH_HOST} -p ${port} true still fails (${r.exitCode}): ${r.stderr.text.trim()}`)
      await sleep(250)
    }
  } catch (e) {
    await stop()
    throw e
  }

  return {
    container,
    get port() {
      return port
    },
    sshConfig,
    destination: (user = 'root') => `${user}@${SSH_HOST}`,
    async addUser(user, o = {}) {
      const groups = o.groups?.length ? ['-G', o.groups.join(',')] : []
      // `*`: no password, but not locked ("!"), which sshd would refuse even for a key
      const r = await container.exec('useradd', ['-m', '-s', '/bin/sh', '-p', '*', ...groups, user])
      if (r.exitCode !== 0) throw new Error(`useradd ${user}: ${r.stderr.text}`)
      await addKey(user)
    },
    ssh,
    stop,
  }

  async function addKey(user: string): Promise<void> {
    const key = join(client, `${user}_key`)
    const r = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `nbs-test-${user}`, '-f', key])
    if (r.exitCode !== 0) throw new Error(`ssh-keygen for ${user}: ${r.stderr.text}`)
    await writeFile(join(server, 'authorized_keys', user), await readFile(`${key}.pub`), { mode: 0o644 })
  }
}

/** The container's sshd for this boot: loopback only, its own port, keys only. */
function sshdConfig(port: number): string {
  return `# nbs tests: this boot's sshd (read before sshd_config, so these win)
ListenAddress ${SSH_HOST}
Port ${port}
AuthorizedKeysFile ${SERVER_DIR}/authorized_keys/%u
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
`
}

/** The client side: each remote user's own key, the pinned host keys, never a prompt. */
function clientConfig(client: string, knownHosts: string): string {
  return `# nbs tests: the container's sshd, with this run's keys
Host *
  IdentityFile ${client}/%r_key
  IdentitiesOnly yes
  UserKnownHostsFile ${knownHosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  LogLevel ERROR
`
}

/** A port nothing listens on right now, on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, SSH_HOST, () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Waits while `unit` is activating; answers its settled ActiveState (`active`, `failed`…). */
async function waitForUnit(container: Container, unit: string, deadline: number): Promise<string> {
  for (;;) {
    const state = (await container.exec('systemctl', ['show', '-P', 'ActiveState', unit])).stdout.text.trim()
    if (!['activating', 'reloading', 'inactive', ''].includes(state) || Date.now() > deadline) return state
    await sleep(200)
  }
}

const shQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
