/**
 * Where a result points in the user's files: the Nix error position a check put in its details.
 * Shared by every reporter that can show a location (pretty, JUnit file attributes, GitHub, GitLab).
 */
import type { CheckResult } from './types.js'
import { isRecord as isObject } from '../util/object.js'

export interface NixLocation {
  file: string
  line: number
  col?: number
}

const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined)

function locationOf(v: unknown): NixLocation | undefined {
  if (!isObject(v) || typeof v.file !== 'string' || v.file === '') return undefined
  let file = v.file
  let line = positive(v.line)
  let col = positive(v.column ?? v.col)
  // from Nix 2.20 the error record's `file` may already end in `:line:col`
  const tail = /^(.*):(\d+):(\d+)$/.exec(file)
  if (tail && line === undefined) {
    file = tail[1]!
    line = positive(Number(tail[2]))
    col = positive(Number(tail[3]))
  }
  if (line === undefined) return undefined
  return col === undefined ? { file, line } : { file, line, col }
}

/**
 * The Nix error position a result carries, if any: `details` itself (flake-eval spreads Nix's first
 * error into it), else the first of `details.errorDetails` / `details.errors` that has one. The path
 * is as Nix printed it; mapping store paths back to the flake is done before the reporters run.
 */
export function resultLocation(r: Pick<CheckResult, 'details'>): NixLocation | undefined {
  const d = r.details
  const direct = locationOf(d)
  if (direct || !isObject(d)) return direct
  for (const key of ['errorDetails', 'errors'] as const) {
    const list = d[key]
    if (!Array.isArray(list)) continue
    for (const e of list) {
      const loc = locationOf(e)
      if (loc) return loc
    }
  }
  return undefined
}
