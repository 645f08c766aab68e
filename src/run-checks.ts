import { loadConfig, resolveSettings, type Settings, type SettingsFlags } from './config/load.js'
import { discoverChecks } from './discovery/discover.js'
import { NbsError } from './errors.js'
import { hostSummary, summarize, runStatus } from './report/summary.js'
import type { CheckResult, RunReport } from './report/types.js'
import { parseReporterSpec, reporterFactory } from './reporters/index.js'
import { assertWritable, fileSink, stdoutSink, type OutputSink, type Terminal } from './reporters/sink.js'
import type { Reporter, ReporterFactory } from './reporters/types.js'
import { loadPlugins, pluginReporters, type LoadedPlugin } from './plugins/load.js'
import type { PluginContext, PluginHooks } from './plugins/define.js'
import { relative, resolve } from 'node:path'
import { setMaxListeners } from 'node:events'
import { killOrphans, probeExec } from './runner/process.js'
import { localMachine } from './machine/local.js'
import { hostLocality, quickLocality, type Locality } from './machine/locality.js'
import { evalHostName } from './nix/eval.js'
import { nixOptionArgs } from './nix/flake.js'
import { findCycle } from './runner/graph.js'
import type { DependencyOutcome } from './runner/run-check.js'
import { buildPlan, plannedCheck, type Plan, type PlanFilters } from './runner/graph.js'
import { schedule } from './runner/scheduler.js'
import { VERSION } from './version.js'

export interface CheckRunOptions extends SettingsFlags, PlanFilters {
  cwd: string
  config?: string
  /** `NAME[:PATH]` specs; default: the config's, else `pretty` on stdout */
  reporters?: string[]
  bail?: boolean
  /** where stdout reporters write */
  stdout: Terminal
  /** abort with reason 'SIGINT' or 'SIGTERM' to interrupt the run */
  signal?: AbortSignal
}

export interface CheckRunResult {
  report: RunReport
  exitCode: number
  /** reporters and plugin hooks that broke; the run's reports are still written */
  reporterErrors: string[]
}

/** Loads config, plugins and check files and validates the graph: everything that can fail before a run. */
export async function prepareRun(
  opts: Pick<CheckRunOptions, 'cwd' | 'config'> & SettingsFlags & PlanFilters,
): Promise<{ settings: Settings; plan: Plan; plugins: LoadedPlugin[] }> {
  const loaded = await loadConfig(opts.cwd, opts.config)
  const settings = resolveSettings(loaded, opts)
  const plugins = await loadPlugins(settings.projectRoot, settings.plugins, loaded.file ? relative(opts.cwd, loaded.file) : 'config')
  const checks = await discoverChecks(settings, plugins)
  return { settings, plan: buildPlan(checks, settings, opts), plugins }
}

interface ActiveReporter {
  name: string
  reporter: Reporter
  sink: OutputSink
}

function createReporters(specs: string[], opts: CheckRunOptions, extra: Record<string, ReporterFactory>): ActiveReporter[] {
  const parsed = specs.map(parseReporterSpec)
  const onStdout = parsed.filter((s) => s.path === undefined)
  if (onStdout.length > 1) throw new NbsError(`--reporter: ${onStdout.map((s) => s.spec).join(' and ')} both write to stdout; give all but one a :PATH`)
  // with only file reports, people still see progress: pretty takes stdout
  if (onStdout.length === 0) parsed.unshift({ name: 'pretty', spec: 'pretty' })
  const targets = new Map<string, string>()
  return parsed.map((spec) => {
    const factory = reporterFactory(spec, extra)
    if (spec.path !== undefined) {
      const file = resolve(opts.cwd, spec.path)
      const clash = targets.get(file)
      if (clash) throw new NbsError(`--reporter ${spec.spec}: ${clash} writes the same file; give each report its own path`)
      targets.set(file, spec.spec)
      assertWritable(file, `--reporter ${spec.spec}`)
    }
    const sink = spec.path === undefined ? stdoutSink(opts.stdout) : fileSink(spec.path, opts.cwd)
    let reporter: Reporter | undefined
    try {
      reporter = factory({ sink })
    } catch (e) {
      throw new NbsError(`--reporter ${spec.spec}: the reporter factory threw: ${(e as Error).message}`)
    }
    if (!reporter || typeof reporter !== 'object') throw new NbsError(`--reporter ${spec.spec}: the reporter factory returned ${String(reporter)}, not a reporter object`)
    return { name: spec.name, reporter, sink }
  })
}

