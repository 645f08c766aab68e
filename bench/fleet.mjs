// (f) Fleet run over real ssh: 20 hosts that are aliases of one loopback sshd (started here, on
// 127.0.0.1, with its own host and user keys; stopped by pid), 5 command checks each in phase health:
//   nbs check --on '*' --parallel 20
// against Debian's parallel-ssh (pssh 2.3.4) running the same 5 commands in ONE session per host:
//   parallel-ssh -h hosts -x '-F cfg' -p 20 -t 300 -i 'uname -r; cat /proc/uptime; df -P /; test -d /etc; id -u'
// Round-robin (nbs, pssh, …) after one warm-up round, median of FLEET_RUNS (default 5). Every nbs run
// must pass (exit 0; 20 hosts × (reachable + 5 checks) passed in its JSON report) and every pssh run
// must print 20 [SUCCESS] lines, or the bench aborts: timing failures would mean nothing.
// For context: parallel-ssh with one session per command (5 invocations; FLEET_PER_COMMAND=0 leaves
// it out), one plain `ssh fleet-01 true` (one connection), and one session over an open connection
// (what an exec that needs a session of its own costs nbs). FLEET_USER=<user> logs in as another user (default root): every
// session starts that user's login shell, rc files included (Debian's bash reads ~/.bashrc for ssh).
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { CLI, isMain, measure, median, ms, NODE, printResult, readReport, requireBuild, row, timeRun } from './lib.mjs'

const HOSTS = 20
const RUNS = Number(process.env.FLEET_RUNS ?? 5)
const PER_COMMAND = process.env.FLEET_PER_COMMAND !== '0'
// the login user on the hosts (default root); its login shell runs every session, rc files included
const USER = process.env.FLEET_USER ?? 'root'
const TARGET = 1.3
const SSHD = '/usr/sbin/sshd'
const CHECKS = [
  { id: 'kernel', command: ['uname', '-r'] },
  { id: 'uptime', command: ['cat', '/proc/uptime'] },
  { id: 'disk', command: ['df', '-P', '/'] },
  { id: 'etc', command: ['test', '-d', '/etc'] },
  { id: 'uid', command: ['id', '-u'] },
]
const COMMANDS = CHECKS.map((c) => c.command)
const names = Array.from({ length: HOSTS }, (_, i) => `fleet-${String(i + 1).padStart(2, '0')}`)

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const accepts = (port) =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
  })

function run(file, args) {
  const r = spawnSync(file, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`)
  return r.stdout
}

/**
 * A real sshd on 127.0.0.1:<port> with its own host and user keys in a temp folder, and a client
 * config with HOSTS aliases of it. stop() kills it by pid and removes the folder; it also runs on
 * exit, on an error and on SIGINT/SIGTERM.
 */
export async function startFleetSshd() {
  const dir = mkdtempSync('/tmp/nbs-bench-sshd-')
  const hostKey = join(dir, 'host_key')
  const userKey = join(dir, 'user_key')
  for (const k of [hostKey, userKey]) run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nbs-bench', '-f', k])
  // sshd reads authorized_keys as the user logging in (FLEET_USER need not be root)
  chmodSync(dir, 0o755)
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`), { mode: 0o644 })
  const port = await freePort()
  const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`)
  const cfg = join(dir, 'sshd_config')
  const logFile = join(dir, 'sshd.log')
  writeFileSync(
    cfg,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no', // the keys sit under /tmp
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'PrintMotd no',
      '',
    ].join('\n'),
  )
  const sshConfig = join(dir, 'ssh_config')
  writeFileSync(
    sshConfig,
    names
      .map((n) =>
        [
          `Host ${n}`,
          '  HostName 127.0.0.1',
          `  Port ${port}`,
          `  User ${USER}`,
          `  IdentityFile ${userKey}`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
          '  GlobalKnownHostsFile /dev/null',
          '  StrictHostKeyChecking yes',
          '',
        ].join('\n'),
      )
      .join('\n'),
  )
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true })
  run(SSHD, ['-t', '-f', cfg])
  const child = spawn(SSHD, ['-D', '-e', '-f', cfg, '-E', logFile], { stdio: 'ignore', detached: true })
  let exited = false
  child.once('exit', () => (exited = true))
  child.unref()
  const pid = child.pid
  let stopped = false
  const before = []
  const stop = () => {
    if (stopped) return
    stopped = true
    for (const fn of before) fn()
    try {
      if (!exited && pid) process.kill(pid, 'SIGTERM')
    } catch {
      // gone already
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const onSignal = (sig) => {
    stop()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.once('exit', stop)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const deadline = Date.now() + 10_000
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ') : ''
      stop()
      throw new Error(`sshd did not start on 127.0.0.1:${port}: ${log}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  /** `fn` runs first when the sshd stops (a client process of the bench to end) */
  const onStop = (fn) => before.push(fn)
  return { dir, port, sshConfig, pid, stop, onStop }
}

