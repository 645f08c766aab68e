/**
 * Reading the records: both folders a build may write to (the system one and the user's own),
 * merged by time, newest first. A folder or file that cannot be read is a warning saying why; the
 * records that can be read still count.
 */
import { logGroupName } from './groups.js'
import { logDirCandidates } from './paths.js'
import type { BuildRecord } from './schema.js'
import { readHistory, readLastBuildResult } from './store.js'

export interface RecordSources {
  /** the config's logDir (NBS_LOG_DIR in `env` overrides it) */
  configured?: string
  /** the admins' group, named in the fix for a refused read */
  logGroup?: string
  env?: NodeJS.ProcessEnv
}

export interface RecordsRead {
  /** the folders read: the system one, then the user's (when it is another) */
  dirs: string[]
  /** every readable record of both, newest first */
  records: BuildRecord[]
  warnings: string[]
}

const key = (r: BuildRecord) => `${r.buildStart}\0${r.target}\0${r.action}\0${r.hostname}\0${r.user}`

/** Newest first by start time; the same build found twice (its history and last-build.json) once. */
export function mergeRecords(...lists: BuildRecord[][]): BuildRecord[] {
  const seen = new Map<string, BuildRecord>()
  for (const list of lists) for (const r of list) if (!seen.has(key(r))) seen.set(key(r), r)
  return [...seen.values()].sort((a, b) => Date.parse(b.buildStart) - Date.parse(a.buildStart))
}

/** Every record of the system folder and the user's folder, merged. Never creates anything. */
export async function readAllRecords(opts: RecordSources = {}): Promise<RecordsRead> {
  const { primary, fallback } = logDirCandidates(opts)
  const dirs = primary === fallback ? [primary] : [primary, fallback]
  const group = logGroupName(opts.logGroup, opts.env ?? process.env)
  const read = await Promise.all(
    dirs.map(async (dir) => {
      const [history, last] = await Promise.all([readHistory(dir, group), readLastBuildResult(dir, group)])
      return { records: [...history.records, ...(last.record ? [last.record] : [])], warnings: [...history.warnings, ...(last.warning ? [last.warning] : [])] }
    }),
  )
  return { dirs, records: mergeRecords(...read.map((r) => r.records)), warnings: read.flatMap((r) => r.warnings) }
}

export interface LastBuildStatus {
  /** the system folder (where the records are looked for first) */
  dir: string
  /** the newest record of either folder and either target */
  record: BuildRecord | null
  /** every record, newest first */
  records: BuildRecord[]
  /** why an existing record could not be read */
  warning?: string
}

/** The newest build record of both folders, as the old get_last_build_status read it. */
export async function getLastBuildStatus(opts: RecordSources = {}): Promise<LastBuildStatus> {
  const { dirs, records, warnings } = await readAllRecords(opts)
  return { dir: dirs[0]!, record: records[0] ?? null, records, ...(warnings.length ? { warning: warnings.join('; ') } : {}) }
}

/** true/false for the last build, null when there is none. */
export async function wasLastBuildSuccessful(opts: RecordSources = {}): Promise<boolean | null> {
  const { record } = await getLastBuildStatus(opts)
  return record ? record.success : null
}

export type BuildPhase = 'evaluation' | 'build' | 'activation' | 'interrupted' | 'succeeded' | 'unknown'

/**
 * Where a build stopped: evaluation (a Nix eval error), build (a derivation failed), activation
 * (the build finished but switching failed: the tool's exit code without a Nix error), or interrupted.
 */
export function extractBuildPhase(record: BuildRecord): BuildPhase {
  if (record.success) return 'succeeded'
  if (record.interrupted) return 'interrupted'
  const kinds = record.errorDetails.map((e) => e.kind)
  // a derivation this machine cannot build (platform, features) stops the build phase too
  if (kinds.some((k) => k === 'build' || k === 'dependency' || k === 'hash-mismatch' || k === 'unsupported')) return 'build'
  if (kinds.some((k) => k === 'eval' || k === 'assertion' || k === 'missing-option')) return 'evaluation'
  if (/switch-to-configuration|activat|the following units failed/i.test(record.errors)) return 'activation'
  return 'unknown'
}
