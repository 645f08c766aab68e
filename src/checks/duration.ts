import { z } from 'zod'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/

/** A duration in config and check files: milliseconds, or `"500ms"`, `"90s"`, `"2m"`, `"1h"`, `"1d"`. */
export const durationSchema = z
  .union([z.number().nonnegative(), z.string().regex(DURATION, 'a duration like "500ms", "90s" or "2m"')])
  .describe('milliseconds, or a duration such as "90s" or "2m"')

/** Parses `500`, `"500ms"`, `"90s"`, `"2m"`, `"1h"` into milliseconds; undefined when malformed. */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  const m = DURATION.exec(value.trim())
  if (!m) return undefined
  return Math.round(Number(m[1]) * UNITS[m[2]!]!)
}

/** `45s`, `2m15s`, `1h02m`: a build's or a live clock's time, in whole seconds (rounded). */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** `5000` → `5s`, `90000` → `90s`, `1500` → `1.5s`, `250` → `250ms` (for messages). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`
}
