import { statSync } from 'node:fs'
import { join } from 'node:path'
import { logDirCandidates } from './paths.js'
import type { BuildRecord } from './schema.js'
import { HISTORY_JSON, LAST_BUILD_JSON, readLastBuildResult } from './store.js'

export interface LastBuildStatus {
  /** where the records were looked for and found (the primary dir when there are none yet) */
  dir: string
  record: BuildRecord | null
  /** why an existing record could not be read */
  warning?: string
}

/**
 * Where `nbs build` keeps its records, for readers: the configured or default directory when it
 * holds records, else the per-user fallback a build uses when that one is not writable. Never creates anything.
 */
export function findLogDir(opts: { configured?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const { primary, fallback } = logDirCandidates(opts)
  // both may hold records (root's in /var/log, a user's fallback): the newer last build wins
  const written = (dir: string) => {
    for (const name of [LAST_BUILD_JSON, HISTORY_JSON]) {
      try {
        return statSync(join(dir, name)).mtimeMs
      } catch {
        // try the next
      }
    }
    return -1
  }
  return written(fallback) > written(primary) ? fallback : primary
}

/** The last build record (`last-build.json`), as the old get_last_build_status read it. */
export async function getLastBuildStatus(opts: { configured?: string; env?: NodeJS.ProcessEnv } = {}): Promise<LastBuildStatus> {
  const dir = findLogDir(opts)
  return { dir, ...(await readLastBuildResult(dir)) }
}

/** true/false for the last build, null when there is none. */
export async function wasLastBuildSuccessful(opts: { configured?: string; env?: NodeJS.ProcessEnv } = {}): Promise<boolean | null> {
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
