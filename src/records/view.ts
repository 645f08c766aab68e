/** `nbs history`: the records as a table, newest first, and the --failed / --limit filters. */
import pc from 'picocolors'
import { formatSeconds } from '../checks/duration.js'
import { clip, singleLine } from '../reporters/sanitize.js'
import type { BuildRecord } from './schema.js'

/** --failed keeps every build that did not succeed (interrupted ones too); --limit applies after it. */
export function filterHistory(records: BuildRecord[], opts: { limit?: number; failed?: boolean }): BuildRecord[] {
  const kept = opts.failed ? records.filter((r) => !r.success) : records
  return opts.limit === undefined ? kept : kept.slice(0, Math.max(0, Math.floor(opts.limit)))
}

/** `just now`, `5m ago`, `3h ago`, `2d ago`; older than a week: the local date. */
export function formatWhen(iso: string, now: Date): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return '?'
  const s = Math.round((now.getTime() - t) / 1000)
  if (s < 0) return 'in the future'
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`
  if (s < 7 * 86_400) return `${Math.floor(s / 86_400)}d ago`
  const d = new Date(t)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** `g42 → g43` (Home Manager's `hm12 → hm13` for home builds); one value when it did not change. */
export function generationChange(r: BuildRecord): string {
  const pick = (g: BuildRecord['preGeneration']) => (r.target === 'home' ? g.homeManagerGeneration : g.generation)
  const [before, after] = [pick(r.preGeneration), pick(r.postGeneration)]
  if (before === after) return before ?? '-'
  return `${before ?? '?'} → ${after ?? '?'}`
}

type Result = 'ok' | 'failed' | 'interrupted'
const resultOf = (r: BuildRecord): Result => (r.interrupted ? 'interrupted' : r.success ? 'ok' : 'failed')

/** The first error's message (structured first, else the seed's `errors` text), on one line. */
export function firstError(r: BuildRecord): string {
  const text = r.errorDetails[0]?.message ?? r.errors.split('\n').find((l) => l.trim() !== '') ?? ''
  return singleLine(text).trim()
}

const HEADERS = ['WHEN', 'BUILD', 'TOOL', 'DURATION', 'RESULT', 'GENERATION', 'FIRST ERROR'] as const

/**
 * The history table. Cells are padded before colouring so ANSI codes never skew the columns; the
 * error column takes what is left of `width` (default 120), at least 20 characters.
 */
export function formatHistory(records: BuildRecord[], opts: { now?: Date; color?: boolean; width?: number } = {}): string {
  if (records.length === 0) return 'No builds recorded.\n'
  const now = opts.now ?? new Date()
  const c = pc.createColors(opts.color ?? false)
  const rows = records.map((r) => {
    const result = resultOf(r)
    const code = result === 'failed' ? ` (${r.exitCode})` : ''
    return {
      cells: [
        formatWhen(r.buildStart, now),
        singleLine(`${r.target} ${r.action}${r.host && r.host !== r.hostname ? ` ${r.host}` : ''}`),
        singleLine(r.tool),
        formatSeconds(r.buildDuration),
        `${result}${code}`,
        generationChange(r),
        firstError(r),
      ],
      result,
    }
  })
  const widths = HEADERS.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((row) => [...row.cells[i]!].length)))
  const used = widths.reduce((a, b) => a + b + 2, 0)
  const errWidth = Math.max(20, (opts.width ?? 120) - used)
  const pad = (s: string, i: number) => (i < widths.length ? s + ' '.repeat(widths[i]! - [...s].length) : clip(s, errWidth))
  const paint = { ok: c.green, failed: c.red, interrupted: c.yellow }
  const lines = [HEADERS.map((h, i) => c.bold(pad(h, i))).join('  ').trimEnd()]
  for (const row of rows) {
    const cells = row.cells.map((cell, i) => pad(cell, i))
    cells[4] = paint[row.result](cells[4]!)
    if (cells[6]) cells[6] = c.dim(cells[6])
    lines.push(cells.join('  ').trimEnd())
  }
  return `${lines.join('\n')}\n`
}
