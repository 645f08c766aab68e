import { z } from 'zod'
import { configLabel, loadConfig, resolveSettings, type ReporterEntry, type Settings, type SettingsFlags } from './config/load.js'
import { discoverChecks } from './discovery/discover.js'
import { describeZodError, NbsError } from './errors.js'
import { hostSummary, summarize, runStatus } from './report/summary.js'
import type { CheckResult, RunReport } from './report/types.js'
import { builtinReporters, parseReporterSpec, reporterFactory, type ReporterSpec } from './reporters/index.js'
import { assertWritable, fileSink, stdoutSink, type OutputSink, type Terminal } from './reporters/sink.js'
import type { Reporter, ReporterFactory } from './reporters/types.js'
import { commandSafeSink } from './reporters/github.js'
import { loadPlugins, pluginReporters, type LoadedPlugin } from './plugins/load.js'
import type { PluginContext, PluginHooks } from './plugins/define.js'
import { resolve } from 'node:path'
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
import { hostPlan, REACHABLE_ID } from './runner/host-plan.js'
import { limiter } from './runner/limiter.js'
import { openTargets, SSH_CONNECT_TIMEOUT_S } from './runner/targets.js'
import { loadInventory, singleHost } from './hosts/inventory.js'
import { selectHosts } from './hosts/select.js'
import type { Host } from './hosts/types.js'
import { availableParallelism, hostname } from 'node:os'
import { VERSION } from './version.js'
import { redactText } from './redact/engine.js'
import { flakeSourceMapper } from './nix/source-map.js'
import { locateResult } from './report/locate.js'
import { ListenerQueue, withinDeadline } from './reporters/listeners.js'
import { formatDuration } from './checks/duration.js'
import { EXIT_INTERNAL } from './errors.js'

export interface CheckRunOptions extends SettingsFlags, PlanFilters {
  cwd: string
  /** fleet run: colmena-style selectors over the inventory (`web-*,@db`) */
  on?: string
  /** hosts checked at once in a fleet run (default: config `parallel`, else 10; 0 = all) */
  parallel?: number
  /** an unreachable host is reported, skipped, and does not fail the run */
  allowUnreachable?: boolean
  /** what the inventory could not read (a colmena value that is not a literal…), as it is found */
  onNotice?: (line: string) => void
  config?: string
  /** `NAME[:PATH]` specs; default: the config's, else `pretty` on stdout */
  reporters?: string[]
  /** `--junit-file-attributes`: every junit reporter writes `file` and `line` on its testcases */
  junitFileAttributes?: boolean
  bail?: boolean
  /** where stdout reporters write */
  stdout: Terminal
  /** read for GITHUB_ACTIONS (default: process.env) */
  env?: NodeJS.ProcessEnv
  /** abort with reason 'SIGINT' or 'SIGTERM' to interrupt the run */
  signal?: AbortSignal
}

export interface CheckRunResult {
  report: RunReport
  exitCode: number
  /** reporters that threw, hung or could not write their file: the run exits 70, the other reports are written */
  reporterErrors: string[]
  /** plugin hooks that threw or hung (abandoned after the deadline): warnings, the exit code is the checks' */
  hookWarnings: string[]
}

/** Loads config, plugins and check files and validates the graph: everything that can fail before a run. */
export async function prepareRun(
  opts: Pick<CheckRunOptions, 'cwd' | 'config'> & SettingsFlags & PlanFilters,
): Promise<{ settings: Settings; plan: Plan; plugins: LoadedPlugin[] }> {
  const loaded = await loadConfig(opts.cwd, opts.config)
  const settings = resolveSettings(loaded, opts)
  const plugins = await loadPlugins(settings.projectRoot, settings.plugins, loaded.file ? configLabel(opts.cwd, loaded.file) : 'config')
  const checks = await discoverChecks(settings, plugins)
  return { settings, plan: buildPlan(checks, settings, opts), plugins }
}

interface ActiveReporter {
  name: string
  reporter: Reporter
  sink: OutputSink
}

/**
 * `base`: where relative report paths start: the working directory for `--reporter`, the config
 * file's folder for the config's `reporters` (as every other relative path in the config).
 */
