import type { SettingsFlags } from './config/load.js'
import { prepareRun } from './run-checks.js'

export interface ListedCheck {
  id: string
  title: string
  phase: string
  needs: string[]
  after: string[]
  tags: string[]
  severity: 'error' | 'warning'
  source: string
  /** the plugin it comes from */
  plugin?: string
  /** why it would not run (disabled in config), when it would not */
  disabled?: string
  /** runs only when enabled (config `enable`, or `--only ID`) */
  optIn?: true
  /** for an opt-in check: whether the config enables it */
  enabled?: boolean
}

/** `nbs list`: every discovered check in run order, with what it needs. */
export async function listChecks(opts: { cwd: string; config?: string } & SettingsFlags): Promise<{ phases: string[]; checks: ListedCheck[] }> {
  const { plan } = await prepareRun(opts)
  // opt-in checks that are not enabled are not in the run, but are listed (stable sort: by phase)
  const nodes = [...plan.nodes, ...(plan.notEnabled ?? [])].sort((a, b) => a.phaseIndex - b.phaseIndex)
  const left = new Set((plan.notEnabled ?? []).map((n) => n.id))
  return {
    phases: plan.phases,
    checks: nodes.map((n) => ({
      id: n.id,
      title: n.title,
      phase: n.phase,
      needs: n.needs,
      after: n.after,
      tags: n.tags,
      severity: n.severity,
      source: n.source,
      ...(n.plugin ? { plugin: n.plugin } : {}),
      ...(n.excluded ? { disabled: n.excluded } : {}),
      ...(n.def.optIn ? { optIn: true as const, enabled: !left.has(n.id) } : {}),
    })),
  }
}

/** Plain text, one block per phase (no colour: it is also piped into grep). */
export function formatCheckList(list: { phases: string[]; checks: ListedCheck[] }): string {
  if (list.checks.length === 0) return 'no checks found\n'
  const width = Math.max(...list.checks.map((c) => c.id.length))
  const lines: string[] = []
  for (const phase of list.phases) {
    const checks = list.checks.filter((c) => c.phase === phase)
    if (checks.length === 0) continue
    lines.push(`${phase} (${checks.length})`)
    for (const c of checks) {
      const extra = [
        c.needs.length ? `needs: ${c.needs.join(', ')}` : '',
        c.after.length ? `after: ${c.after.join(', ')}` : '',
        c.tags.length ? `tags: ${c.tags.join(', ')}` : '',
        c.plugin ? `plugin: ${c.plugin}` : '',
        c.severity === 'warning' ? 'warning' : '',
        c.optIn ? (c.enabled ? 'opt-in, enabled' : `opt-in: enable with enable: ["${c.id}"] in the config, or --only ${c.id}`) : '',
        c.disabled ?? '',
        c.source,
      ].filter(Boolean)
      lines.push(`  ${c.id.padEnd(width)}  ${c.title === c.id ? '' : `${c.title}  `}[${extra.join(' · ')}]`)
    }
  }
  return `${lines.join('\n')}\n`
}
