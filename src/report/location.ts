/**
 * Where a result points in the user's files: the Nix error position a check put in its details.
 * Shared by every reporter that can show a location (pretty, JUnit file attributes, GitHub, GitLab).
 */
import { posix } from 'node:path'
import type { CheckResult } from './types.js'
import { isRecord as isObject } from '../util/object.js'

export interface NixLocation {
  /** relative to the repository root once mapped back from the store (see src/nix/source-map.ts) */
  file: string
  line: number
  col?: number
  /** Nix's code frame for this position (`6|   PATH = [ x ];` and the caret line), when it printed one */
  codeFrame?: string
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
  const frame = typeof v.codeFrame === 'string' && v.codeFrame.trim() !== '' ? { codeFrame: v.codeFrame } : {}
  return col === undefined ? { file, line, ...frame } : { file, line, col, ...frame }
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

/** `hosts/web.nix:6:15` */
export const formatLocation = (loc: Pick<NixLocation, 'file' | 'line' | 'col'>): string => `${loc.file}:${loc.line}${loc.col ? `:${loc.col}` : ''}`

/**
 * A path CI can open in the checkout (GitHub, GitLab and JUnit consumers resolve it against the
 * repository root): relative, inside the tree, no leading `./`, nothing a link cannot hold. A store
 * path, an absolute path, `..`, or nbs's own `nbs:checks/…` is none: undefined.
 */
export function checkoutPath(p: string | undefined): string | undefined {
  if (!p || /[\x00-\x1f\x7f]/.test(p) || /^[a-z][a-z0-9+.-]*:/i.test(p) || posix.isAbsolute(p)) return undefined
  const norm = posix.normalize(p)
  if (norm === '.' || norm === '..' || norm.startsWith('../') || norm.endsWith('/')) return undefined
  return norm
}

/**
 * Where CI should annotate a result (JUnit `file`/`line`, GitLab's `location`): the Nix position
 * when it is a file of the checkout, else the project's own check file (no line); undefined for a
 * built-in check with no position, rather than a path no one can open.
 */
export function annotationTarget(r: Pick<CheckResult, 'details' | 'source'>): { file: string; line?: number; col?: number } | undefined {
  const loc = resultLocation(r)
  const file = checkoutPath(loc?.file)
  if (loc && file) return { file, line: loc.line, ...(loc.col ? { col: loc.col } : {}) }
  const source = checkoutPath(r.source)
  return source ? { file: source } : undefined
}
