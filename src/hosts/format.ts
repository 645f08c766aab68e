/** `nbs hosts` as a table: one line per host, and where each field came from. */
import { HOST_FIELDS, type Host } from './types.js'

/** `targetHost,port←config, tags←colmena hive (literal)`: the fields set, grouped by the source that won. */
export function formatSources(host: Host): string {
  const bySource = new Map<string, string[]>()
  for (const f of HOST_FIELDS) {
    const source = host.sources[f]
    if (source) bySource.set(source, [...(bySource.get(source) ?? []), f])
  }
  const parts = [...bySource].map(([source, fields]) => `${fields.join(',')}←${source}`)
  if (!host.inFlake) parts.push(`not in nixosConfigurations (listed by ${host.seenIn.join(', ')})`)
  return parts.join(', ') || host.seenIn.join(', ')
}

export function formatHostsTable(hosts: readonly Host[]): string {
  if (!hosts.length) return 'no hosts: the flake has no nixosConfigurations, colmena hive or deploy-rs nodes, and the config lists none\n'
  const rows = hosts.map((h) => [
    h.name,
    h.targetHost ?? (h.local ? '(this machine)' : '-'),
    h.port === undefined ? '-' : String(h.port),
    h.user ?? '-',
    h.tags.length ? h.tags.join(',') : '-',
    formatSources(h),
  ])
  const header = ['NAME', 'TARGET', 'PORT', 'USER', 'TAGS', 'SOURCES']
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return `${[header, ...rows].map(line).join('\n')}\n`
}
