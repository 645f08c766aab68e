/**
 * `nbs status` and `nbs debug`: flags → settings → one library call → output and exit code.
 */
import { dirname, relative, resolve } from 'node:path'
import pc from 'picocolors'
import { loadConfig, resolveSettings, type Settings } from '../config/load.js'
import { collectDebugBundle, renderDebugMarkdown, type DebugBundle } from '../debug/bundle.js'
import { askLlm } from '../debug/llm.js'
import { atomicWrite } from '../fs/atomic-write.js'
import { NbsError, signalExitCode } from '../errors.js'
import { parseReporterSpec } from '../reporters/index.js'
import { probeExec } from '../runner/process.js'
import { formatStatus } from '../status/format.js'
import { createFleetStatus, fleetExitCode } from '../status/fleet.js'
import { formatFleetStatus } from '../status/fleet-format.js'
import { loadInventory } from '../hosts/inventory.js'
import { selectHosts } from '../hosts/select.js'
import { localMachine } from '../machine/local.js'
import { openTargets } from '../runner/targets.js'
import { checkOptionsFrom, journalOptionsFrom } from '../status/journal-options.js'
import { failedUnitsOptionsSchema } from '../status/units.js'
import { createStatusReport, statusExitCode, type StatusOptions } from '../status/report.js'

export interface StatusFlags {
  config?: string
  flake?: string
  host?: string
  root?: string
  json?: boolean
  verbose?: boolean
  eval?: boolean
  /** `--on`: a fleet, one row per selected host */
  on?: string
  parallel?: number
  allowUnreachable?: boolean
}

async function settingsFor(flags: StatusFlags): Promise<Settings> {
  return resolveSettings(await loadConfig(process.cwd(), flags.config), { flake: flags.flake, host: flags.host, root: flags.root })
}

/** The probes' options from the settings, reusing the built-in checks' options from the config. */
export function statusOptions(settings: Settings, evaluate: boolean, signal?: AbortSignal): StatusOptions {
  // the checks' own schemas: bad options are exit 3 here too, and the same window and threshold apply
  const label = settings.configFile ? relative(process.cwd(), settings.configFile) || settings.configFile : 'config'
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

export async function statusAction(flags: StatusFlags): Promise<number> {
  const settings = await settingsFor(flags)
  if (flags.on !== undefined) return fleetStatusAction(settings, flags, flags.on)
  const report = await createStatusReport(statusOptions(settings, flags.eval === true))
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report, { verbose: flags.verbose, color: pc.isColorSupported && process.stdout.isTTY === true }))
  return statusExitCode(report.overallStatus)
}

/** `nbs status --on`: the inventory's selected hosts, read over ssh (or here), one row each. */
async function fleetStatusAction(settings: Settings, flags: StatusFlags, on: string): Promise<number> {
  if (flags.root !== undefined) throw new NbsError('--on reads hosts of the inventory; --root reads one mounted machine: use --host with --root instead')
  // Ctrl-C: stop every host, close the connections, exit 130/143; a second one leaves at once
  const controller = new AbortController()
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => (controller.signal.aborted ? process.exit(signalExitCode(sig)) : controller.abort(sig))
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  const interrupted = () => (controller.signal.reason === 'SIGTERM' ? 143 : 130)
  const signal = controller.signal
  try {
    const inventory = await loadInventory({ settings, exec: probeExec({ timeoutMs: 300_000, signal }), signal })
    for (const note of inventory.notes) process.stderr.write(`nbs status: ${note}\n`)
    const hosts = selectHosts(inventory.hosts, on)
    const { targets, close } = await openTargets(hosts, { root: settings.root })
    try {
      const hostname = await localMachine({ root: settings.root, exec: probeExec({ timeoutMs: 10_000 }) }).hostname().catch(() => null)
      const base = statusOptions(settings, flags.eval === true, signal)
      const fleet = await createFleetStatus({ on, targets, base, parallel: flags.parallel ?? settings.parallel, hostname, signal })
      if (signal.aborted) return interrupted()
      process.stdout.write(flags.json ? `${JSON.stringify(fleet, null, 2)}\n` : formatFleetStatus(fleet, { color: pc.isColorSupported && process.stdout.isTTY === true }))
      return fleetExitCode(fleet, flags.allowUnreachable ?? settings.allowUnreachable)
    } finally {
      await close()
    }
  } catch (e) {
    if (signal.aborted) return interrupted()
    throw e
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
  }
}

export interface DebugFlags extends StatusFlags {
  output?: string
  llm?: boolean
}

/** Writes the bundle (atomically when to a file) and, with --llm, prints the configured command's answer. */
export async function writeDebugBundle(settings: Settings, opts: { json?: boolean; output?: string; llm?: boolean; eval?: boolean }): Promise<{ bundle: DebugBundle; text: string; answer?: string }> {
  const status = statusOptions(settings, opts.eval === true)
  const bundle = await collectDebugBundle(status)
  const text = opts.json ? `${JSON.stringify(bundle, null, 2)}\n` : renderDebugMarkdown(bundle)
  if (opts.output) {
    await atomicWrite(resolve(opts.output), text, 0o600).catch((e: NodeJS.ErrnoException) => {
      throw new NbsError(`--output ${opts.output}: cannot write it (${e.code ?? e.message}); choose a file in an existing, writable directory`)
    })
  }
  const answer = opts.llm ? await askLlm(status.exec, settings.llmCommand, text) : undefined
  return { bundle, text, ...(answer === undefined ? {} : { answer }) }
}

export async function debugAction(flags: DebugFlags): Promise<number> {
  const settings = await settingsFor(flags)
  const { text, answer } = await writeDebugBundle(settings, { json: flags.json, output: flags.output, llm: flags.llm, eval: flags.eval === true })
  if (flags.output) process.stderr.write(`nbs debug: bundle written to ${flags.output} (${dirname(resolve(flags.output))})\n`)
  else if (!flags.llm) process.stdout.write(text)
  if (answer !== undefined) process.stdout.write(answer.endsWith('\n') ? answer : `${answer}\n`)
  return 0
}

/**
 * `nbs check --debug-on-failure` (the old AUTO_DEBUG=1): after a failed run, the bundle goes next to
 * the first report file (or into the working directory), and to the LLM when one is configured.
 */
export async function debugAfterFailedCheck(flags: StatusFlags & { reporters?: string[] }): Promise<{ path: string; answer?: string }> {
  const settings = await settingsFor(flags)
  const file = (flags.reporters ?? []).map((r) => parseReporterSpec(r).path).find((p) => p !== undefined)
  const path = resolve(file ? dirname(resolve(file)) : process.cwd(), 'nbs-debug.md')
  const { answer } = await writeDebugBundle(settings, { output: path, llm: settings.llmCommand !== undefined })
  return { path, ...(answer === undefined ? {} : { answer }) }
}