function createReporters(entries: ReporterEntry[], base: string, from: string, opts: CheckRunOptions, extra: Record<string, ReporterFactory>): ActiveReporter[] {
  const parsed: (ReporterSpec & { options?: Record<string, unknown> })[] = entries.map((entry) =>
    typeof entry === 'string' ? parseReporterSpec(entry) : { ...parseReporterSpec(entry[0]), options: entry[1] },
  )
  // `github` writes its workflow commands once the run is over, after pretty's lines: it shares stdout
  const isGithub = (s: { name: string; path?: string }) => s.name === GITHUB && s.path === undefined
  const onStdout = parsed.filter((s) => s.path === undefined && !isGithub(s))
  if (onStdout.length > 1) throw new NbsError(`--reporter: ${onStdout.map((s) => s.spec).join(' and ')} both write to stdout; give all but one a :PATH`)
  const github = parsed.find(isGithub)
  if (github && onStdout[0] && onStdout[0].name !== 'pretty') throw new NbsError(`${from} ${github.spec} writes workflow commands to stdout, which would break ${onStdout[0].spec}; give ${onStdout[0].spec} a :PATH`)
  // with only file reports, people still see progress: pretty takes stdout
  if (onStdout.length === 0) parsed.unshift({ name: 'pretty', spec: 'pretty' })
  // in GitHub Actions every stdout line is read for workflow commands: check output must not be one
  const guard = (opts.env ?? process.env).GITHUB_ACTIONS === 'true' || parsed.some((s) => s.name === GITHUB)
  const targets = new Map<string, string>()
  return parsed.map((spec) => {
    const factory = reporterFactory(spec, extra)
    const output = factory.output
    if (output?.fileRequired && spec.path === undefined) {
      throw new NbsError(`${from} ${spec.spec}: the ${spec.name} reporter writes a file, not stdout; give it a path, e.g. ${output.example ?? `${spec.name}:PATH`}`)
    }
    if (spec.path !== undefined) {
      const file = resolve(base, spec.path)
      const clash = targets.get(file)
      if (clash) throw new NbsError(`${from} ${spec.spec}: ${clash} writes the same file; give each report its own path`)
      targets.set(file, spec.spec)
      assertWritable(file, `${from} ${spec.spec}`)
    }
    const raw = spec.path === undefined ? stdoutSink(opts.stdout) : fileSink(spec.path, base, output?.fileMode)
    const sink = guard && spec.path === undefined && !isGithub(spec) ? commandSafeOutput(raw) : raw
    const options = reporterOptions(factory, spec, `${from} ${spec.spec}`, opts)
    let reporter: Reporter | undefined
    try {
      reporter = factory({ sink, options })
    } catch (e) {
      throw new NbsError(`${from} ${spec.spec}: the reporter factory threw: ${(e as Error).message}`)
    }
    if (!reporter || typeof reporter !== 'object') throw new NbsError(`${from} ${spec.spec}: the reporter factory returned ${String(reporter)}, not a reporter object`)
    return { name: spec.name, reporter, sink }
  })
}

/** A reporter's options: the config's, plus `--junit-file-attributes` for junit; checked by the factory's schema. */
function reporterOptions(factory: ReporterFactory, spec: ReporterSpec & { options?: Record<string, unknown> }, label: string, opts: CheckRunOptions): Record<string, unknown> {
  const given = { ...spec.options, ...(spec.name === 'junit' && opts.junitFileAttributes ? { fileAttributes: true } : {}) }
  if (!factory.options) {
    if (Object.keys(given).length && spec.name in builtinReporters) throw new NbsError(`${label}: the ${spec.name} reporter takes no options; remove ${Object.keys(given).join(', ')}`)
    return given
  }
  try {
    return factory.options.parse(given)
  } catch (e) {
    throw new NbsError(`${label}: invalid options: ${e instanceof z.ZodError ? describeZodError(e) : (e as Error).message}`)
  }
}

/** An output sink whose lines never read as GitHub workflow commands; the last partial line is written on close. */
function commandSafeOutput(raw: OutputSink): OutputSink {
  const safe = commandSafeSink(raw)
  return {
    target: raw.target,
    isTTY: raw.isTTY,
    color: raw.color,
    columns: raw.columns,
    write: safe.write,
    close: async () => {
      safe.flush()
      await raw.close()
    },
  }
}

const GITHUB = 'github'
const FLAKE_EVAL = 'flake-eval'

/**
 * Decides once whether the host is this machine, for the machine checks. When the names do not
 * settle it, the machine checks wait for flake-eval (which evaluates networking.hostName in the
 * same evaluation as the toplevel); without flake-eval in the run, one small evaluation of the
 * host name is made the first time a machine check asks.
 */
async function localityResolver(
  settings: Settings,
  host: { name: string; local: boolean },
  plan: Plan,
  signal: AbortSignal,
): Promise<(deps: Record<string, DependencyOutcome>) => Promise<Locality>> {
  const hostname = await localMachine({ root: settings.root, exec: probeExec({ timeoutMs: 10_000 }) }).hostname().catch(() => null)
  const inputs = { host: host.name, hostname, configLocal: host.local }
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
    own ??= evalHostName({ exec: probeExec({ timeoutMs: 120_000, signal }), flake: settings.flake, host: host.name, extraArgs: nixOptionArgs(settings.nixOptions) }).then((r) =>
      hostLocality({ ...inputs, ...(r.hostName ? { evaluatedHostName: r.hostName } : { unavailable: r.error ? `its networking.hostName could not be evaluated: ${r.error}` : 'it sets no networking.hostName' }) }),
    )
    return own
  }
}

