/**
 * `nbs history`: the recorded builds from the directory `nbs build` writes to, as the table or as
 * the JSON records. Read-only: a corrupt history is reported, and moved aside by the next build.
 */
import { findLogDir } from './last-build.js'
import { filterHistory, formatHistory } from './view.js'
import { readHistory } from './store.js'
import type { BuildRecord } from './schema.js'

export interface HistoryOptions {
  /** the config's logDir (NBS_LOG_DIR in `env` overrides it) */
  logDir?: string
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
  dir: string
  records: BuildRecord[]
  /** what to print on stdout */
  output: string
  warnings: string[]
}

export async function showHistory(opts: HistoryOptions = {}): Promise<HistoryResult> {
  const dir = findLogDir({ configured: opts.logDir, env: opts.env ?? process.env })
  const { records, warnings } = await readHistory(dir)
  const kept = filterHistory(records, { limit: opts.limit, failed: opts.failed })
  const output = opts.json
    ? `${JSON.stringify(kept, null, 2)}\n`
    : formatHistory(kept, { color: opts.color, width: opts.width, now: opts.now })
  return { dir, records: kept, output, warnings }
}
