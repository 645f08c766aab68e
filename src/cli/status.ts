/**
 * `nbs status`: flags → settings → one library call → output and exit code; with `--on`, one row
 * per selected host of the inventory.
 */
import type { CAC } from 'cac'
import pc from 'picocolors'
import { loadConfig, resolveSettings, type Settings } from '../config/load.js'
import { NbsError, signalExitCode } from '../errors.js'
import { fleetExitCode } from '../status/fleet.js'
import { formatFleetStatus } from '../status/fleet-format.js'
import { readFleetStatus } from '../status/fleet-read.js'
import { formatStatus } from '../status/format.js'
import { statusOptions } from '../status/options.js'
import { createStatusReport, statusExitCode } from '../status/report.js'
import { abortOnSignals, selectors, text, wholeNumber } from './options.js'

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

/** the flags `nbs status` and `nbs debug` share */
export function statusFlags(argv: readonly string[], o: Record<string, unknown>): StatusFlags {
  return {
    config: text(o.config),
    flake: text(o.flake),
    host: text(o.host),
    root: text(o.root),
    json: o.json === true,
    verbose: o.verbose === true,
    // only `--eval` evaluates; `--no-eval` (the old opt-out) is still accepted, and the last one given wins
    eval: ([] as unknown[]).concat(o.eval).at(-1) === true,
    ...(o.on !== undefined ? { on: selectors(argv, o.on) } : {}),
    ...(o.parallel !== undefined ? { parallel: wholeNumber('--parallel', o.parallel, 0) } : {}),
    ...(o.allowUnreachable === true ? { allowUnreachable: true } : {}),
  }
}

export async function settingsFor(flags: StatusFlags): Promise<Settings> {
  return resolveSettings(await loadConfig(process.cwd(), flags.config), { flake: flags.flake, host: flags.host, root: flags.root })
}

export function registerStatus(cli: CAC, argv: readonly string[]): void {
  cli
    .command('status', 'Is this machine healthy and running what the flake says? (exit 0 healthy, 1 out of sync, 2 build errors)')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake (default: config, $NH_OS_FLAKE, $NBS_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--host <name>', 'nixosConfigurations attribute (default: config, the hostname of --root or of this machine)')
    .option('--root <dir>', 'Filesystem root to read machine state from (default: /)')
    .option('--json', 'Print the status report as JSON')
    .option('--verbose', 'Show paths, error details and journal lines')
    .option('--eval', 'Also evaluate the flake to compare its toplevel with the running system when no revision is recorded (cached by flake.lock, HEAD, changes and host)')
    .option('--on <selectors>', "These hosts of the inventory, one row each: name globs and @tag globs, comma-separated ('web-*,@db')")
    .option('--parallel <n>', 'Hosts read at once with --on (default: config, else 10; 0 = all)')
    .option('--allow-unreachable', 'With --on: a host ssh cannot reach does not make the exit code 1')
    .example('nbs status --json | jq .overallStatus')
    .example("nbs status --on '@web'")
    .example('nbs status --eval')
    .action(async (o: Record<string, unknown>) => {
      process.exitCode = await statusAction(statusFlags(argv, o))
    })
}

async function statusAction(flags: StatusFlags): Promise<number> {
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
  const { signal, dispose } = abortOnSignals()
  try {
    const fleet = await readFleetStatus(settings, {
      on,
      eval: flags.eval === true,
      ...(flags.parallel !== undefined ? { parallel: flags.parallel } : {}),
      signal,
      onNote: (note) => process.stderr.write(`nbs status: ${note}\n`),
    })
    if (signal.aborted) return signalExitCode(signal.reason)
    process.stdout.write(flags.json ? `${JSON.stringify(fleet, null, 2)}\n` : formatFleetStatus(fleet, { color: pc.isColorSupported && process.stdout.isTTY === true }))
    return fleetExitCode(fleet, flags.allowUnreachable ?? settings.allowUnreachable)
  } catch (e) {
    if (signal.aborted) return signalExitCode(signal.reason)
    throw e
  } finally {
    dispose()
  }
}
