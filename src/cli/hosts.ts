/**
 * `nbs hosts`: flags → settings → the inventory → a table or JSON. Notes (sources not read,
 * values that are not literals) go to stderr, so `--json` output stays one document.
 */
import { loadConfig, resolveSettings } from '../config/load.js'
import { formatHostsTable } from '../hosts/format.js'
import { loadInventory } from '../hosts/inventory.js'
import { selectHosts } from '../hosts/select.js'
import { probeExec } from '../runner/process.js'

export interface HostsFlags {
  config?: string
  flake?: string
  json?: boolean
  on?: string
}

/** colmena eval of a large hive evaluates every node: minutes, not seconds */
const INVENTORY_TIMEOUT_MS = 10 * 60_000

export async function hostsAction(flags: HostsFlags, signal?: AbortSignal): Promise<number> {
  const settings = resolveSettings(await loadConfig(process.cwd(), flags.config), { flake: flags.flake })
  const inventory = await loadInventory({ settings, exec: probeExec({ timeoutMs: INVENTORY_TIMEOUT_MS, ...(signal ? { signal } : {}) }), ...(signal ? { signal } : {}) })
  const hosts = flags.on === undefined ? inventory.hosts : selectHosts(inventory.hosts, flags.on)
  for (const note of inventory.notes) process.stderr.write(`nbs hosts: ${note}\n`)
  process.stdout.write(flags.json ? `${JSON.stringify(hosts, null, 2)}\n` : formatHostsTable(hosts))
  return 0
}