/** `nbs check`: plan, run, report. Throws NbsError (exit 3) for anything invalid before the run. */
export async function runChecks(opts: CheckRunOptions): Promise<CheckRunResult> {
  const { settings, plan, plugins } = await prepareRun(opts)
  const fromFlags = !!opts.reporters?.length
  // in GitHub Actions, with no reporters named anywhere: pretty as ever, plus annotations and a step summary
  const named = fromFlags ? opts.reporters! : settings.reporters.length || (opts.env ?? process.env).GITHUB_ACTIONS !== 'true' ? settings.reporters : ['pretty', GITHUB]
  const reporters = createReporters(named, fromFlags ? opts.cwd : settings.projectRoot, fromFlags || !settings.configFile ? '--reporter' : `${configLabel(opts.cwd, settings.configFile)}: reporters:`, opts, pluginReporters(plugins))
  const signal = opts.signal ?? new AbortController().signal
  // every running check listens to it: many at once is expected, not a leak
  setMaxListeners(0, signal)
  const reporterErrors: string[] = []
  const hookWarnings: string[] = []

  // one ordered queue per listener: a slow or broken one never stalls the others or the run
  const hookQueues = plugins
    .filter((p) => p.plugin.hooks && Object.keys(p.plugin.hooks).length)
    .map((p) => ({ p, queue: new ListenerQueue(`plugin ${p.name}`, settings.hookTimeoutMs, (line) => hookWarnings.push(line)) }))
  const reporterQueues = reporters.map((r) => ({ r, queue: new ListenerQueue(`reporter ${r.name}`, settings.hookTimeoutMs, (line) => reporterErrors.push(line)) }))
  const emit = <K extends keyof Reporter>(hook: K, arg: Parameters<NonNullable<Reporter[K]>>[0]) => {
    if (hook !== 'onCheckStart') {
      for (const { p, queue } of hookQueues) {
        const fn = p.plugin.hooks?.[hook as keyof PluginHooks] as ((a: typeof arg, ctx: PluginContext) => unknown) | undefined
        if (fn) queue.push(hook, () => fn.call(p.plugin.hooks, arg, { name: p.name, options: p.options }))
      }
    }
    for (const { r, queue } of reporterQueues) {
      const fn = r.reporter[hook] as ((a: typeof arg) => unknown) | undefined
      if (fn) queue.push(hook, () => fn.call(r.reporter, arg))
    }
  }

  const fleet = opts.on !== undefined
  // interrupted while the inventory is read (a long colmena eval): no host is checked, and the
  // reports are still written, marked interrupted
  const hosts = await selectedHosts(settings, opts, signal).catch((e: unknown) => {
    if (signal.aborted) return [] as Host[]
    throw e
  })
  const allowUnreachable = opts.allowUnreachable ?? settings.allowUnreachable
  const { targets, close } = await openTargets(hosts, { root: settings.root })
  try {
    const runs = await Promise.all(
      targets.map(async (t) => {
        const own = hostPlan(plan, {
          host: t.host.name,
          ...(t.remote ? { remote: { machine: t.remote, allowUnreachable, connectTimeoutMs: (SSH_CONNECT_TIMEOUT_S + 5) * 1000 } } : {}),
        })
        // an ssh host is the machine its machine checks look at; any other host must be this one
        const locality = t.remote ? undefined : await localityResolver(settings, { name: t.host.name, local: t.host.local === true }, own, signal)
        return { target: t, plan: own, locality }
      }),
    )
    const label = fleet ? opts.on! : settings.host
    // Nix reports errors in the store copy of the flake: name the checkout's file instead
    const sources = flakeSourceMapper(settings.flake)
    const started = new Date()
    emit('onRunStart', {
      startedAt: started.toISOString(),
      host: label,
      hosts: runs.map((r) => r.target.host.name),
      fleet,
      failOn: settings.failOn,
      phases: plan.phases.map((name) => ({ name, checks: runs.flatMap((r) => r.plan.nodes.filter((n) => n.phase === name).map(plannedCheck)) })),
      total: runs.reduce((n, r) => n + r.plan.nodes.length, 0),
    })
    const hostSlots = limiter(fleet ? (opts.parallel ?? settings.parallel) : 1)
    // local checks of every host share the CPUs: ten hosts are not ten evaluations at once
    const localSlots = fleet ? limiter(Math.max(1, availableParallelism())) : undefined
    const stop = {}
    const results = await Promise.all(
      runs.map((r) =>
        hostSlots
          .run(() =>
            schedule(r.plan, {
              concurrency: settings.concurrency,
              bail: opts.bail ?? false,
              ...(fleet ? { stop, localSlots } : {}),
              failOn: settings.failOn,
              redact: settings.redact,
              prepare: (result) => locateResult(result, sources),
              env: {
                flake: settings.flake,
                host: r.target.host.name,
                root: settings.root,
                profile: settings.profile,
                projectRoot: settings.projectRoot,
                nixOptions: settings.nixOptions,
                signal,
                ...(r.locality ? { locality: r.locality } : {}),
                ...(r.target.remote ? { machine: r.target.remote } : {}),
              },
              onCheckStart: (check) => emit('onCheckStart', check),
              onCheckEnd: (result) => emit('onCheckEnd', result),
            }).finally(() => r.target.remote?.close()),
          )
          .then((done) => {
            // results in plan order, per host in inventory order
            const byId = new Map(done.map((res) => [res.id, res]))
            return r.plan.nodes.map((n) => byId.get(n.id)!)
          }),
      ),
    )
    killOrphans()
    const finished = new Date()
    const interrupted = signal.aborted ? { signal: signal.reason === 'SIGTERM' ? ('SIGTERM' as const) : ('SIGINT' as const) } : undefined
    const ordered: CheckResult[] = results.flat()
    const report: RunReport = {
      schemaVersion: 2,
      tool: { name: 'nbs', version: VERSION },
      host: label,
      fleet,
      hosts: runs.map((r, i) => {
        const reach = results[i]!.find((res) => res.id === REACHABLE_ID && r.target.remote)
        return hostSummary(
          {
            name: r.target.host.name,
            target: r.target.remote || r.target.host.local || !fleet ? r.target.target : `${r.target.target} if it is this machine`,
            // a connection Ctrl-C cut short says nothing about the host
            ...(reach && reach.attempts.length && reach.kind !== 'Interrupted' ? { reachable: reach.status === 'passed' ? ('yes' as const) : ('no' as const) } : {}),
            ...(reach && reach.status !== 'passed' && reach.attempts.length && reach.kind !== 'Interrupted' && reach.message ? { unreachableReason: reach.message } : {}),
          },
          ordered,
          settings.failOn,
          interrupted !== undefined,
        )
      }),
      // a flake URL can carry a token (`git+https://user:token@host/…`)
      flake: settings.redact ? redactText(settings.flake).text : settings.flake,
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
    // each listener gets one more deadline for what it still has queued; the timers hold the process
    await Promise.all([...hookQueues, ...reporterQueues].map(({ queue }) => queue.drain()))
    await Promise.all(
      reporterQueues.map(async ({ r, queue }) => {
        // an abandoned reporter's file would be half a report: it is not written at all
        if (queue.abandoned) {
          if (r.sink.target !== 'stdout') reporterErrors.push(`reporter ${r.name}: ${r.sink.target} not written`)
          return
        }
        const written = await withinDeadline(r.sink.close(), settings.hookTimeoutMs).catch((e: Error) => {
          reporterErrors.push(`reporter ${r.name}: cannot write ${r.sink.target}: ${e.message}`)
          return true
        })
        if (!written) reporterErrors.push(`reporter ${r.name}: writing ${r.sink.target} did not finish within ${formatDuration(settings.hookTimeoutMs)}; abandoned`)
      }),
    )
    const exitCode = interrupted ? (interrupted.signal === 'SIGTERM' ? 143 : 130) : reporterErrors.length ? EXIT_INTERNAL : report.status === 'failed' ? 1 : 0
    return { report, exitCode, reporterErrors, hookWarnings }
  } finally {
    await close()
  }
}

/** The hosts of the run: the `--on` selection of the inventory, else the one host as before. */
async function selectedHosts(settings: Settings, opts: CheckRunOptions, signal: AbortSignal): Promise<Host[]> {
  if (opts.on === undefined) {
    // as before fleets: a mounted root, or the host that is this machine by name (one shared config
    // on every host, a timer on each), is read here; the config's targetHost is for the others
    const { targetHost, ...one } = singleHost(settings)
    return [targetHost && settings.root === '/' && one.name !== hostname() ? { ...one, targetHost } : one]
  }
  if (opts.root !== undefined || settings.root !== '/') throw new NbsError(`--on checks hosts of the inventory; --root reads one mounted machine: use --host with --root instead`)
  const inventory = await loadInventory({ settings, exec: probeExec({ timeoutMs: 300_000, signal }), signal })
  for (const note of inventory.notes) opts.onNotice?.(note)
  return selectHosts(inventory.hosts, opts.on)
}
