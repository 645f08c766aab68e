import type { z } from 'zod'
import { NbsError, describeZodError } from '../errors.js'
import { toMs } from '../checks/schema.js'
import type { CheckDefinition } from '../checks/types.js'
import type { Settings } from '../config/load.js'
import type { DiscoveredCheck } from '../discovery/discover.js'
import type { PlannedCheck } from '../report/types.js'

/** A check ready to schedule: its references resolved, options validated, limits in ms. */
export interface PlanNode extends PlannedCheck {
  /** soft ordering: checks in this run to wait for, whatever their result */
  after: string[]
  def: CheckDefinition
  file: string
  phaseIndex: number
  timeoutMs: number
  retries: number
  retryDelayMs: number
  options: unknown
  plugin?: string
  pluginOptions?: unknown
  /** set when the check is left out on purpose; it is reported as skipped with this reason */
  excluded?: string
  /** where it runs: `local` (about the flake) or `machine` (about the host), from its phase unless it says */
  runsOn: 'local' | 'machine'
  /** waits on the network, not on this machine's CPUs (the reachable step): a local check that takes no shared local slot */
  network?: boolean
}

/** Phases whose checks are about the flake, and so run where nbs runs; every other phase is about the host. */
export const LOCAL_PHASES: readonly string[] = ['pre-build', 'build']

/** The part of a node that reports see. */
export function plannedCheck(n: PlanNode): PlannedCheck {
  return { id: n.id, host: n.host, title: n.title, phase: n.phase, severity: n.severity, tags: n.tags, needs: n.needs, source: n.source }
}

export interface Plan {
  phases: string[]
  /** in phase order, then discovery order */
  nodes: PlanNode[]
  /** opt-in checks left out (neither enabled in the config nor named with --only): not run, not reported; `nbs list` shows them */
  notEnabled?: PlanNode[]
}

export interface PlanFilters {
  only?: string[]
  skip?: string[]
  phase?: string[]
  tag?: string[]
}

const configLabel = (s: Settings) => (s.configFile ? s.configFile.slice(s.projectRoot.length + 1) : 'config')

/** `needs: ['x']` inside a plugin means the plugin's own `x` when it has one. */
function resolveRef(ref: string, from: DiscoveredCheck, ids: Set<string>): string | undefined {
  if (!ref.includes('/') && from.plugin && ids.has(`${from.plugin}/${ref}`)) return `${from.plugin}/${ref}`
  return ids.has(ref) ? ref : undefined
}

/** The first cycle found, as a path that returns to its start: [a, b, c, a]. */
export function findCycle(nodes: readonly { id: string; needs: readonly string[] }[]): string[] | undefined {
  const needs = new Map(nodes.map((n) => [n.id, n.needs]))
  const state = new Map<string, 'active' | 'done'>()
  const stack: string[] = []
  const visit = (id: string): string[] | undefined => {
    state.set(id, 'active')
    stack.push(id)
    for (const dep of needs.get(id) ?? []) {
      if (state.get(dep) === 'active') return [...stack.slice(stack.indexOf(dep)), dep]
      if (!state.has(dep)) {
        const cycle = visit(dep)
        if (cycle) return cycle
      }
    }
    stack.pop()
    state.set(id, 'done')
    return undefined
  }
  for (const n of nodes) {
    if (state.has(n.id)) continue
    const cycle = visit(n.id)
    if (cycle) return cycle
  }
  return undefined
}

function toNode(check: DiscoveredCheck, settings: Settings, ids: Set<string>): PlanNode {
  const { def } = check
  const phases = settings.phases
  const phase = def.phase ?? phases[phases.length - 1]!
  const phaseIndex = phases.indexOf(phase)
  if (phaseIndex < 0) {
    throw new NbsError(`${check.source}: check "${check.id}" has phase "${phase}", which is not one of the phases (${phases.join(', ')}); fix the check or add the phase in the config`)
  }
  const refs = (field: 'needs' | 'after') =>
    (def[field] ?? []).map((ref) => {
      const id = resolveRef(ref, check, ids)
      if (!id) throw new NbsError(`${check.source}: check "${check.id}" ${field === 'needs' ? 'needs' : 'runs after'} unknown check "${ref}"; fix the id or remove it from ${field}`)
      return id
    })
  const needs = refs('needs')
  const after = refs('after')
  let options: unknown = settings.options[check.id]
  let severity = def.severity ?? 'error'
  const schema = (def as { options?: z.ZodType }).options
  if (schema) {
    const parsed = schema.safeParse(options ?? {})
    if (!parsed.success) throw new NbsError(`${configLabel(settings)}: ${describeZodError(parsed.error, ['options', check.id])}`)
    options = parsed.data
    // A check whose options carry a `severity` lets the config decide whether it gates the run
    // (journal-errors: a warning by default, `severity: 'error'` to gate); it wins over the file's.
    const chosen = (options as { severity?: unknown } | null)?.severity
    if (chosen === 'error' || chosen === 'warning') severity = chosen
  } else if (options !== undefined) {
    throw new NbsError(`${configLabel(settings)}: options.${check.id}: check "${check.id}" takes no options; remove them`)
  }
  return {
    id: check.id,
    host: settings.host,
    title: def.title ?? check.id,
    phase,
    phaseIndex,
    severity,
    tags: def.tags ?? [],
    needs,
    after,
    runsOn: def.runsOn ?? (LOCAL_PHASES.includes(phase) ? 'local' : 'machine'),
    source: check.source,
    def,
    file: check.file,
    timeoutMs: toMs(def.timeout) ?? settings.timeoutMs,
    retries: def.retries ?? 0,
    retryDelayMs: toMs(def.retryDelay) ?? 0,
    options,
    ...(check.plugin ? { plugin: check.plugin, pluginOptions: check.pluginOptions } : {}),
  }
}

