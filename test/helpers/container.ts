import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { ExecOptions } from '../../src/checks/types.js'
import { runProcess, type ProcessResult } from '../../src/runner/process.js'

/**
 * A booted Debian bookworm container for tests against a real systemd. SAFETY: systemd is only
 * ever started by `systemd-nspawn -b -D <debootstrapped root>`; booted against this machine's own
 * root, its tmpfiles setup would empty the machine's /tmp.
 */

/** Outside /tmp on purpose: the root is reused across test files and runs. */
export const CACHE_DIR = process.env.NBS_TEST_CACHE ?? '/var/cache/nbs-test'
/** Bump when the units, packages or files below change, so an old cached root is not reused. */
export const ROOT_DIR = join(CACHE_DIR, 'bookworm-root-v3')
/** What debootstrap installs beyond minbase: systemd as init, an sshd for the machine checks over SSH, and real sudo for the activation tests (build-ng-unit). */
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'sudo']
/** Held (it names the holder's pid) while a test's container runs: one at a time, across files and worktrees. */
export const BOOT_LOCK = join(CACHE_DIR, 'boot.lock')
/** The container's host name (its /etc/hostname), not this machine's. */
export const CONTAINER_HOSTNAME = 'nbs-container'
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** The units the root boots with: one fails on purpose, one logs at priority err and stays active. */
const UNITS: Record<string, string> = {
  'nbs-broken.service': `[Unit]
Description=nbs test unit that fails on purpose
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "nbs-broken: disk quota exploded" >&2; exit 3'
[Install]
WantedBy=multi-user.target
`,
  // "<3>" is a syslog priority prefix: journald records the line at err (SyslogLevelPrefix=yes)
  'nbs-errlog.service': `[Unit]
Description=nbs test unit that logs an error and succeeds
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "<3>nbs-errlog: certificate expired"'
[Install]
WantedBy=multi-user.target
`,
}

/**
 * Files the root is built with, written over what debootstrap left. The sshd drop-in is the safe
 * default for a boot that shares this machine's network: loopback only. A boot that uses sshd
 * bind-mounts its own file over it (the port and keys of that run); read before sshd_config's own
 * settings, it wins.
 */
const FILES: Record<string, string> = {
  'etc/ssh/sshd_config.d/nbs-test.conf': 'ListenAddress 127.0.0.1\n',
  // debootstrap copies this machine's name; a name of its own tells the two apart over SSH
  'etc/hostname': `${CONTAINER_HOSTNAME}\n`,
  // sshd's PAM session reads it; missing, every login logs an error at err, counted by journal-errors
  'etc/default/locale': 'LANG=C.UTF-8\n',
}