/**
 * The nbs project (HOSTS config hosts, no flake folder, the COMMANDS as health checks) and the
 * parallel-ssh hosts file, in the sshd's temp folder.
 */
export function fleetProject({ dir, sshConfig }) {
  const project = join(dir, 'project')
  mkdirSync(join(project, 'checks'), { recursive: true })
  const configFile = join(project, 'nbs.config.json')
  const hosts = Object.fromEntries(names.map((n) => [n, { targetHost: n, sshOptions: ['-F', sshConfig] }]))
  // no flake folder: the inventory is the config's hosts alone
  writeFileSync(configFile, JSON.stringify({ include: ['checks/**/*.check.json'], builtins: false, flake: './no-flake-here', hosts }, null, 2))
  for (const { id, command } of CHECKS) writeFileSync(join(project, 'checks', `${id}.check.json`), JSON.stringify({ id, phase: 'health', command }))
  const hostsFile = join(dir, 'pssh-hosts')
  writeFileSync(hostsFile, names.map((n) => `${n}\n`).join(''))
  return { project, configFile, reportFile: join(project, 'report.json'), hostsFile }
}

/** `user`'s login shell from /etc/passwd, and whether it reads rc files for an ssh command. */
function loginShell(user) {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`))
  const shell = line?.split(':')[6] ?? '?'
  const home = line?.split(':')[5] ?? ''
  if (shell.endsWith('/bash')) return `${shell} (reads ${home}/.bashrc for every ssh command${existsSync(join(home, '.bashrc')) ? '' : ', absent here'})`
  return shell
}

/** Why this bench cannot run here (a missing program), or undefined. */
export function missing() {
  if (!existsSync(SSHD)) return `${SSHD} is missing: install openssh-server`
  for (const [tool, pkg] of [['ssh', 'openssh-client'], ['parallel-ssh', 'pssh']]) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return `${tool} is missing: install ${pkg}`
  }
  return undefined
}

export async function bench() {
  requireBuild()
  const why = missing()
  if (why) throw new Error(`bench/fleet.mjs: ${why}`)
  const sshd = await startFleetSshd()
  try {
    const { sshConfig } = sshd
    const { project, configFile, reportFile, hostsFile } = fleetProject(sshd)

    const nbs = () => {
      rmSync(reportFile, { force: true })
      const t0 = performance.now()
      const run = spawnSync(NODE, [CLI, 'check', '--config', configFile, '--on', '*', '--parallel', String(HOSTS), '--reporter', `json:${reportFile}`], { cwd: project, encoding: 'utf8', maxBuffer: 64 << 20 })
      const took = performance.now() - t0
      const r = existsSync(reportFile) ? readReport(reportFile) : undefined
      const results = r ? r.phases.flatMap((p) => p.checks) : []
      const passed = results.filter((c) => c.status === 'passed')
      const want = HOSTS * (COMMANDS.length + 1)
      const reachable = passed.filter((c) => c.id === 'reachable').length
      if (run.status !== 0 || r?.status !== 'passed' || r.hosts.length !== HOSTS || results.length !== want || passed.length !== want || reachable !== HOSTS) {
        const bad = results.filter((c) => c.status !== 'passed').map((c) => `  ${c.host} ${c.id}: ${c.status}${c.kind ? ` (${c.kind})` : ''} ${c.message ?? ''} ${c.stderr?.text ?? ''}`.trimEnd())
        throw new Error(
          `nbs run did not pass on all ${HOSTS} hosts (exit ${run.status ?? run.signal}): ${r ? `${r.status}, ${r.hosts.length} hosts, ${passed.length}/${results.length} results passed (want ${want}, ${reachable} reachable)` : 'no report'}\n${bad.join('\n') || run.stderr}`,
        )
      }
      return { ms: took, value: r.durationMs }
    }
    const pssh = (command) => () => {
      const { ms: took, stdout } = timeRun('parallel-ssh', ['-h', hostsFile, '-x', `-F ${sshConfig}`, '-p', String(HOSTS), '-t', '300', '-i', command])
      const ok = stdout.split('\n').filter((l) => /\[SUCCESS\] fleet-\d+$/.test(l)).length
      if (ok !== HOSTS) throw new Error(`parallel-ssh succeeded on ${ok} of ${HOSTS} hosts:\n${stdout.slice(-2000)}`)
      return took
    }
    const oneSession = pssh(COMMANDS.map((c) => c.join(' ')).join('; '))
    const perCommand = () => COMMANDS.reduce((sum, c) => sum + pssh(c.join(' '))(), 0)
    const sshTrue = () => timeRun('ssh', ['-F', sshConfig, 'fleet-01', 'true']).ms
    // one session over an open connection, as an nbs exec that needs its own gets (its own master, stopped by pid)
    const socket = join(sshd.dir, 'cm')
    const master = spawn('ssh', ['-F', sshConfig, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', `ControlPath=${socket}`, '-N', '-T', 'fleet-01'], { stdio: 'ignore' })
    sshd.onStop(() => master.exitCode === null && master.kill('SIGTERM'))
    for (const deadline = Date.now() + 20_000; !existsSync(socket); await new Promise((r) => setTimeout(r, 20))) {
      if (master.exitCode !== null || Date.now() > deadline) throw new Error(`ssh ControlMaster to fleet-01 did not start (exit ${master.exitCode})`)
    }
    const sessionTrue = () => timeRun('ssh', ['-F', sshConfig, '-o', 'ControlMaster=no', '-o', `ControlPath=${socket}`, '-T', 'fleet-01', 'true']).ms

    const m = measure(RUNS, { nbs, pssh: oneSession, ...(PER_COMMAND ? { perCommand } : {}), ssh: sshTrue, session: sessionTrue })
    const rows = [
      row(`${HOSTS} hosts × ${COMMANDS.length} checks: nbs check --on '*' --parallel ${HOSTS} vs parallel-ssh, ${COMMANDS.length} commands in one session per host`, m.nbs.median, m.pssh.median, { kind: 'ratio', max: TARGET }),
      row('  the same, nbs in-process (report durationMs) vs parallel-ssh', median(m.nbs.values), m.pssh.median),
    ]
    if (PER_COMMAND) rows.push(row(`  nbs vs parallel-ssh with one session per command (${COMMANDS.length} invocations)`, m.nbs.median, m.perCommand.median))
    rows.push(
      row('info: one connection (ssh fleet-01 true), one session over an open connection', `${ms(m.ssh.median)} connection`, `${ms(m.session.median)} session`),
    )
    return {
      title: `Fleet: ${HOSTS} ssh aliases of one loopback sshd, ${COMMANDS.length} command checks each (median of ${RUNS})`,
      rows,
      notes: [
        `baseline: parallel-ssh -h hosts -x '-F cfg' -p ${HOSTS} -t 300 -i '${COMMANDS.map((c) => c.join(' ')).join('; ')}'`,
        `nbs samples: ${m.nbs.samples.map((x) => x.toFixed(0)).join(', ')} ms; parallel-ssh samples: ${m.pssh.samples.map((x) => x.toFixed(0)).join(', ')} ms`,
        PER_COMMAND
          ? `parallel-ssh one session per command samples: ${m.perCommand.samples.map((x) => x.toFixed(0)).join(', ')} ms`
          : 'parallel-ssh with one session per command left out (FLEET_PER_COMMAND=0)',
        `sessions: nbs opens 1 connection and 1 session per host (the connection's own: the ${COMMANDS.length} checks' commands share one sh -s), parallel-ssh 1 connection with 1 session; each session starts ${USER}'s login shell ${loginShell(USER)}`,
      ],
    }
  } finally {
    sshd.stop()
  }
}

if (isMain(import.meta.url)) printResult(await bench())
