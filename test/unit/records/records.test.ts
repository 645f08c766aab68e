/** The record store's own rules: the folders, the log per build, rotation, interrupted builds, merged reading. */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { groupId } from '../../../src/records/groups.js'
import { markInProgress, recordInterrupted } from '../../../src/records/in-progress.js'
import { readAllRecords } from '../../../src/records/last-build.js'
import { LOG_NAME, openBuildLog } from '../../../src/records/log.js'
import { resolveLogDir } from '../../../src/records/paths.js'
import type { BuildRecord } from '../../../src/records/schema.js'
import { HISTORY_LIMIT, readHistory, writeBuildRecord } from '../../../src/records/store.js'
import { scratch } from '../../helpers/scratch.js'

const { dir: work, fresh: freshDir } = scratch('nbs-records-')
const snap = { generation: null, generationRaw: null, commit: null, homeManagerGeneration: null, currentSystem: null, profilePath: null }
function record(seq: number, over: Partial<BuildRecord> = {}): BuildRecord {
  return {
    buildStart: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(), buildEnd: new Date(Date.UTC(2025, 0, 1, 0, 1, seq)).toISOString(),
    buildDuration: 60, target: 'os', action: 'switch', tool: 'nh', flakePath: '/etc/nixos', exitCode: 0, success: true,
    hostname: 'h', user: 'u', command: 'nh os switch', preGeneration: snap, postGeneration: snap,
    buildLogPath: '/x/last-build.log', errors: '', errorDetails: [], nixVersion: null, interrupted: false, recordVersion: 1, ...over,
  }
}
// `adm` exists on Debian: a real group other than root's
const ADM = groupId('adm')

describe('resolveLogDir', () => {
  it('root creates the system folder 2775 root:GROUP (setgid, group-writable) when the group exists', async () => {
    const dir = join(work, 'sys-created/nixos-builds')
    const r = await resolveLogDir({ env: { NBS_LOG_DIR: dir, NBS_LOG_GROUP: 'adm', HOME: work } })
    expect(r).toEqual({ dir, group: { name: 'adm', gid: ADM } })
    const st = statSync(dir)
    expect(st.mode & 0o7777).toBe(0o2775)
    expect([st.uid, st.gid]).toEqual([0, ADM])
  })

  it('home builds go to $XDG_STATE_HOME/nbs/builds, never the system folder', async () => {
    const r = await resolveLogDir({ target: 'home', env: { NBS_LOG_DIR: join(work, 'sys-home'), XDG_STATE_HOME: join(work, 'xdg'), HOME: work } })
    expect(r.dir).toBe(join(work, 'xdg/nbs/builds'))
    expect(existsSync(join(work, 'sys-home'))).toBe(false)
  })
})