/** Debian's mirror as this machine's apt is configured (deb822 `.sources`, else sources.list). */
export async function aptMirror(): Promise<string> {
  const dir = '/etc/apt/sources.list.d'
  const files = existsSync(dir) ? (await readdir(dir)).filter((f) => f.endsWith('.sources')).map((f) => join(dir, f)) : []
  for (const f of files) {
    for (const stanza of (await readFile(f, 'utf8')).split(/\n\s*\n/)) {
      const get = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? []
      if (get('Types').includes('deb') && get('Suites').includes('bookworm') && get('URIs')[0]) return get('URIs')[0]!
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? await readFile('/etc/apt/sources.list', 'utf8') : ''
  const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(list)
  if (m) return m[1]!
  throw new Error('no Debian bookworm mirror configured in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list')
}

/**
 * The cached bookworm root, built once with debootstrap (about a minute) into a scratch directory
 * and renamed into place, so a half-built root is never reused. A lock file keeps two test
 * workers from building it twice.
 */
export async function ensureBookwormRoot(): Promise<string> {
  await mkdir(CACHE_DIR, { recursive: true })
  const lock = `${ROOT_DIR}.lock`
  for (;;) {
    if (existsSync(ROOT_DIR)) return ROOT_DIR
    const held = await open(lock, 'wx').catch(() => undefined)
    if (held) {
      await held.writeFile(String(process.pid))
      await held.close()
      try {
        if (!existsSync(ROOT_DIR)) await buildRoot()
        return ROOT_DIR
      } finally {
        await rm(lock, { force: true })
      }
    }
    const owner = Number(await readFile(lock, 'utf8').catch(() => ''))
    if (owner && !alive(owner)) await rm(lock, { force: true }) // its builder died
    await new Promise((r) => setTimeout(r, 2000))
  }
}

async function buildRoot(): Promise<void> {
  await removeStalePartials()
  const partial = `${ROOT_DIR}.partial-${process.pid}`
  const mirror = await aptMirror()
  const args = ['--variant=minbase', `--include=${PACKAGES.join(',')}`, 'bookworm', partial, mirror]
  const r = await runProcess('debootstrap', args, { timeoutMs: 15 * 60_000, maxOutputBytes: 256 * 1024, env: { PATH } })
  if (r.exitCode !== 0) {
    await removeTree(partial)
    const log = await readFile(join(partial, 'debootstrap/debootstrap.log'), 'utf8').catch(() => '')
    throw new Error(`debootstrap ${args.join(' ')} failed (${r.error ?? r.exitCode}):\n${r.stderr.text}\n${r.stdout.text.slice(-2000)}\n${log.slice(-2000)}`)
  }
  const unitDir = join(partial, 'etc/systemd/system')
  await mkdir(join(unitDir, 'multi-user.target.wants'), { recursive: true })
  for (const [name, text] of Object.entries(UNITS)) {
    await writeFile(join(unitDir, name), text)
    await symlink(`/etc/systemd/system/${name}`, join(unitDir, 'multi-user.target.wants', name))
  }
  for (const [path, text] of Object.entries(FILES)) {
    await mkdir(dirname(join(partial, path)), { recursive: true })
    await writeFile(join(partial, path), text)
  }
  await rename(partial, ROOT_DIR)
}

/** Scratch roots of builders that died; debootstrap may have left /proc or /sys mounted inside. */
async function removeStalePartials(): Promise<void> {
  const prefix = `${ROOT_DIR.split('/').pop()}.partial-`
  for (const name of await readdir(CACHE_DIR)) {
    if (!name.startsWith(prefix) || alive(Number(name.slice(prefix.length)))) continue
    await removeTree(join(CACHE_DIR, name))
  }
}

/** Unmounts what is mounted below `dir`, then deletes it without crossing into another filesystem. */
async function removeTree(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
  for (const m of mounts) await runProcess('umount', ['-l', m])
  await runProcess('rm', ['-rf', '--one-file-system', '--', dir])
}

export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface Container {
  /** systemd-nspawn, the process this test started */
  nspawnPid: number
  /** the container's systemd (PID 1 inside) */
  initPid: number
  /** runs a program inside the container (all its namespaces) with a clean environment */
  exec(file: string, args?: readonly string[], opts?: ExecOptions): Promise<ProcessResult>
  /** what nspawn and the container printed (the last 64 KiB) */
  output(): string
  /** orderly shutdown, then SIGKILL after `graceMs`; resolves with pids left in the container's pid namespace */
  stop(graceMs?: number): Promise<number[]>
}

export interface BootOptions {
  /** `HOST:CONTAINER` paths bind-mounted read-only */
  bindRo?: string[]
  /** `HOST:CONTAINER` paths bind-mounted read-write (what the test changes from here while it runs) */
  bind?: string[]
  /**
   * `private` (default): a network namespace of its own, loopback only. `host`: this machine's
   * network, so a server inside is reached on 127.0.0.1 from here; nspawn keeps CAP_NET_ADMIN from
   * such a container, so it cannot change this machine's interfaces, and the root's sshd listens
   * on 127.0.0.1 only.
   */
  network?: 'private' | 'host'
  timeoutMs?: number
}

/**
 * Boots `root` with `systemd-nspawn -b` as our child and waits for `systemctl is-system-running`
 * to answer running or degraded. Without systemd on the host nspawn needs `--register=no`
 * (no machined) and `--keep-unit` (no scope unit over D-Bus); `--volatile=overlay` puts a tmpfs
 * over the read-only root, so the cached root stays clean. One container at a time across every
 * test file and worktree (`bootLock`): held from here until `stop()` has returned.
 */
export async function bootContainer(root: string, opts: BootOptions = {}): Promise<Container> {
  const args = ['-b', '-D', root, '--register=no', '--keep-unit', ...(opts.network === 'host' ? [] : ['--private-network']), '--volatile=overlay']
  args.push('--console=pipe', '-q', `--machine=nbs-test-${process.pid}`)
  args.push(...(opts.bindRo ?? []).map((b) => `--bind-ro=${b}`), ...(opts.bind ?? []).map((b) => `--bind=${b}`))
  const release = await bootLock(10 * 60_000)
  try {
    return await boot(args, opts.timeoutMs ?? 120_000, release)
  } catch (e) {
    await release()
    throw e
  }
}

async function boot(args: string[], timeoutMs: number, release: () => Promise<void>): Promise<Container> {
  const child = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-64 * 1024)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = false
  const gone = new Promise<void>((resolve) =>
    child.once('close', () => {
      exited = true
      resolve()
    }),
  )
  if (child.pid === undefined) throw new Error('systemd-nspawn could not be started (is systemd-container installed?)')
  const nspawnPid = child.pid

  const deadline = Date.now() + timeoutMs
  const fail = async (why: string): Promise<never> => {
    child.kill('SIGKILL')
    await gone
    throw new Error(`container did not boot: ${why}\nsystemd-nspawn ${args.join(' ')}\n${out}`)
  }
  let initPid = 0
  while (!initPid) {
    if (exited) await fail(`systemd-nspawn exited (${child.exitCode})`)
    if (Date.now() > deadline) await fail('no init process appeared')
    // nspawn's child becomes the container's PID 1 once it has executed systemd
    for (const pid of await childrenOf(nspawnPid)) {
      if ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'systemd') initPid = pid
    }
    if (!initPid) await sleep(100)
  }
  const pidns = await readlink(`/proc/${initPid}/ns/pid`)
  const exec: Container['exec'] = (file, a = [], o) =>
    runProcess('nsenter', ['-t', String(initPid), '-a', '--', 'env', '-i', `PATH=${PATH}`, 'LANG=C.UTF-8', file, ...a], o)

  let state = ''
  while (state !== 'running' && state !== 'degraded') {
    if (exited) await fail(`systemd-nspawn exited (${child.exitCode})`)
    if (Date.now() > deadline) await fail(`systemctl is-system-running still says "${state}"`)
    state = (await exec('systemctl', ['is-system-running'])).stdout.text.trim()
    if (state !== 'running' && state !== 'degraded') await sleep(250)
  }

  const stop = async (graceMs = 60_000): Promise<number[]> => {
    if (!exited) {
      child.kill('SIGTERM') // nspawn asks the container's systemd for an orderly halt
      const timer = setTimeout(() => {
        if (alive(initPid)) process.kill(initPid, 'SIGKILL') // takes its whole pid namespace along
        child.kill('SIGKILL')
      }, graceMs)
      await gone
      clearTimeout(timer)
    }
    await release()
    return pidsInNamespace(pidns)
  }
  return { nspawnPid, initPid, exec, output: () => out, stop }
}

