/**
 * `nbs status --on`: the inventory's selected hosts, read over ssh (or here), one row each. The
 * connections are closed before this returns, also when it throws or is aborted.
 */
import type { Settings } from '../config/load.js'
import { loadInventory } from '../hosts/inventory.js'
import { selectHosts } from '../hosts/select.js'
import { localMachine } from '../machine/local.js'
import { probeExec } from '../runner/process.js'
import { openTargets } from '../runner/targets.js'
import { createFleetStatus, type FleetStatus } from './fleet.js'
import { statusOptions } from './options.js'

export interface ReadFleetStatusOptions {
  /** the `--on` selectors */
  on: string
  /** also evaluate the flake (cached), as `--eval` */
  eval: boolean
  /** hosts read at once (default: the settings') */
  parallel?: number
  signal: AbortSignal
  /** what the inventory could not read, one line each */
  onNote?: (note: string) => void
}

export async function readFleetStatus(settings: Settings, opts: ReadFleetStatusOptions): Promise<FleetStatus> {
  const { signal } = opts
  const inventory = await loadInventory({ settings, exec: probeExec({ timeoutMs: 300_000, signal }), signal })
  for (const note of inventory.notes) opts.onNote?.(note)
  const hosts = selectHosts(inventory.hosts, opts.on)
  const { targets, close } = await openTargets(hosts, { root: settings.root })
  try {
    const hostname = await localMachine({ root: settings.root, exec: probeExec({ timeoutMs: 10_000 }) }).hostname().catch(() => null)
    const base = statusOptions(settings, opts.eval, signal)
    return await createFleetStatus({ on: opts.on, targets, base, parallel: opts.parallel ?? settings.parallel, hostname, signal })
  } finally {
    await close()
  }
}