describe('openBuildLog: one log per build', () => {
  it('builds/<time>-<target>-<action>.log, 0640 with the group, appended as written, last-build.log → the newest', async () => {
    const dir = freshDir()
    const start = new Date(Date.UTC(2026, 10, 30, 8, 30, 0, 123))
    const log = await openBuildLog(dir, { target: 'os', action: 'switch', start, gid: ADM })
    expect(log.path).toBe(join(dir, 'builds/20261130T083000Z-os-switch.log'))
    expect(LOG_NAME.test('20261130T083000Z-os-switch.log')).toBe(true)
    log.write('first line\n')
    await new Promise((turn) => setImmediate(turn))
    expect(readFileSync(log.path, 'utf8')).toBe('first line\n') // on disk a turn later, before close: tail -f sees it
    log.write(new TextEncoder().encode('bytes\n'))
    await log.close()
    const st = statSync(log.path)
    expect(st.mode & 0o777).toBe(0o640)
    expect(st.gid).toBe(ADM)
    expect(readlinkSync(join(dir, 'last-build.log'))).toBe('builds/20261130T083000Z-os-switch.log')
    const second = await openBuildLog(dir, { target: 'os', action: 'switch', start })
    expect(second.path).toBe(join(dir, 'builds/20261130T083000Z-os-switch-2.log')) // same second: a new name, never the old log
    await second.close()
    expect(readlinkSync(join(dir, 'last-build.log'))).toBe('builds/20261130T083000Z-os-switch-2.log')
    expect(readFileSync(join(dir, 'last-build.log'), 'utf8')).toBe('')
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('replaces a seed-era last-build.log file with the link', async () => {
    const dir = freshDir()
    writeFileSync(join(dir, 'last-build.log'), 'old\n')
    const log = await openBuildLog(dir, { target: 'home', action: 'switch', start: new Date() })
    log.write('new\n')
    await log.close()
    expect(readFileSync(join(dir, 'last-build.log'), 'utf8')).toBe('new\n')
  })
})

describe('logs rotate with the history', () => {
  it(`deletes the log of a record that fell out of the newest ${HISTORY_LIMIT}, keeps a running build's`, async () => {
    const dir = freshDir()
    const paths: string[] = []
    for (let i = 0; i <= HISTORY_LIMIT; i++) {
      const log = await openBuildLog(dir, { target: 'os', action: 'build', start: new Date(Date.UTC(2025, 0, 1, 0, 0, i)) })
      await log.close()
      paths.push(log.path)
      if (i === HISTORY_LIMIT) break
      await writeBuildRecord(dir, record(i, { buildLogPath: log.path }))
    }
    const running = paths[HISTORY_LIMIT]! // opened, its record not yet written
    const marker = await markInProgress({ ...record(999), buildLogPath: running })
    expect(existsSync(paths[0]!)).toBe(true)
    await writeBuildRecord(dir, record(HISTORY_LIMIT + 1, { buildLogPath: join(dir, 'builds/none.log') }))
    expect(existsSync(paths[0]!)).toBe(false) // its record fell out
    expect(existsSync(paths[1]!)).toBe(true)
    expect(existsSync(running)).toBe(true)
    await marker.remove()
  })
})

describe('a killed nbs is recorded as interrupted by the next build', () => {
  it('the marker of a dead owner becomes an interrupted record pointing at its log, once', async () => {
    const dir = freshDir()
    const log = await openBuildLog(dir, { target: 'os', action: 'switch', start: new Date(Date.now() - 5000) })
    log.write('building...\n')
    await log.close()
    const started = { ...record(1), buildStart: new Date(Date.now() - 5000).toISOString(), buildLogPath: log.path }
    delete (started as Partial<BuildRecord>).buildEnd
    await markInProgress(started)
    // a live owner (this process): not interrupted
    expect(await recordInterrupted(dir)).toEqual([])
    // the same marker from a pid that is gone
    const marker = `${log.path}.running`
    const text = JSON.parse(readFileSync(marker, 'utf8'))
    text.owner.pid = spawnSync('true').pid
    writeFileSync(marker, JSON.stringify(text))
    const notices = await recordInterrupted(dir)
    expect(notices[0]).toMatch(/was killed with nbs; recorded it as interrupted/)
    const { records } = await readHistory(dir)
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ interrupted: true, success: false, buildLogPath: log.path, target: 'os', action: 'switch' })
    expect(records[0]!.errors).toMatch(/^nbs \(pid \d+\) was killed before the build finished/)
    expect(existsSync(marker)).toBe(false)
    expect(existsSync(log.path)).toBe(true)
    expect(await recordInterrupted(dir)).toEqual([]) // once
  })
})

describe('readAllRecords', () => {
  it('merges the system folder and the user\'s by time, newest first', async () => {
    const sys = freshDir()
    const state = freshDir()
    const user = join(state, 'nbs/builds')
    mkdirSync(user, { recursive: true })
    await writeBuildRecord(sys, record(1))
    await writeBuildRecord(sys, record(3))
    await writeBuildRecord(user, record(2, { target: 'home', user: 'alice' }))
    await writeBuildRecord(user, record(4, { target: 'home', user: 'alice' }))
    const r = await readAllRecords({ env: { NBS_LOG_DIR: sys, XDG_STATE_HOME: state } })
    expect(r.dirs).toEqual([sys, user])
    expect(r.records.map((x) => `${x.target}${x.buildStart.slice(17, 19)}`)).toEqual(['home04', 'os03', 'home02', 'os01'])
    expect(r.warnings).toEqual([])
  })
})
