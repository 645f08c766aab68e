import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { resolveLogDir } from '../../../src/records/paths.js'
import { buildRecordSchema, type BuildRecord } from '../../../src/records/schema.js'
import { HISTORY_LIMIT, readHistory, readLastBuild, readLastBuildResult, writeBuildRecord } from '../../../src/records/store.js'
import { scratch } from '../../helpers/scratch.js'

const { dir: work, fresh: freshDir } = scratch('nbs-store-')
const mode = (p: string) => statSync(p).mode & 0o777
const WRITER = fileURLToPath(new URL('../../helpers/record-writer.mjs', import.meta.url))
const REPO = fileURLToPath(new URL('../../..', import.meta.url))

const snap = (g: number) => ({ generation: `g${g}`, generationRaw: String(g), commit: 'abc1234', homeManagerGeneration: 'hm3', currentSystem: null, profilePath: null })
function record(seq: number, over: Partial<BuildRecord> = {}): BuildRecord & { seq: number } {
  return {
    buildStart: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(), buildEnd: new Date(Date.UTC(2025, 0, 1, 0, 1, seq)).toISOString(),
    buildDuration: 60, target: 'os', action: 'switch', tool: 'nh', flakePath: '/etc/nixos', exitCode: 0, success: true,
    hostname: 'h', user: 'u', command: 'nh os switch', preGeneration: snap(seq), postGeneration: snap(seq + 1),
    buildLogPath: '/x/last-build.log', errors: '', errorDetails: [], nixVersion: '2.24.0', interrupted: false, recordVersion: 1, seq, ...over,
  }
}

