/**
 * `nbs history`: the recorded builds of both folders (the system one and the user's own), merged by
 * time, as the table or as the JSON records. Read-only: a corrupt history is reported, and moved
 * aside by the next build.
 */
import { readAllRecords } from './last-build.js'
import { filterHistory, formatHistory } from './view.js'
import type { BuildRecord } from './schema.js'

export interface HistoryOptions {
  /** the config's logDir (NBS_LOG_DIR in `env` overrides it) */
  logDir?: string
  /** the admins' group, named in the fix for a refused read */
  logGroup?: string
  env?: NodeJS.ProcessEnv
  json?: boolean
  limit?: number
  failed?: boolean
  color?: boolean
  /** terminal width for the table */
  width?: number
  now?: Date
}

export interface HistoryResult {
  /** the folders read */
  dirs: string[]
  records: BuildRecord[]
  /** what to print on stdout */
  output: string
  warnings: string[]
}

export async function showHistory(opts: HistoryOptions = {}): Promise<HistoryResult> {
  const { dirs, records, warnings } = await readAllRecords({ configured: opts.logDir, logGroup: opts.logGroup, env: opts.env ?? process.env })
  const kept = filterHistory(records, { limit: opts.limit, failed: opts.failed })
  const output = opts.json
    ? `${JSON.stringify(kept, null, 2)}\n`
    : formatHistory(kept, { color: opts.color, width: opts.width, now: opts.now })
  return { dirs, records: kept, output, warnings }
}
