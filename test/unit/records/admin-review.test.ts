/**
 * What an admin-eye review of the record store found (issue 12): another user's dead lock in the
 * sticky /run/lock/nbs, a full disk under the records, and a debug bundle silently without its log.
 * Real users (useradd, setpriv) and a real tiny tmpfs; all removed after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, chownSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { markInProgress } from '../../../src/records/in-progress.js'
import { openBuildLog } from '../../../src/records/log.js'
import { needs } from '../../helpers/real.js'

const REPO = fileURLToPath(new URL('../../..', import.meta.url))
const DIST = join(REPO, 'dist')
// under /tmp (1777): the users reach it
const work = mkdtempSync('/tmp/nbs-admin-')
chmodSync(work, 0o755)
const suffix = Math.random().toString(36).slice(2, 7)
const users = [`nbsla${suffix}`, `nbslb${suffix}`]
const children: ChildProcess[] = []

beforeAll(() => {
  if (process.getuid?.() !== 0) return
  for (const u of users) expect(spawnSync('useradd', ['-M', u]).status).toBe(0)
})
afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
  if (process.getuid?.() === 0) for (const u of users) spawnSync('userdel', [u])
  rmSync(work, { recursive: true, force: true })
})

/** A node process as `user` that takes the os build lock in `lockDir` at `startAt`, says won/lost, and holds it. */
function lockAs(user: string, lockDir: string, startAt = 0): { child: ChildProcess; said: Promise<string> } {
  const script = `
    const { acquireBuildLock } = await import(${JSON.stringify(join(DIST, 'records/lock.js'))})
    while (Date.now() < ${startAt}) {}
    try { await acquireBuildLock({ target: 'os', logDir: '/nonexistent', env: { NBS_LOCK_DIR: ${JSON.stringify(lockDir)} } }); console.log('won') } catch (e) { console.log('lost: ' + e.message) }
    setInterval(() => {}, 1000)`
  const child = spawn('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script], { cwd: work, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const said = new Promise<string>((res) => child.stdout!.once('data', (d: Buffer) => res(d.toString().trim())))
  return { child, said }
}
const killed = async (c: ChildProcess) => {
  const exited = new Promise((r) => c.on('exit', r))
  c.kill('SIGKILL')
  await exited
}

needs('root').it("any user takes over another user's dead lock in the sticky lock folder; of racing takers exactly one wins", async () => {
  const run = join(work, 'run-lock')
  mkdirSync(run)
  chmodSync(run, 0o1777)
  // made by root (the NixOS module's tmpfiles, or root's first build): a folder a user made is not shared
  const lockDir = join(run, 'nbs')
  mkdirSync(lockDir)
  chmodSync(lockDir, 0o1777)
  const lockFile = join(lockDir, 'os-build.lock')
  const [a, b] = users as [string, string]
  const first = lockAs(a, lockDir)
  expect(await first.said).toBe('won')
  expect(statSync(lockDir).mode & 0o7777).toBe(0o1777)
  expect(statSync(lockFile).mode & 0o777).toBe(0o666) // shared: every user may rewrite it
  await killed(first.child)
  // b cannot unlink a's file (sticky), yet takes it over at once
  const t0 = Date.now()
  const second = lockAs(b, lockDir)
  expect(await second.said).toBe('won')
  expect(Date.now() - t0).toBeLessThan(4000)
  expect(readFileSync(lockFile, 'utf8').split('\n')[0]).toBe(String(second.child.pid))
  await killed(second.child)
  // both users race for b's dead lock, three processes each: one winner, the rest name it
  const startAt = Date.now() + 1500
  const racers = [a, b, a, b, a, b].map((u) => lockAs(u, lockDir, startAt))
  const said = await Promise.all(racers.map((r) => r.said))
  expect(said.filter((s) => s === 'won')).toHaveLength(1)
  const winner = racers[said.indexOf('won')]!.child.pid
  for (const s of said.filter((s) => s !== 'won')) expect(s).toContain(`(pid ${winner})`)
  expect(readFileSync(lockFile, 'utf8').split('\n')[0]).toBe(String(winner))
  for (const r of racers) await killed(r.child)
})

needs('root').it('a dead lock nbs cannot take over (another user\'s 0644 file in a sticky folder) names sudo rm at once', async () => {
  const run = join(work, 'run-lock-old')
  mkdirSync(join(run, 'nbs'), { recursive: true })
  chmodSync(run, 0o1777)
  chmodSync(join(run, 'nbs'), 0o1777)
  const lockFile = join(run, 'nbs/os-build.lock')
  const dead = spawnSync('true').pid
  writeFileSync(lockFile, `${dead}\nboot= start= token=old\n`, { mode: 0o644 })
  chmodSync(lockFile, 0o644)
  const uid = Number(spawnSync('id', ['-u', users[0]!], { encoding: 'utf8' }).stdout)
  chownSync(lockFile, uid, uid) // an older nbs's lock, of user a
  const t0 = Date.now()
  const r = lockAs(users[1]!, join(run, 'nbs'))
  expect(await r.said).toBe(`lost: ${lockFile} was left by pid ${dead}, which no longer runs, and belongs to another user, so nbs cannot take it over; remove it: sudo rm ${lockFile}`)
  expect(Date.now() - t0).toBeLessThan(3000) // no 5.7 s retry loop (node start-up included)
})

needs('root').it('a full disk (ENOSPC on a 64 KB tmpfs): the log and the marker degrade with a notice, last-build.log keeps naming the previous log', async () => {
  const mnt = join(work, 'full')
  mkdirSync(mnt)
  expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,nr_inodes=32,mode=0755', 'nbs-test-full', mnt]).status).toBe(0)
  try {
    mkdirSync(join(mnt, 'builds'))
    writeFileSync(join(mnt, 'builds/20250101T000000Z-os-build.log'), 'the previous build\n')
    symlinkSync('builds/20250101T000000Z-os-build.log', join(mnt, 'last-build.log'))
    // fill it
    spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=4k', 'count=64'])
    const log = await openBuildLog(mnt, { target: 'os', action: 'switch', start: new Date() })
    expect(log.notice).toBeUndefined() // an empty file still fits (an inode, no blocks)
    log.write('x'.repeat(64 * 1024)) // never throws
    log.write('more')
    await expect(log.close()).rejects.toThrow(/ENOSPC; the log stopped there, and last-build\.log still names the previous build's log/)
    expect(readlinkSync(join(mnt, 'last-build.log'))).toBe('builds/20250101T000000Z-os-build.log')
    const marker = await markInProgress({
      buildStart: new Date().toISOString(), target: 'os', action: 'switch', tool: 'nixos-rebuild', flakePath: '/f', hostname: 'h', user: 'root', command: 'x',
      preGeneration: { generation: null, generationRaw: null, commit: null, homeManagerGeneration: null, currentSystem: null, profilePath: null },
      buildLogPath: log.path,
    })
    expect(marker.notice).toBe(`could not write ${log.path}.running (ENOSPC); if nbs is killed, this build will not be recorded as interrupted`)
    await marker.setChild(process.pid) // no-ops, never throw
    await marker.remove()
    // no inode left either: the log itself cannot be created; the build goes on without one
    for (let i = 0; ; i++) {
      try {
        writeFileSync(join(mnt, `i${i}`), '')
      } catch {
        break
      }
    }
    const none = await openBuildLog(mnt, { target: 'os', action: 'build', start: new Date() })
    expect(none.notice).toMatch(/^could not create the build log .*\((ENOSPC)\); this build runs without a log$/)
    none.write('dropped')
    await none.close()
    expect(readlinkSync(join(mnt, 'last-build.log'))).toBe('builds/20250101T000000Z-os-build.log')
  } finally {
    spawnSync('umount', [mnt])
  }
})

needs('root').it('nbs debug as a user who cannot read the log says so (permission denied: …), never silently leaves it out', async () => {
  const dir = join(work, 'debug')
  mkdirSync(dir)
  const log = join(dir, 'secret.log')
  writeFileSync(log, 'line\n')
  chmodSync(log, 0o640)
  const script = `
    const { tailFileResult } = await import(${JSON.stringify(join(DIST, 'debug/bundle.js'))})
    console.log(JSON.stringify(await tailFileResult(${JSON.stringify(log)}, 10, 'wheel')))`
  const r = spawnSync('setpriv', [`--reuid=${users[0]}`, `--regid=${users[0]}`, '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' })
  const out = JSON.parse(r.stdout)
  expect(out.lines).toEqual([])
  expect(out.note).toBe(`${log}: permission denied: ${log} belongs to group root; fix: sudo chgrp wheel ${log} && sudo chmod g+r ${log} (or run the next os build as root: nbs repairs a root:root 0750 folder)`)
  expect(existsSync(log)).toBe(true)
})
