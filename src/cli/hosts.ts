/**
 * `nbs hosts`: flags → settings → the inventory → a table or JSON. Notes (sources not read,
 * values that are not literals) go to stderr, so `--json` output stays one document.
 */
import type { CAC } from 'cac'
import { loadConfig, resolveSettings } from '../config/load.js'
import { signalExitCode } from '../errors.js'
import { formatHostsTable } from '../hosts/format.js'
import { loadInventory } from '../hosts/inventory.js'
import { selectHosts } from '../hosts/select.js'
import { probeExec } from '../runner/process.js'
import { abortOnSignals, selectors, text } from './options.js'

interface HostsFlags {
  config?: string
  flake?: string
  json?: boolean
  on?: string
}

/** colmena eval of a large hive evaluates every node: minutes, not seconds */
const INVENTORY_TIMEOUT_MS = 10 * 60_000

export function registerHosts(cli: CAC, argv: readonly string[]): void {
  cli
    .command('hosts', 'List the inventory: the config\'s hosts, colmena, deploy-rs and nixosConfigurations, and where each field came from')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake (default: config, $NH_OS_FLAKE, $NBS_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--on <hosts>', 'Only these: comma-separated name globs and @tag globs (colmena\'s --on)')
    .option('--json', 'Print the hosts as JSON, with the source of each field')
    .example('nbs hosts --on "web-*,@db"')
    .action(async (o: Record<string, unknown>) => {
      const controller = abortOnSignals()
      // interrupted: the children are stopped; exit as the signal says, without their failure
      const interrupted = () => signalExitCode(controller.signal.reason)
      process.exitCode = await hostsAction({ config: text(o.config), flake: text(o.flake), on: selectors(argv, o.on), json: o.json === true }, controller.signal).catch((e: unknown) => {
        if (controller.signal.aborted) return interrupted()
        throw e
      })
      if (controller.signal.aborted) process.exitCode = interrupted()
    })
}

async function hostsAction(flags: HostsFlags, signal?: AbortSignal): Promise<number> {
  const settings = resolveSettings(await loadConfig(process.cwd(), flags.config), { flake: flags.flake })
  const inventory = await loadInventory({ settings, exec: probeExec({ timeoutMs: INVENTORY_TIMEOUT_MS, ...(signal ? { signal } : {}) }), ...(signal ? { signal } : {}) })
  const hosts = flags.on === undefined ? inventory.hosts : selectHosts(inventory.hosts, flags.on)
  for (const note of inventory.notes) process.stderr.write(`nbs hosts: ${note}\n`)
  process.stdout.write(flags.json ? `${JSON.stringify(hosts, null, 2)}\n` : formatHostsTable(hosts))
  return 0
}
