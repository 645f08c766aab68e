/**
 * The status probes' options from the resolved settings, reusing the built-in checks' options from
 * the config: bad options are exit 3 here too, and `nbs status`, `nbs debug` and the checks apply
 * the same journal window and thresholds.
 */
import { configLabel, type Settings } from '../config/load.js'
import { probeExec } from '../runner/process.js'
import { checkOptionsFrom, journalOptionsFrom } from './journal-options.js'
import type { StatusOptions } from './report.js'
import { failedUnitsOptionsSchema } from './units.js'

export function statusOptions(settings: Settings, evaluate: boolean, signal?: AbortSignal, cwd: string = process.cwd()): StatusOptions {
  const label = settings.configFile ? configLabel(cwd, settings.configFile) : 'config'
  const { since, maxErrors, ignore } = journalOptionsFrom(settings.options, label)
  const journal = { since, maxErrors, ignore }
  const units = { ignore: checkOptionsFrom(failedUnitsOptionsSchema, 'failed-units', settings.options, label).ignore }
  return {
    exec: probeExec({ timeoutMs: 60_000, ...(signal ? { signal } : {}) }),
    root: settings.root,
    flake: settings.flake,
    host: settings.host,
    hostLocal: settings.hostLocal,
    hostHasTarget: settings.hosts[settings.host]?.targetHost !== undefined,
    profile: settings.profile,
    eval: evaluate,
    logDir: settings.logDir,
    logGroup: settings.logGroup,
    nixOptions: settings.nixOptions,
    journal,
    units,
  }
}