/** Hooks and reporters get this long per event; one that never settles must not eat the reports. */
const HOOK_DEADLINE_MS = 30_000

async function withDeadline(value: unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${HOOK_DEADLINE_MS / 1000} s`)), HOOK_DEADLINE_MS)
    timer.unref()
  })
  try {
    await Promise.race([value, deadline])
  } finally {
    clearTimeout(timer)
  }
}

const FLAKE_EVAL = 'flake-eval'

/**
 * Decides once whether the host is this machine, for the machine checks. When the names do not
 * settle it, the machine checks wait for flake-eval (which evaluates networking.hostName in the
 * same evaluation as the toplevel); without flake-eval in the run, one small evaluation of the
 * host name is made the first time a machine check asks.
 */
async function localityResolver(settings: Settings, plan: Plan, signal: AbortSignal): Promise<(deps: Record<string, DependencyOutcome>) => Promise<Locality>> {
  const hostname = await localMachine({ root: settings.root, exec: probeExec({ timeoutMs: 10_000 }) }).hostname().catch(() => null)
  const inputs = { host: settings.host, hostname, configLocal: settings.hostLocal }
  const quick = quickLocality(inputs)
  if (quick) return async () => quick
  const machineNodes = plan.nodes.filter((n) => n.runsOn === 'machine' && !n.excluded)
  const flakeEval = plan.nodes.find((n) => n.id === FLAKE_EVAL && !n.excluded)
  if (flakeEval) {
    for (const n of machineNodes) {
      if (n.after.includes(FLAKE_EVAL) || n.needs.includes(FLAKE_EVAL) || n.phaseIndex < flakeEval.phaseIndex) continue
      const edges = plan.nodes.map((m) => ({ id: m.id, needs: [...m.needs, ...m.after, ...(m === n ? [FLAKE_EVAL] : [])] }))
      if (!findCycle(edges)) n.after = [...n.after, FLAKE_EVAL]
    }
  }
  let own: Promise<Locality> | undefined
  return (deps) => {
    const evaluated = deps[FLAKE_EVAL]
    if (evaluated) {
      const hostName = (evaluated.data as { hostName?: string } | undefined)?.hostName
      const unavailable = evaluated.status === 'passed' ? 'it sets no networking.hostName' : `flake-eval ${evaluated.status}, so its networking.hostName is unknown`
      return Promise.resolve(hostLocality({ ...inputs, ...(hostName ? { evaluatedHostName: hostName } : { unavailable }) }))
    }
    own ??= evalHostName({ exec: probeExec({ timeoutMs: 120_000, signal }), flake: settings.flake, host: settings.host, extraArgs: nixOptionArgs(settings.nixOptions) }).then((r) =>
      hostLocality({ ...inputs, ...(r.hostName ? { evaluatedHostName: r.hostName } : { unavailable: r.error ? `its networking.hostName could not be evaluated: ${r.error}` : 'it sets no networking.hostName' }) }),
    )
    return own
  }
}

/** `nbs check`: plan, run, report. Throws NbsError (exit 3) for anything invalid before the run. */
export async function runChecks(opts: CheckRunOptions): Promise<CheckRunResult> {
  const { settings, plan, plugins } = await prepareRun(opts)
  const reporters = createReporters(opts.reporters?.length ? opts.reporters : settings.reporters, opts, pluginReporters(plugins))
  const signal = opts.signal ?? new AbortController().signal
  // every running check listens to it: many at once is expected, not a leak
  setMaxListeners(0, signal)
  const reporterErrors: string[] = []

  // one ordered event stream; a slow or broken reporter never stalls or kills the run
  let events = Promise.resolve()
  /** queues one listener call; a throw or a missed deadline becomes a reported error */
  const queue = (label: string, call: () => unknown) => {
    events = events.then(async () => {
      try {
        await withDeadline(call())
      } catch (e) {
        reporterErrors.push(`${label}: ${(e as Error).message}`)
      }
    })
  }
  const emit = <K extends keyof Reporter>(hook: K, arg: Parameters<NonNullable<Reporter[K]>>[0]) => {
    // plugin hooks first, in plugin order, so a reporter sees the event after every hook did
    if (hook !== 'onCheckStart') {
      for (const p of plugins) {
        const fn = p.plugin.hooks?.[hook as keyof PluginHooks] as ((a: typeof arg, ctx: PluginContext) => unknown) | undefined
        if (fn) queue(`plugin ${p.name} (${hook})`, () => fn.call(p.plugin.hooks, arg, { name: p.name, options: p.options }))
      }
    }
    for (const r of reporters) {
      const fn = r.reporter[hook] as ((a: typeof arg) => unknown) | undefined
      if (fn) queue(`reporter ${r.name} (${hook})`, () => fn.call(r.reporter, arg))
    }
  }

  const host = settings.host
  const locality = await localityResolver(settings, plan, signal)
  const started = new Date()
  emit('onRunStart', {
    startedAt: started.toISOString(),
    host,
    hosts: [host],
    fleet: false,
    failOn: settings.failOn,
    phases: plan.phases.map((name) => ({ name, checks: plan.nodes.filter((n) => n.phase === name).map(plannedCheck) })),
    total: plan.nodes.length,
  })
  const results = await schedule(plan, {
    concurrency: settings.concurrency,
    bail: opts.bail ?? false,
    failOn: settings.failOn,
    env: { flake: settings.flake, host: settings.host, root: settings.root, profile: settings.profile, projectRoot: settings.projectRoot, nixOptions: settings.nixOptions, signal, locality },
    onCheckStart: (check) => emit('onCheckStart', check),
    onCheckEnd: (result) => emit('onCheckEnd', result),
  })
  killOrphans()
  const finished = new Date()
  const interrupted = signal.aborted ? { signal: signal.reason === 'SIGTERM' ? ('SIGTERM' as const) : ('SIGINT' as const) } : undefined
  const byId = new Map(results.map((r) => [r.id, r]))
  const ordered: CheckResult[] = plan.nodes.map((n) => byId.get(n.id)!)
  const report: RunReport = {
    schemaVersion: 2,
    tool: { name: 'nbs', version: VERSION },
    host,
    fleet: false,
    hosts: [hostSummary({ name: host, target: settings.root === '/' ? 'this machine' : `root ${settings.root}` }, ordered, settings.failOn, interrupted !== undefined)],
    flake: settings.flake,
    root: settings.root,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    status: runStatus(ordered, settings.failOn, interrupted !== undefined),
    ...(interrupted ? { interrupted } : {}),
    failOn: settings.failOn,
    summary: summarize(ordered),
    phases: plan.phases.map((name) => ({ name, checks: ordered.filter((r) => r.phase === name) })),
  }
  emit('onRunEnd', report)
  await events
  await Promise.all(
    reporters.map((r) =>
      r.sink.close().catch((e: Error) => {
        reporterErrors.push(`reporter ${r.name}: cannot write ${r.sink.target}: ${e.message}`)
      }),
    ),
  )
  const exitCode = interrupted ? (interrupted.signal === 'SIGTERM' ? 143 : 130) : report.status === 'failed' || reporterErrors.length ? 1 : 0
  return { report, exitCode, reporterErrors }
}
