import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, lchownSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { acquireBuildLock, acquireLock, buildLockPath } from '../../../src/records/lock.js'
import { NbsError } from '../../../src/errors.js'
import { scratch } from '../../helpers/scratch.js'

const { dir: work, fresh: freshDir } = scratch('nbs-lock-')
const REPO = fileURLToPath(new URL('../../..', import.meta.url))
const children: ChildProcess[] = []
afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
})
/** A pid that no longer runs (a reaped child's). */
const deadPid = () => spawnSync('true').pid

/** A separate node process that takes the build lock (sources loaded with jiti) at `startAt`, says won/lost, and holds it. */
function lockChild(dir: string, startAt = 0): { child: ChildProcess; said: Promise<string> } {
  const script = `
    import { createJiti } from 'jiti'
    const jiti = createJiti(${JSON.stringify(join(REPO, 'x.mjs'))}, { fsCache: false })
    const { acquireBuildLock } = await jiti.import(${JSON.stringify(join(REPO, 'src/records/lock.ts'))})
    while (Date.now() < ${startAt}) {}
    try { await acquireBuildLock({ target: 'home', logDir: ${JSON.stringify(dir)} }); console.log('won') } catch (e) { console.log('lost: ' + e.message) }
    setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const said = new Promise<string>((res) => child.stdout!.once('data', (d: Buffer) => res(d.toString().trim())))
  return { child, said }
}

describe('acquireBuildLock', () => {
  it("refuses a second build with the first one's pid, in the message users see", async () => {
    const dir = freshDir()
    const { child, said } = lockChild(dir)
    expect(await said).toBe('won')
    const lockPath = join(dir, 'build.lock')
    expect(readFileSync(lockPath, 'utf8').split('\n')[0]).toBe(String(child.pid))
    expect(statSync(lockPath).mode & 0o777).toBe(0o644) // every user may read who holds it
    const err = await acquireBuildLock({ target: 'home', logDir: dir }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NbsError)
    expect((err as NbsError).exitCode).toBe(3)
    expect((err as Error).message).toBe(
      `another nbs build is running (pid ${child.pid}); wait for it or remove ${lockPath} if it is gone`,
    )
    // once the holder dies (kill -9: no chance to clean up), its lock is stale and taken over
    const exited = new Promise((r) => child.on('exit', r))
    child.kill('SIGKILL')
    await exited
    const lock = await acquireBuildLock({ target: 'home', logDir: dir })
    expect(readFileSync(lockPath, 'utf8').split('\n')[0]).toBe(String(process.pid))
    await lock.release()
    expect(() => statSync(lockPath)).toThrow()
  })

  it('refuses a second holder in the same process too, and is free again after release', async () => {
    const dir = freshDir()
    const lock = await acquireBuildLock({ target: 'home', logDir: dir })
    await expect(acquireBuildLock({ target: 'home', logDir: dir })).rejects.toThrow(`(pid ${process.pid})`)
    await lock.release()
    await lock.release() // idempotent
    await (await acquireBuildLock({ target: 'home', logDir: dir })).release()
  })

  it('takes over a lock left by a dead pid, from another boot, or from a reused pid', async () => {
    const dir = freshDir()
    const lockPath = join(dir, 'build.lock')
    for (const stale of [`${deadPid()}\n`, '1\nboot=not-this-boot start=1 token=x\n', `${process.pid}\nboot= start=1 token=x\n`]) {
      writeFileSync(lockPath, stale)
      const lock = await acquireBuildLock({ target: 'home', logDir: dir })
      expect(readFileSync(lockPath, 'utf8')).toMatch(new RegExp(`^${process.pid}\\nboot=\\S* start=\\d+ token=[0-9a-f]{16}\\n$`))
      await lock.release()
    }
  })

  it('takes over an empty lock (a crash before the pid was written) only once it is old', async () => {
    const dir = freshDir()
    const lockPath = join(dir, 'build.lock')
    writeFileSync(lockPath, '')
    await expect(acquireBuildLock({ target: 'home', logDir: dir })).rejects.toThrow('(pid unknown)')
    utimesSync(lockPath, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
    await (await acquireBuildLock({ target: 'home', logDir: dir })).release()
  })

  it('lets exactly one of several racing processes take over the same stale lock', async () => {
    const dir = freshDir()
    writeFileSync(join(dir, 'build.lock'), `${deadPid()}\n`)
    const startAt = Date.now() + 2500 // after every child has loaded
    const racers = Array.from({ length: 6 }, () => lockChild(dir, startAt))
    const said = await Promise.all(racers.map((r) => r.said))
    expect(said.filter((s) => s === 'won')).toHaveLength(1)
    const winner = racers[said.indexOf('won')]!.child.pid
    for (const s of said.filter((s) => s !== 'won')) expect(s).toContain(`(pid ${winner})`)
  })

  it('release leaves a lock that someone else took over alone', async () => {
    const dir = freshDir()
    const lockPath = join(dir, 'build.lock')
    const lock = await acquireBuildLock({ target: 'home', logDir: dir })
    writeFileSync(lockPath, '1\nboot= start= token=someone-else\n')
    await lock.release()
    expect(readFileSync(lockPath, 'utf8')).toContain('someone-else')
  })
})

describe('acquireLock with waitMs', () => {
  it('waits for a live holder to release', async () => {
    const path = join(freshDir(), 'x.lock')
    const first = await acquireLock(path)
    setTimeout(() => void first.release(), 100)
    const t = Date.now()
    const second = await acquireLock(path, { waitMs: 5000 })
    expect(Date.now() - t).toBeGreaterThanOrEqual(90)
    await second.release()
  })
})

describe('buildLockPath: os builds lock system-wide under /run, home builds per user', () => {
  it('os: NBS_LOCK_DIR (default /run/lock/nbs), made 1777 like /run/lock; one lock per system root', async () => {
    const base = freshDir()
    const env = { NBS_LOCK_DIR: join(base, 'nbs') }
    const logDir = freshDir()
    const path = await buildLockPath({ target: 'os', logDir, env })
    expect(path).toBe(join(base, 'nbs/os-build.lock'))
    expect(statSync(join(base, 'nbs')).mode & 0o7777).toBe(0o1777)
    // two records folders, one machine: the same lock
    expect(await buildLockPath({ target: 'os', logDir: freshDir(), env })).toBe(path)
    const image = await buildLockPath({ target: 'os', logDir, env, root: '/mnt/image' })
    expect(image).toMatch(/\/os-build-[0-9a-f]{12}\.lock$/)
    const lock = await acquireBuildLock({ target: 'os', logDir, env })
    await expect(acquireBuildLock({ target: 'os', logDir: freshDir(), env })).rejects.toThrow(`another nbs build is running (pid ${process.pid})`)
    await lock.release()
  })

  it("never follows a symlink planted in the lock folder, nor shares a folder another user made: root's build would rewrite any file", async () => {
    expect(process.geteuid?.()).toBe(0) // the suite runs as root, as CI does: root's build is the one at risk
    const base = freshDir()
    const victim = join(base, 'victim')
    writeFileSync(victim, 'secret\n')
    // another user made /run/lock/nbs first this boot, and planted a link in it
    const theirs = join(base, 'theirs')
    mkdirSync(theirs)
    chownSync(theirs, 65534, 65534)
    chmodSync(theirs, 0o1777)
    symlinkSync(victim, join(theirs, 'os-build.lock'))
    lchownSync(join(theirs, 'os-build.lock'), 65534, 65534)
    const logDir = freshDir()
    expect(await buildLockPath({ target: 'os', logDir, env: { NBS_LOCK_DIR: theirs } })).toBe(join(logDir, 'build.lock'))
    // root's own sticky folder with a link planted in it: refused with the fix, never followed
    const ours = join(base, 'ours')
    mkdirSync(ours)
    chmodSync(ours, 0o1777)
    symlinkSync(victim, join(ours, 'os-build.lock'))
    await expect(acquireBuildLock({ target: 'os', logDir, env: { NBS_LOCK_DIR: ours } })).rejects.toThrow(/is not a lock file nbs made .*sudo rm/)
    expect(readFileSync(victim, 'utf8')).toBe('secret\n')
  })

  it('os without /run/lock: the records folder\'s build.lock; home: the user\'s records folder', async () => {
    const logDir = freshDir()
    expect(await buildLockPath({ target: 'os', logDir, env: { NBS_LOCK_DIR: join(work, 'no-such-run/lock/nbs') } })).toBe(join(logDir, 'build.lock'))
    expect(await buildLockPath({ target: 'home', logDir, env: {} })).toBe(join(logDir, 'build.lock'))
  })
})
