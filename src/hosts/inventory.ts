/**
 * The fleet inventory: the config's `hosts`, colmena's hive, deploy-rs's nodes and the names of
 * nixosConfigurations, merged per field in that order of precedence (merge.ts).
 *
 * Cost: one `nix eval` of the flake (names and literal values only: no configuration is evaluated),
 * plus, only when the flake has a colmena hive, `colmena eval` (when installed) or a `nix eval`
 * of its colmenaHive, which evaluate every node as colmena does.
 */
import { existsSync } from 'node:fs'
import { currentUserName } from '../machine/users.js'
import type { Exec } from '../checks/types.js'
import type { Settings } from '../config/load.js'
import type { HostConfig } from '../config/schema.js'
import { NbsError } from '../errors.js'
import type { NixError } from '../nix/errors.js'
import { localFlakeDir, notAFlakeReason } from '../nix/flake.js'
import { evalColmenaHive, evaluatedColmenaLayers, literalColmenaLayers, runColmenaEval } from './colmena.js'
import { deployRsLayers } from './deploy-rs.js'
import { readFlakeHosts } from './flake-hosts.js'
import { mergeHosts } from './merge.js'
import type { Host, HostLayer, HostSource, SourceHosts } from './types.js'

export interface Inventory {
  /** every host, sorted by name */
  hosts: Host[]
  /** what the user should know: sources not read, values that are not literals, fallbacks taken */
  notes: string[]
  /** how colmena's hive was read, when the flake has one */
  colmena?: Extract<HostSource, 'colmena eval' | 'colmenaHive' | 'colmena hive (literal)'>
}

export interface LoadInventoryOptions {
  settings: Pick<Settings, 'flake' | 'hosts' | 'nixOptions'>
  /** runs nix and colmena (probeExec in the CLI) */
  exec: Exec
  signal?: AbortSignal
  /** where a relative flake path starts (default: the working directory) */
  cwd?: string
}

/** The flake could not be evaluated for its inventory; `errors` are Nix's own. */
export class InventoryError extends NbsError {
  constructor(
    message: string,
    readonly errors: NixError[],
  ) {
    super(message, 1)
    this.name = 'NbsError'
  }
}

export async function loadInventory(opts: LoadInventoryOptions): Promise<Inventory> {
  const { settings } = opts
  const notes: string[] = []
  const sources: SourceHosts[] = [{ source: 'config', hosts: configLayers(settings.hosts) }]
  const local = localFlakeDir(settings.flake, opts.cwd)
  // no flake where one is looked for (the /etc/nixos default on a CI runner): the config lists the fleet
  const notAFlake = !('error' in local) && !existsSync(local.dir) ? `the flake ${local.dir} does not exist` : notAFlakeReason(settings.flake, opts.cwd)
  if (notAFlake) {
    notes.push(`${notAFlake}; the inventory is the config's hosts only`)
    return { hosts: mergeHosts(sources), notes }
  }
  const call = { flake: settings.flake, exec: opts.exec, nixOptions: settings.nixOptions, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) }
  const read = await readFlakeHosts(call)
  if (!read.ok) {
    if ('notFound' in read) {
      notes.push("nix is not on PATH: the inventory is the config's hosts only (install Nix to read the flake's hosts)")
      return { hosts: mergeHosts(sources), notes }
    }
    const first = read.errors[0]?.message.split('\n')[0] ?? 'nix eval failed'
    throw new InventoryError(`cannot read the hosts of ${settings.flake}: ${first}`, read.errors)
  }
  notes.push(...read.notes)
  const out = read.value
  let colmena: Inventory['colmena']
  const colmenaNodes = out.colmena && 'nodes' in out.colmena ? out.colmena.nodes : undefined
  if (out.colmena && 'error' in out.colmena) notes.push(`colmena hive: ${out.colmena.error}`)
  if (colmenaNodes || out.colmenaHive) {
    const evaluated = await evaluatedColmena(call, out.colmenaHive, notes)
    if (evaluated) {
      colmena = evaluated.source
      sources.push(evaluated)
    } else if (colmenaNodes) {
      colmena = 'colmena hive (literal)'
      sources.push({ source: colmena, hosts: literalColmenaLayers(colmenaNodes, notes) })
    }
  }
  if (out.deployRs) sources.push({ source: 'deploy-rs', hosts: deployRsLayers(out.deployRs, localUser(), notes) })
  if (out.hasNixosConfigurations && out.nixosConfigurations === null) notes.push('nixosConfigurations is not an attribute set; no host comes from it')
  const names = new Set(out.nixosConfigurations ?? [])
  sources.push({ source: 'nixosConfigurations', hosts: new Map([...names].map((n) => [n, {}])) })
  const hosts = mergeHosts(sources, names)
  const outside = hosts.filter((h) => !h.inFlake && h.seenIn.some((s) => s !== 'config')).map((h) => h.name)
  if (outside.length) notes.push(`not in nixosConfigurations, so nbs cannot evaluate or build them: ${outside.join(', ')}`)
  // a name only the config knows is often a typo of a flake host
  const configOnly = hosts.filter((h) => h.seenIn.length === 1 && h.seenIn[0] === 'config').map((h) => h.name)
  if (configOnly.length) notes.push(`the config's hosts name what the flake does not have (a typo?): ${configOnly.join(', ')}`)
  return { hosts, notes, ...(colmena ? { colmena } : {}) }
}