/** Validates the whole graph before anything runs, then applies the filters. */
export function buildPlan(checks: readonly DiscoveredCheck[], settings: Settings, filters: PlanFilters = {}): Plan {
  const ids = new Set(checks.map((c) => c.id))
  for (const id of Object.keys(settings.options)) {
    if (!ids.has(id)) throw new NbsError(`${configLabel(settings)}: options.${id}: no check has the id "${id}"`)
  }
  const all = checks.map((c) => toNode(c, settings, ids))
  const byId = new Map(all.map((n) => [n.id, n]))
  for (const node of all) {
    for (const dep of [...node.needs, ...node.after]) {
      const target = byId.get(dep)!
      if (target.phaseIndex > node.phaseIndex) {
        throw new NbsError(`${node.source}: check "${node.id}" (phase ${node.phase}) needs "${dep}" from the later phase ${target.phase}; a check may only need checks of its own or an earlier phase`)
      }
    }
  }
  const cycle = findCycle(all.map((n) => ({ id: n.id, needs: [...n.needs, ...n.after] })))
  if (cycle) throw new NbsError(`dependency cycle: ${cycle.join(' → ')}; remove one of these needs`)

  const known = (flag: string, values: string[] | undefined, exists: (v: string) => boolean, what: string) => {
    for (const v of values ?? []) if (!exists(v)) throw new NbsError(`${flag} ${v}: ${what}; see nbs list`)
  }
  known('--only', filters.only, (v) => byId.has(v), 'no check has this id')
  known('--skip', filters.skip, (v) => byId.has(v), 'no check has this id')
  known('--phase', filters.phase, (v) => settings.phases.includes(v), `not a phase (${settings.phases.join(', ')})`)
  known('--tag', filters.tag, (v) => all.some((n) => n.tags.includes(v)), 'no check has this tag')
  settings.disable.forEach((id, i) => {
    if (!byId.has(id)) throw new NbsError(`${configLabel(settings)}: disable[${i}]: no check has the id "${id}"`)
  })
  settings.enable.forEach((id, i) => {
    if (!byId.has(id)) throw new NbsError(`${configLabel(settings)}: enable[${i}]: no check has the id "${id}"; see nbs list`)
    if (settings.disable.includes(id)) throw new NbsError(`${configLabel(settings)}: enable[${i}]: "${id}" is also in disable; keep it in one of them`)
  })

  // Opt-in checks (a full build) run only when the config enables them or --only names them;
  // --phase and --tag narrow what would run anyway, they never pull one in.
  const enabled = new Set([...settings.enable, ...(filters.only ?? [])])
  const notEnabled = (n: PlanNode) => n.def.optIn === true && !enabled.has(n.id)

  // selection, then everything the selected checks need (a check cannot run without its needs,
  // so a check that needs an opt-in one brings it in)
  let selected = all.filter(
    (n) =>
      !notEnabled(n) &&
      (!filters.only?.length || filters.only.includes(n.id)) &&
      (!filters.phase?.length || filters.phase.includes(n.phase)) &&
      (!filters.tag?.length || n.tags.some((t) => filters.tag!.includes(t))),
  )
  const wanted = new Set<string>()
  const want = (id: string) => {
    if (wanted.has(id)) return
    wanted.add(id)
    byId.get(id)!.needs.forEach(want)
  }
  selected.forEach((n) => want(n.id))
  selected = all.filter((n) => wanted.has(n.id))

  const disabled = new Set(settings.disable)
  const skipped = new Set(filters.skip ?? [])
  const nodes = selected
    // `after` only orders checks that are in this run
    .map((n) => (n.after.every((id) => wanted.has(id)) ? n : { ...n, after: n.after.filter((id) => wanted.has(id)) }))
    .map((n) => (disabled.has(n.id) ? { ...n, excluded: 'disabled in config' } : skipped.has(n.id) ? { ...n, excluded: 'skipped with --skip' } : n))
    .sort((a, b) => a.phaseIndex - b.phaseIndex)
  const left = all.filter((n) => notEnabled(n) && !wanted.has(n.id)).sort((a, b) => a.phaseIndex - b.phaseIndex)
  return { phases: settings.phases, nodes, ...(left.length ? { notEnabled: left } : {}) }
}