describe('writeBuildRecord / readHistory', () => {
  it('writes last-build.json and the history world-readable (0644: they hold no secrets) whatever the umask', async () => {
    const dir = freshDir()
    const old = process.umask(0o077)
    try {
      expect(await writeBuildRecord(dir, record(1))).toEqual({ warnings: [] })
    } finally {
      process.umask(old)
    }
    expect(mode(join(dir, 'last-build.json'))).toBe(0o644)
    expect(mode(join(dir, 'build-history.json'))).toBe(0o644)
    expect(await readLastBuild(dir)).toMatchObject({ seq: 1, command: 'nh os switch' })
    expect(JSON.parse(readFileSync(join(dir, 'build-history.json'), 'utf8'))).toHaveLength(1)
  })

  it(`keeps the ${HISTORY_LIMIT} newest records, newest first`, async () => {
    const dir = freshDir()
    for (let i = 1; i <= HISTORY_LIMIT + 5; i++) await writeBuildRecord(dir, record(i))
    const { records, warnings } = await readHistory(dir)
    expect(warnings).toEqual([])
    expect(records).toHaveLength(HISTORY_LIMIT)
    expect(records.map((r) => (r as { seq?: number }).seq)).toEqual(Array.from({ length: HISTORY_LIMIT }, (_, i) => HISTORY_LIMIT + 5 - i))
  })

  it('a history it cannot read is left as it is, never moved aside as corrupt', async () => {
    const dir = freshDir()
    const file = join(dir, 'build-history.json')
    mkdirSync(file) // read(2) fails (EISDIR): not the content's fault
    const { warnings } = await writeBuildRecord(dir, record(1))
    expect(warnings).toEqual([`${file}: cannot read it (EISDIR); the history was left as it is, and this build is in last-build.json only`])
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([])
    expect((await readHistory(dir)).warnings).toEqual([`${file}: cannot read it (EISDIR)`])
    expect(JSON.parse(readFileSync(join(dir, 'last-build.json'), 'utf8')).seq).toBe(1)
  })

  it('moves a corrupt history aside with a warning naming both files, and starts a new one', async () => {
    const dir = freshDir()
    const file = join(dir, 'build-history.json')
    writeFileSync(file, '[{"buildStart": "2025-')
    expect((await readHistory(dir)).warnings).toEqual([expect.stringContaining(`${file} is corrupt`)])
    const { warnings } = await writeBuildRecord(dir, record(7))
    const aside = readdirSync(dir).find((f) => f.startsWith('build-history.json.corrupt-'))
    expect(aside).toMatch(/^build-history\.json\.corrupt-\d{4}-\d\d-\d\dT[\d-]+\.\d+Z$/)
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^${file} was corrupt \\(not JSON.*moved it to ${join(dir, aside!)} and started a new history$`))])
    expect(readFileSync(join(dir, aside!), 'utf8')).toBe('[{"buildStart": "2025-')
    expect((await readHistory(dir)).records.map((r) => (r as { seq?: number }).seq)).toEqual([7])
  })

  it('carries the valid entries of a partly invalid history over, keeping fields it does not know', async () => {
    const dir = freshDir()
    writeFileSync(join(dir, 'build-history.json'), JSON.stringify([{ ...record(2), futureField: 'x' }, { nope: true }]))
    const { warnings } = await writeBuildRecord(dir, record(3))
    expect(warnings[0]).toContain('1 of 2 entries are not build records')
    const raw = JSON.parse(readFileSync(join(dir, 'build-history.json'), 'utf8'))
    expect(raw.map((r: { seq: number }) => r.seq)).toEqual([3, 2])
    expect(raw[1].futureField).toBe('x')
  })

  it("reads a seed-written last-build.json (the seed's fields only)", async () => {
    const dir = freshDir()
    const seed = {
      buildStart: '2025-11-14T15:30:00+00:00', buildEnd: '2025-11-14T15:32:15+00:00', buildDuration: 135, target: 'os', action: 'switch',
      tool: 'nh', flakePath: '/etc/nixos', exitCode: 0, success: true, hostname: 'nixos-hetzner-sway', user: 'vpittamp', command: 'nh os switch',
      preGeneration: { generation: 'g42', generationRaw: '42', commit: '3f4851e', homeManagerGeneration: 'hm12' },
      postGeneration: { generation: 'g43', generationRaw: '43', commit: '3f4851e', homeManagerGeneration: 'hm13' },
      buildLogPath: '/var/log/nixos-builds/last-build.log', errors: '',
    }
    writeFileSync(join(dir, 'last-build.json'), JSON.stringify(seed))
    expect(await readLastBuild(dir)).toMatchObject({ ...seed, errorDetails: [], nixVersion: null, interrupted: false, recordVersion: 1 })
    writeFileSync(join(dir, 'last-build.json'), '{')
    expect(await readLastBuildResult(dir)).toEqual({ record: null, warning: expect.stringContaining('is not JSON') })
    expect(await readLastBuild(freshDir())).toBeNull()
  })

  it('never shows a torn file to readers when the writer is killed -9 mid-write (25 kills)', async () => {
    const dir = freshDir()
    let lastSeq = 0
    for (let i = 0; i < 25; i++) {
      const child = spawn(process.execPath, [WRITER, dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] })
      await new Promise<void>((res, rej) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && res())
        child.on('exit', (code) => rej(new Error(`writer exited ${code}`)))
      })
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60))
      const exited = new Promise((r) => child.on('exit', r))
      child.kill('SIGKILL')
      await exited // reaped: a zombie would still answer kill(pid, 0)
      // killed during its first record on a loaded machine: a file not written yet is the old state
      // (absent), never a torn one
      if (i === 0 && !(existsSync(join(dir, 'last-build.json')) && existsSync(join(dir, 'build-history.json')))) continue
      const last = JSON.parse(readFileSync(join(dir, 'last-build.json'), 'utf8'))
      const history = JSON.parse(readFileSync(join(dir, 'build-history.json'), 'utf8')) as { seq: number }[]
      expect(buildRecordSchema.safeParse(last).success).toBe(true)
      expect(history.length).toBeLessThanOrEqual(HISTORY_LIMIT)
      for (const h of history) expect(buildRecordSchema.safeParse(h).success).toBe(true)
      const seqs = history.map((h) => h.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a))
      // last-build.json is written first: never behind the history's newest
      expect(last.seq).toBeGreaterThanOrEqual(seqs[0]!)
      expect(last.seq).toBeGreaterThanOrEqual(lastSeq)
      lastSeq = last.seq
      for (const name of readdirSync(dir)) expect(name).toMatch(/^(last-build\.json|build-history\.json|build-history\.lock(\.takeover-[0-9a-f]{16})?|\..*\.tmp)$/)
    }
    expect(lastSeq).toBeGreaterThan(25)
    // The next writer clears what the killed ones left: stale temps and the lock.
    await writeBuildRecord(dir, record(lastSeq + 1))
    expect(readdirSync(dir).sort()).toEqual(['build-history.json', 'last-build.json'])
  })
})

describe('resolveLogDir', () => {
  it('NBS_LOG_DIR overrides the config; the directory is created 0755 whatever the umask (the records are for every user)', async () => {
    const env = { NBS_LOG_DIR: join(work, 'env/a/b'), HOME: work }
    const old = process.umask(0o077)
    try {
      // as root, without the admins' group here: 0755 root, and it says so
      expect(await resolveLogDir({ configured: join(work, 'cfg'), env: { ...env, NBS_LOG_GROUP: 'nbs-no-such-group' } })).toEqual({
        dir: env.NBS_LOG_DIR,
        group: { name: 'nbs-no-such-group', gid: null },
        notice: `created ${env.NBS_LOG_DIR} 0755 root: group nbs-no-such-group does not exist here, so only root can write build records there (set logGroup, or NBS_LOG_GROUP, to the admins' group)`,
      })
    } finally {
      process.umask(old)
    }
    expect(mode(env.NBS_LOG_DIR)).toBe(0o755)
    expect(mode(join(work, 'env/a'))).toBe(0o755)
    expect(existsSync(join(work, 'cfg'))).toBe(false)
    expect(readdirSync(env.NBS_LOG_DIR)).toEqual([]) // the probe is gone
  })

  it('falls back to $XDG_STATE_HOME/nbs/builds with a notice when logDir cannot be written (even as root)', async () => {
    const blocker = join(work, 'a-file')
    writeFileSync(blocker, '')
    const env = { XDG_STATE_HOME: join(work, 'state'), HOME: work }
    const r = await resolveLogDir({ configured: join(blocker, 'logs'), env })
    expect(r.dir).toBe(join(work, 'state/nbs/builds'))
    expect(r.notice).toBe(
      `logDir ${join(blocker, 'logs')} is not writable by root (a parent is not a directory); this build's records go to ${r.dir}; fix: make ${join(blocker, 'logs')} a folder nbs can write, or set logDir to one`,
    )
    expect(mode(r.dir)).toBe(0o755)
    // a relative XDG_STATE_HOME is invalid (XDG spec): ~/.local/state instead
    const r2 = await resolveLogDir({ env: { NBS_LOG_DIR: blocker, XDG_STATE_HOME: 'rel', HOME: work } })
    expect(r2.dir).toBe(join(work, '.local/state/nbs/builds'))
    expect(r2.notice).toContain(`NBS_LOG_DIR ${blocker} is not writable by root (exists and is not a directory)`)
  })

  it('falls back from a read-only bind mount, which root cannot write either', async (ctx) => {
    const ro = join(work, 'ro')
    mkdirSync(ro)
    const m = await execa('mount', ['--bind', '-o', 'ro', ro, ro], { reject: false })
    if (m.exitCode !== 0) return ctx.skip(`cannot bind-mount here: ${m.stderr}`)
    try {
      await execa('mount', ['-o', 'remount,bind,ro', ro], { reject: false })
      const r = await resolveLogDir({ configured: ro, env: { XDG_STATE_HOME: join(work, 'state2'), HOME: work } })
      expect(r).toMatchObject({ dir: join(work, 'state2/nbs/builds'), notice: expect.stringContaining('(read-only file system)') })
    } finally {
      await execa('umount', [ro], { reject: false })
    }
  })

  it('refuses with both reasons when the fallback is unusable too', async () => {
    const blocker = join(work, 'b-file')
    writeFileSync(blocker, '')
    await expect(resolveLogDir({ configured: join(blocker, 'x'), env: { XDG_STATE_HOME: blocker, HOME: work } })).rejects.toThrow(
      /cannot write build records to .*b-file\/x \(a parent is not a directory\) nor to .*b-file\/nbs\/builds/,
    )
  })
})
