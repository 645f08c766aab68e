import { NbsError } from '../errors.js'
import { githubReporter } from './github.js'
import { gitlabReporter } from './gitlab.js'
import { jsonReporter } from './json.js'
import { junitReporter } from './junit.js'
import { prettyReporter } from './pretty.js'
import { prometheusReporter } from './prometheus.js'
import { tap14Reporter, tapReporter } from './tap.js'
import type { ReporterFactory } from './types.js'

/** Built-in reporters by name; adding one is one line here and one file beside this one. */
export const builtinReporters = {
  pretty: prettyReporter,
  tap: tapReporter,
  tap14: tap14Reporter,
  junit: junitReporter,
  json: jsonReporter,
  github: githubReporter,
  gitlab: gitlabReporter,
  prometheus: prometheusReporter,
} satisfies Record<string, ReporterFactory>

export interface ReporterSpec {
  name: string
  /** a file path; undefined means stdout */
  path?: string
  /** as the user wrote it, for messages */
  spec: string
}

/** `NAME[:PATH]`; a PATH of `-` or none means stdout. */
export function parseReporterSpec(spec: string): ReporterSpec {
  const at = spec.indexOf(':')
  const name = at < 0 ? spec : spec.slice(0, at)
  const path = at < 0 ? undefined : spec.slice(at + 1)
  if (!name) throw new NbsError(`--reporter ${spec}: missing reporter name; use NAME[:PATH], e.g. junit:report.xml`)
  if (at >= 0 && !path) throw new NbsError(`--reporter ${spec}: empty path; use NAME:PATH, or NAME alone for stdout`)
  return { name, path: path === '-' ? undefined : path, spec }
}

export function reporterFactory(spec: ReporterSpec, extra: Record<string, ReporterFactory> = {}): ReporterFactory {
  const all: Record<string, ReporterFactory> = { ...builtinReporters, ...extra }
  const factory = all[spec.name]
  if (!factory) throw new NbsError(`--reporter ${spec.spec}: unknown reporter "${spec.name}"; available: ${Object.keys(all).join(', ')}`)
  return factory
}
