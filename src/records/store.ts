/**
 * The record files in the log directory. Every write is atomic (temp + fsync + rename + directory
 * fsync), so a reader, or a build killed mid-write, sees the old file or the new one, never half.
 * Writers are serialised by a short-lived lock of their own, independent of the build lock.
 */
import { statSync } from 'node:fs'
import { readdir, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, posix } from 'node:path'
import type { Machine, MachineError } from '../machine/types.js'
import { atomicWrite, TEMP_NAME } from '../fs/atomic-write.js'
import { buildRecordSchema, type BuildRecord } from './schema.js'
import { DEFAULT_LOG_GROUP, groupName } from './groups.js'
import { acquireLock } from './lock.js'
import { LOG_NAME, LOGS_DIR } from './log.js'
import { pidExists } from '../runner/pid.js'

export const HISTORY_LIMIT = 100
export const LAST_BUILD_JSON = 'last-build.json'
export const HISTORY_JSON = 'build-history.json'
const HISTORY_LOCK = 'build-history.lock'
/** The JSON records hold no secrets, and users run `nbs status`/`nbs history` on root's builds. */
const RECORD_MODE = 0o644

const writeJson = (path: string, value: unknown) =>
  atomicWrite(path, `${JSON.stringify(value, null, 2)}\n`, RECORD_MODE, { exactMode: true })


/** Temp files left by a writer that was killed (kill -9, power loss): their pid no longer runs. */
async function sweepTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(TEMP_NAME.exec(name)?.[1] ?? NaN)
    if (Number.isInteger(pid) && pid !== process.pid && !pidExists(pid)) await rm(join(dir, name), { force: true })
  }
}

/** `problem`: the content is not a clean array of records; `unreadable`: the file could not be read at all. */
type RawHistory = { entries: unknown[]; valid: BuildRecord[]; problem?: string; unreadable?: string }

/**
 * A read refused or failed, said as what it is (never "corrupt"), with the fix for a refusal. The
 * fix depends on who is refused by what: a reader outside the group that owns the file (or its
 * folder) joins it; when that group is root (the seed's 0750 root:root) or the reader is in it
 * already, joining fixes nothing, and the fix is the folder's (or file's) group and mode.
 */
export function unreadableReason(file: string, e: unknown, group = DEFAULT_LOG_GROUP): string {
  const code = (e as NodeJS.ErrnoException).code
  if (code === 'EACCES' || code === 'EPERM') return `${file}: permission denied: ${refusalFix(file, group)}`
  return `${file}: cannot read it (${code ?? (e as Error).message})`
}

/** What lets this reader read `file`: see unreadableReason. */
function refusalFix(file: string, group: string): string {
  const dir = dirname(file)
  const st = (p: string) => {
    try {
      return statSync(p)
    } catch {
      return null
    }
  }
  const d = st(dir)
  const f = st(file)
  const mine = new Set(process.getgroups?.() ?? [])
  // the folder refuses when it cannot be searched: its stat of the file failed
  const blocker = f === null ? { path: dir, s: d, mode: '2775' } : { path: file, s: f, mode: 'g+r' }
  const gid = blocker.s?.gid
  const owner = gid !== undefined && gid !== 0 ? groupName(gid) : null
  if (owner && !mine.has(gid!)) return `run as root or join group ${owner}`
  const target = owner ?? group
  const chgrp = owner ? '' : `sudo chgrp ${target} ${blocker.path} && `
  return `${owner ? `you are in group ${owner} already, but ${blocker.path} does not let the group read it` : `${blocker.path} belongs to group root`}; fix: ${chgrp}sudo chmod ${blocker.mode} ${blocker.path}${owner ? '' : ' (or run the next os build as root: nbs repairs a root:root 0750 folder)'}`
}

/**
 * Deletes the logs in `DIR/builds` no kept record names, except those of builds still running (a
 * `.running` marker beside them): the logs rotate with the history.
 */
async function rotateLogs(dir: string, kept: readonly unknown[]): Promise<void> {
  const named = new Set(kept.map((r) => basename(String((r as { buildLogPath?: unknown }).buildLogPath ?? ''))))
  const logs = join(dir, LOGS_DIR)
  const names = await readdir(logs).catch(() => [] as string[])
  const running = (log: string) => names.some((n) => n.startsWith(`${log}.running`))
  for (const name of names) {
    if (LOG_NAME.test(name) && !named.has(name) && !running(name)) await rm(join(logs, name), { force: true })
  }
}

/** The history as stored; `problem` says why it is not a clean array of records. */
async function loadHistory(file: string, group?: string): Promise<RawHistory> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], valid: [] }
    return { entries: [], valid: [], unreadable: unreadableReason(file, e, group) }
  }
  return parseHistory(text)
}

