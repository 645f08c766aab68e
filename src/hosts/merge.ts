/**
 * Merging the sources of the inventory: per field, the highest-precedence source that sets it
 * wins (config > colmena > deploy-rs > nixosConfigurations); `sources` records which one did.
 */
import { HOST_FIELDS, HOST_SOURCES, type Host, type HostLayer, type SourceHosts } from './types.js'

/**
 * One host per name any source lists, sorted by name (Nix's attrNames order: by code unit).
 * `flakeNames` are the nixosConfigurations names (undefined when the flake was not read).
 */
export function mergeHosts(sources: readonly SourceHosts[], flakeNames?: ReadonlySet<string>): Host[] {
  const ordered = [...sources].sort((a, b) => HOST_SOURCES.indexOf(a.source) - HOST_SOURCES.indexOf(b.source))
  const names = new Set<string>()
  for (const s of ordered) for (const name of s.hosts.keys()) names.add(name)
  return [...names].sort(byCodeUnit).map((name) => {
    const seen = ordered.filter((s) => s.hosts.has(name))
    const host: Host = {
      name,
      tags: [],
      sshOptions: [],
      privilege: [],
      inFlake: flakeNames?.has(name) ?? false,
      seenIn: seen.map((s) => s.source),
      sources: { name: seen[0]!.source },
    }
    for (const field of HOST_FIELDS) {
      const winner = seen.find((s) => s.hosts.get(name)![field] !== undefined)
      if (!winner) continue
      assign(host, field, winner.hosts.get(name)!)
      host.sources[field] = winner.source
    }
    return inFieldOrder(host)
  })
}

/** The same host with its keys in the order of the Host type (readable JSON). */
function inFieldOrder(h: Host): Host {
  return {
    name: h.name,
    ...(h.targetHost !== undefined ? { targetHost: h.targetHost } : {}),
    ...(h.port !== undefined ? { port: h.port } : {}),
    ...(h.user !== undefined ? { user: h.user } : {}),
    tags: h.tags,
    sshOptions: h.sshOptions,
    privilege: h.privilege,
    ...(h.local !== undefined ? { local: h.local } : {}),
    inFlake: h.inFlake,
    seenIn: h.seenIn,
    sources: h.sources,
  }
}

function assign(host: Host, field: keyof HostLayer, layer: HostLayer): void {
  const value = layer[field]
  // copies: a host must not share arrays with the config it came from
  ;(host as unknown as Record<string, unknown>)[field] = Array.isArray(value) ? [...value] : value
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
