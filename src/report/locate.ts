import type { SourceMapper } from '../nix/source-map.js'
import type { CheckResult } from './types.js'

/** How deep into a result's details positions are looked for (Nix errors sit at depth ≤ 3). */
const MAX_DEPTH = 6

/**
 * A result whose Nix positions name the checkout's files instead of their store copies: every
 * `file` in its details that maps (the original kept as `storeFile`), and the `at …` of each
 * trace. Applied where the scheduler finishes a result, before redaction, so every reporter
 * shows and annotates the same path.
 */
export function locateResult(result: CheckResult, mapper: SourceMapper): CheckResult {
  if (result.details === undefined) return result
  const details = mapValue(result.details, mapper, 0)
  return details === result.details ? result : { ...result, details }
}

function mapValue(value: unknown, mapper: SourceMapper, depth: number): unknown {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    const out = value.map((v) => mapValue(v, mapper, depth + 1))
    return out.some((v, i) => v !== value[i]) ? out : value
  }
  let changed = false
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    let next = v
    if (key === 'file' && typeof v === 'string') {
      const mapped = mapper.file(v)
      if (mapped !== undefined && mapped !== v) {
        next = mapped
        out.storeFile = v
      }
    } else if (key === 'traces' && Array.isArray(v)) {
      const traces = v.map((t) => (typeof t === 'string' ? mapper.text(t) : t))
      if (traces.some((t, i) => t !== v[i])) next = traces
    } else next = mapValue(v, mapper, depth + 1)
    if (next !== v) changed = true
    out[key] = next
  }
  return changed ? out : value
}