/** The records in a history file's text; entries that are not records are counted, not fatal. */
function parseHistory(text: string): RawHistory {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    return { entries: [], valid: [], problem: `not JSON: ${(e as Error).message}` }
  }
  if (!Array.isArray(data)) return { entries: [], valid: [], problem: 'not a JSON array' }
  const valid: BuildRecord[] = []
  const entries: unknown[] = []
  for (const entry of data) {
    const parsed = buildRecordSchema.safeParse(entry)
    if (!parsed.success) continue
    valid.push(parsed.data)
    entries.push(entry) // stored as found: fields a newer nbs wrote stay
  }
  const bad = data.length - valid.length
  return bad ? { entries, valid, problem: `${bad} of ${data.length} entries are not build records` } : { entries, valid }
}

/** `2025-11-14T15-30-00.123Z`: sortable, no colons (awkward in shells and on some filesystems). */
const stamp = (d = new Date()) => d.toISOString().replace(/:/g, '-')

/**
 * Writes `last-build.json` and prepends the record to `build-history.json` (newest first, at most
 * HISTORY_LIMIT). A corrupt history is moved aside, never fatal: its valid entries carry over.
 */
export async function writeBuildRecord(dir: string, record: BuildRecord): Promise<{ warnings: string[] }> {
  const warnings: string[] = []
  const lock = await acquireLock(join(dir, HISTORY_LOCK), { waitMs: 30_000 })
  try {
    await sweepTemps(dir)
    await writeJson(join(dir, LAST_BUILD_JSON), record)
    const file = join(dir, HISTORY_JSON)
    const history = await loadHistory(file)
    if (history.unreadable) {
      // a history it cannot read is not corrupt: left as it is, never moved aside or overwritten
      warnings.push(`${history.unreadable}; the history was left as it is, and this build is in ${LAST_BUILD_JSON} only`)
      return { warnings }
    }
    if (history.problem) {
      const aside = `${file}.corrupt-${stamp()}`
      await rename(file, aside)
      const kept = history.entries.length ? `, kept its ${history.entries.length} valid records` : ''
      warnings.push(`${file} was corrupt (${history.problem}); moved it to ${aside}${kept} and started a new history`)
    }
    const kept = [record, ...history.entries].slice(0, HISTORY_LIMIT)
    await writeJson(file, kept)
    await rotateLogs(dir, kept)
  } finally {
    await lock.release()
  }
  return { warnings }
}

/** `last-build.json`, or null when there is none yet; `warning` says why an existing one was not read. */
export async function readLastBuildResult(dir: string, group?: string): Promise<{ record: BuildRecord | null; warning?: string }> {
  const file = join(dir, LAST_BUILD_JSON)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? { record: null } : { record: null, warning: unreadableReason(file, e, group) }
  }
  try {
    const parsed = buildRecordSchema.safeParse(JSON.parse(text))
    if (parsed.success) return { record: parsed.data }
    return { record: null, warning: `${file} is not a build record: ${parsed.error.issues[0]?.message ?? 'invalid'}` }
  } catch (e) {
    return { record: null, warning: `${file} is not JSON: ${(e as Error).message}` }
  }
}

/** `last-build.json`; null when missing or unreadable (readLastBuildResult says why). */
export async function readLastBuild(dir: string): Promise<BuildRecord | null> {
  return (await readLastBuildResult(dir)).record
}

/**
 * The records another machine keeps (a fleet host's own `nbs build` runs), read through its
 * Machine: missing is no records, a refused read a warning.
 */
export async function readHistoryOn(machine: Machine, dir: string): Promise<{ records: BuildRecord[]; warnings: string[] }> {
  const file = posix.join(dir, HISTORY_JSON)
  try {
    const text = await machine.readFile(file, { maxBytes: 64 * 1024 * 1024 })
    if (text === null) return { records: [], warnings: [] }
    const history = parseHistory(text)
    return { records: history.valid, warnings: history.problem ? [`${machine.description}: ${file} ${history.problem}`] : [] }
  } catch (e) {
    return { records: [], warnings: [`${machine.description}: cannot read ${file} (${(e as MachineError).code ?? (e as Error).message})`] }
  }
}

/** The history, newest first. Read-only: a corrupt file is reported here and moved aside by the next build. */
export async function readHistory(dir: string, group?: string): Promise<{ records: BuildRecord[]; warnings: string[] }> {
  const file = join(dir, HISTORY_JSON)
  const history = await loadHistory(file, group)
  const warnings = history.unreadable ? [history.unreadable] : history.problem ? [`${file} is corrupt (${history.problem}); the next build moves it aside`] : []
  return { records: history.valid, warnings }
}