/** colmena eval when installed, else the flake's colmenaHive; undefined when neither gave the nodes. */
async function evaluatedColmena(
  call: Parameters<typeof runColmenaEval>[0],
  hasColmenaHive: boolean,
  notes: string[],
): Promise<(SourceHosts & { source: 'colmena eval' | 'colmenaHive' }) | undefined> {
  const viaColmena = await runColmenaEval(call)
  if (viaColmena.ok) {
    const hosts = evaluatedColmenaLayers(viaColmena.value, 'colmena eval', notes)
    if (hosts) return { source: 'colmena eval', hosts }
  } else if (!viaColmena.notFound) notes.push(viaColmena.error)
  if (!hasColmenaHive) return undefined
  const viaNix = await evalColmenaHive(call)
  if (viaNix.ok) {
    const hosts = evaluatedColmenaLayers(viaNix.value, 'colmenaHive', notes)
    if (hosts) return { source: 'colmenaHive', hosts }
  } else notes.push(viaNix.error)
  return undefined
}

function configLayers(hosts: Record<string, HostConfig>): Map<string, HostLayer> {
  const out = new Map<string, HostLayer>()
  for (const [name, h] of Object.entries(hosts)) {
    const layer: HostLayer = {}
    if (h.targetHost !== undefined) layer.targetHost = h.targetHost
    if (h.port !== undefined) layer.port = h.port
    if (h.user !== undefined) layer.user = h.user
    if (h.tags !== undefined) layer.tags = h.tags
    if (h.sshOptions !== undefined) layer.sshOptions = h.sshOptions
    if (h.privilege !== undefined) layer.privilege = h.privilege
    if (h.local !== undefined) layer.local = h.local
    out.set(name, layer)
  }
  return out
}

function localUser(): string {
  return currentUserName() ?? process.env.USER ?? ''
}

/**
 * The one host of a run without `--on`, as before fleets: `--host` or this machine's name, with
 * what the config says about it (a `targetHost` there checks it over ssh). No evaluation: a
 * single-host run costs what it did.
 */
export function singleHost(settings: Settings): Host {
  const [merged] = mergeHosts([{ source: 'config', hosts: new Map([...configLayers(settings.hosts)].filter(([name]) => name === settings.host)) }])
  return merged ?? { name: settings.host, tags: [], sshOptions: [], privilege: [], inFlake: true, seenIn: [], sources: {} }
}
