/**
 * A build that is running leaves `builds/<log>.running` next to its log: who runs it (pid, boot id,
 * start time, as the lock) and the record so far. A finished build removes it; when nbs is killed
 * (SIGKILL, OOM, power loss) it stays, and the next build turns it into an `interrupted` record
 * pointing at the log the killed one left.
 */
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { atomicWrite } from '../fs/atomic-write.js'
import { ownerAlive, selfOwner, withChild, type Owner } from './lock.js'
import { LOGS_DIR } from './log.js'
import { buildRecordSchema, type BuildRecord, type GenerationSnapshot } from './schema.js'
import { writeBuildRecord } from './store.js'

const SUFFIX = '.running'

/** What a build knows of its record when it starts. */
export type StartedBuild = Pick<
  BuildRecord,
  'buildStart' | 'target' | 'action' | 'tool' | 'flakePath' | 'hostname' | 'user' | 'command' | 'preGeneration' | 'buildLogPath'
>

export interface InProgress {
  /** the build finished and its record is written: the marker goes */
  remove(): Promise<void>
  /**
   * Names the build tool nbs started (pid and start time) in the marker: while it runs, the build
   * is not recorded as interrupted, even when nbs was killed. Best effort: never throws.
   */
  setChild(pid: number): Promise<void>
  /** set when the marker could not be written (a full disk): the build runs on without it */
  notice?: string
}

/**
 * Writes the marker of the build whose log is `started.buildLogPath`. Never throws: a marker that
 * cannot be written (ENOSPC, EACCES) must not stop the build; `notice` says what is lost.
 */
export async function markInProgress(started: StartedBuild): Promise<InProgress> {
  const path = `${started.buildLogPath}${SUFFIX}`
  const write = (owner: Owner) => atomicWrite(path, `${JSON.stringify({ owner, build: started })}\n`, 0o644, { exactMode: true })
  const owner = selfOwner()
  try {
    await write(owner)
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message
    return {
      remove: async () => {},
      setChild: async () => {},
      notice: `could not write ${path} (${why}); if nbs is killed, this build will not be recorded as interrupted`,
    }
  }
  return {
    remove: () => rm(path, { force: true }),
    setChild: (pid) => write(withChild(owner, pid)).catch(() => {}),
  }
}

const EMPTY: GenerationSnapshot = { generation: null, generationRaw: null, commit: null, homeManagerGeneration: null, currentSystem: null, profilePath: null }

/** The record of a build whose nbs was killed: when its log last grew is when it ended. */
async function interruptedRecord(started: StartedBuild, owner: Owner): Promise<BuildRecord> {
  const end = await stat(started.buildLogPath).then((s) => s.mtime, () => new Date(started.buildStart))
  const tool = owner.child ? `; the tool it started (pid ${owner.child}) ran on without it` : ''
  const message = `nbs (pid ${owner.pid}) was killed before the build finished (SIGKILL, out of memory or power loss)${tool}; its output is in ${started.buildLogPath}`
  return {
    ...started,
    buildEnd: end.toISOString(),
    buildDuration: Math.max(0, Math.round((end.getTime() - Date.parse(started.buildStart)) / 10) / 100),
    exitCode: -1,
    success: false,
    postGeneration: EMPTY,
    errors: message,
    errorDetails: [{ message, kind: 'interrupted' }],
    nixVersion: null,
    interrupted: true,
    recordVersion: 1,
  }
}

/**
 * Records every build in `dir` whose nbs is gone as interrupted. A marker is claimed by renaming it
 * first, so two builds starting at once never record the same one twice. Returns notices.
 */
export async function recordInterrupted(dir: string): Promise<string[]> {
  const logs = join(dir, LOGS_DIR)
  const notices: string[] = []
  for (const name of await readdir(logs).catch(() => [] as string[])) {
    if (!name.endsWith(SUFFIX)) continue
    const path = join(logs, name)
    let parsed: { owner: Owner; build: StartedBuild }
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'))
    } catch {
      continue // being written, or not ours
    }
    if (!parsed?.owner?.pid || ownerAlive(parsed.owner)) continue // nbs, or the tool it started, still runs
    const claimed = `${path}.claimed-${process.pid}`
    if (!(await rename(path, claimed).then(() => true, () => false))) continue
    try {
      const record = await interruptedRecord(parsed.build, parsed.owner)
      if (!buildRecordSchema.safeParse(record).success) continue
      const { warnings } = await writeBuildRecord(dir, record)
      notices.push(`the ${record.target} ${record.action} started at ${record.buildStart} was killed with nbs; recorded it as interrupted (log: ${record.buildLogPath})`, ...warnings)
    } finally {
      await rm(claimed, { force: true })
    }
  }
  return notices
}
