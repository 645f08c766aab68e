import type { z } from 'zod'
import type { CheckDefinition } from '../checks/types.js'
import type { CheckResult, RunReport, RunStart } from '../report/types.js'
import type { ReporterFactory } from '../reporters/types.js'

type Awaitable<T> = T | Promise<T>

/** What a plugin's hooks get besides the event: its name and its validated options. */
export interface PluginContext<Options = unknown> {
  name: string
  options: Options
}

/**
 * Plain async functions. Each plugin gets every event in order, on its own queue: a slow hook
 * delays only its own later events, never the reporters or other plugins. One that throws or
 * outlasts `hookTimeout` (default 30 s) is a warning naming the plugin and hook; one that outlasts
 * it is abandoned (its later events dropped). Neither changes the exit code.
 */
export interface PluginHooks<Options = unknown> {
  onRunStart?(run: RunStart, ctx: PluginContext<Options>): Awaitable<void>
  onCheckEnd?(result: CheckResult, ctx: PluginContext<Options>): Awaitable<void>
  onRunEnd?(report: RunReport, ctx: PluginContext<Options>): Awaitable<void>
}

/**
 * A plugin: a name plus optional parts, in the spirit of vite's plugins. Its checks are addressed
 * `<name>/<id>`; its reporters are selected as `--reporter <name>/<reporter>[:PATH]`.
 */
export interface NbsPlugin<S extends z.ZodType = z.ZodType> {
  /** kebab-case; unique among the loaded plugins */
  name: string
  /** validates the options given in nbs.config.ts; checks see the result as `ctx.pluginOptions` */
  options?: S
  checks?: CheckDefinition[]
  reporters?: Record<string, ReporterFactory>
  hooks?: PluginHooks<z.output<S>>
}

/** A module may also export a factory, called with the options from nbs.config.ts. */
export type NbsPluginFactory = (options: Record<string, unknown>) => NbsPlugin | Promise<NbsPlugin>

/** Types a plugin or a plugin factory (identity at run time; the loader validates). */
export function definePlugin<S extends z.ZodType>(plugin: NbsPlugin<S>): NbsPlugin<S>
export function definePlugin<F extends NbsPluginFactory>(factory: F): F
export function definePlugin(plugin: NbsPlugin | NbsPluginFactory): NbsPlugin | NbsPluginFactory {
  return plugin
}