/**
 * A lock file naming its holder's pid: waits while a live process holds it, takes it over from a
 * dead one. Resolves with its release (idempotent).
 */
async function bootLock(timeoutMs: number): Promise<() => Promise<void>> {
  await mkdir(CACHE_DIR, { recursive: true })
  const lock = BOOT_LOCK
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const held = await open(lock, 'wx').catch(() => undefined)
    if (held) {
      await held.writeFile(String(process.pid))
      await held.close()
      let released = false
      return async () => {
        if (released) return
        released = true
        await rm(lock, { force: true })
      }
    }
    const owner = Number(await readFile(lock, 'utf8').catch(() => ''))
    // an empty file is a holder between open and write, unless it stayed empty (that holder died)
    const stale = owner ? !alive(owner) : Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now()) > 10_000
    if (stale) await rm(lock, { force: true })
    else if (Date.now() > deadline) throw new Error(`another test's container still holds ${lock} (pid ${owner || 'unknown'})`)
    else await sleep(500)
  }
}

async function childrenOf(ppid: number): Promise<number[]> {
  const found: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '')
    // the command name may contain spaces and parentheses: the fields after the last ")" are fixed
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[1]) === ppid) found.push(Number(name))
  }
  return found
}

/** Pids still in the pid namespace whose /proc/PID/ns/pid link reads `ns`. */
export async function pidsInNamespace(ns: string): Promise<number[]> {
  const left: number[] = []
  for (const name of await readdir('/proc')) {
    if (/^\d+$/.test(name) && (await readlink(`/proc/${name}/ns/pid`).catch(() => '')) === ns) left.push(Number(name))
  }
  return left
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
