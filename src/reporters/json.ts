/**
 * JSON reporter: the lossless report (nothing truncated beyond what the runner captured), shaped by
 * src/report/schema.ts. Strings are still sanitised: JSON.stringify writes lone surrogates as `\ud800`
 * (which Python then cannot encode) and turns NaN/Infinity into null (report-formats.md §4).
 */
import type { RunReport } from '../report/types.js'
import { sanitizeText } from './sanitize.js'
import type { ReporterFactory } from './types.js'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/**
 * A JSON-safe copy: strings sanitised, non-finite numbers → null inside `details` (what JSON.stringify
 * would do) and 0 elsewhere (the schema needs a number), cycles cut, non-JSON values dropped.
 */
export function toJsonValue(v: unknown, inDetails = false, stack = new Set<object>()): Json | undefined {
  if (typeof v === 'string') return sanitizeText(v)
  if (typeof v === 'number') return Number.isFinite(v) ? v : inDetails ? null : 0
  if (typeof v === 'boolean' || v === null) return v
  if (typeof v === 'bigint') return String(v)
  if (typeof v !== 'object') return undefined // undefined, functions, symbols: JSON has no such value
  const toJSON = (v as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') return toJsonValue(toJSON.call(v), inDetails, stack)
  if (stack.has(v)) return '[Circular]'
  stack.add(v)
  try {
    if (Array.isArray(v)) return v.map((x) => toJsonValue(x, inDetails, stack) ?? null)
    const entries: [string, Json][] = []
    for (const [key, x] of Object.entries(v)) {
      const value = toJsonValue(x, inDetails || key === 'details', stack)
      if (value !== undefined) entries.push([sanitizeText(key), value])
    }
    return Object.fromEntries(entries) // defines own properties, so a `__proto__` key stays data
  } finally {
    stack.delete(v)
  }
}

/** The report as 2-space-indented JSON, newline-terminated. */
export function renderJson(report: RunReport): string {
  return `${JSON.stringify(toJsonValue(report), null, 2)}\n`
}

export const jsonReporter: ReporterFactory = ({ sink }) => ({
  onRunEnd(report) {
    sink.write(renderJson(report))
  },
})
