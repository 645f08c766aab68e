import { existsSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { glob } from 'tinyglobby'
import { z } from 'zod'
import { checkSchema, CHECK_ID } from '../checks/schema.js'
import type { CheckDefinition } from '../checks/types.js'
import { NbsError, describeZodError } from '../errors.js'
import { importDefault, resolveModule } from '../discovery/import-module.js'
import { PACKAGE_ROOT } from '../package-root.js'
import type { ReporterFactory } from '../reporters/types.js'
import type { NbsPlugin } from './define.js'
import { assertTrustedFile } from './permissions.js'

export interface LoadedPlugin {
  name: string
  /** the module, as shown to users */
  source: string
  file: string
  plugin: NbsPlugin
  /** validated by the plugin's `options` schema (the raw config value when it has none) */
  options: unknown
  /** set for a plugin in the project's plugins/<dir>/: where its check files live */
  dir?: string
}

/** `nbs.config.ts` `plugins` entries: a path or package name, optionally with options. */
export type PluginEntry = string | [string, Record<string, unknown>]

const MODULE_EXT = ['ts', 'mts', 'js', 'mjs']
const isFunction = (v: unknown) => typeof v === 'function'

const pluginShape = z.strictObject({
  name: z.string().regex(CHECK_ID, 'kebab-case, e.g. "disk"'),
  options: z.custom((v) => typeof (v as { safeParse?: unknown } | null)?.safeParse === 'function', 'a zod schema').optional(),
  checks: z.array(z.unknown()).optional(),
  reporters: z.record(z.string().regex(CHECK_ID, 'kebab-case reporter names'), z.custom(isFunction, 'a reporter factory ({ sink }) => reporter')).optional(),
  hooks: z
    .strictObject({
      onRunStart: z.custom(isFunction, 'a function').optional(),
      onCheckEnd: z.custom(isFunction, 'a function').optional(),
      onRunEnd: z.custom(isFunction, 'a function').optional(),
    })
    .optional(),
})

/** Plugin modules in the project's plugins/ folder: `plugins/<name>.ts` or `plugins/<name>/index.ts`. */
async function projectPluginFiles(projectRoot: string): Promise<string[]> {
  const dir = join(projectRoot, 'plugins')
  if (!existsSync(dir)) return []
  const files = await glob([`*.{${MODULE_EXT.join(',')}}`, `*/index.{${MODULE_EXT.join(',')}}`], { cwd: dir, absolute: true })
  return files.filter((f) => !/\.check\.[^.]+$/.test(f) && !/\.d\.[mc]?ts$/.test(f)).sort()
}

async function resolveEntry(spec: string, projectRoot: string, label: string): Promise<string> {
  if (spec.startsWith('.') || isAbsolute(spec)) {
    const path = resolve(projectRoot, spec)
    if (existsSync(path) && statSync(path).isDirectory()) {
      const index = MODULE_EXT.map((ext) => join(path, `index.${ext}`)).find(existsSync)
      if (!index) throw new NbsError(`${label}: ${spec} is a folder without an index.{${MODULE_EXT.join(',')}}`)
      return index
    }
    if (!existsSync(path)) throw new NbsError(`${label}: ${spec}: no such file`)
    return path
  }
  // a package: the project's node_modules first, then nbs's own install
  for (const from of [projectRoot, PACKAGE_ROOT]) {
    const found = await resolveModule(spec, pathToFileURL(join(from, 'package.json')).href)
    if (found) return found
  }
  throw new NbsError(`${label}: cannot find package "${spec}" from ${projectRoot} or nbs's install; npm install it in the project`)
}

async function instantiate(file: string, source: string, rawOptions: Record<string, unknown>, optional: boolean): Promise<{ plugin: NbsPlugin; options: unknown } | undefined> {
  assertTrustedFile(file, `plugin ${source}`)
  let value: unknown
  try {
    value = await importDefault(file, `plugin ${source}`)
  } catch (e) {
    // a helper module beside the plugins (no default export) is not a plugin
    if (optional && e instanceof NbsError && e.message.includes('has no default export')) return undefined
    throw e
  }
  if (typeof value === 'function') {
    try {
      value = await (value as (o: unknown) => unknown)(rawOptions)
    } catch (e) {
      throw new NbsError(`plugin ${source}: its factory threw: ${(e as Error).message}`)
    }
  }
  const shape = pluginShape.safeParse(value)
  if (!shape.success) throw new NbsError(`plugin ${source}: ${describeZodError(shape.error)}; export default definePlugin({ name, checks?, reporters?, hooks? })`)
  const plugin = value as NbsPlugin
  let options: unknown = rawOptions
  if (plugin.options) {
    const parsed = plugin.options.safeParse(rawOptions)
    if (!parsed.success) throw new NbsError(`plugin ${plugin.name} (${source}): ${describeZodError(parsed.error, ['options'])}; set them in nbs.config.ts plugins: [['${source}', { … }]]`)
    options = parsed.data
  }
  ;(plugin.checks ?? []).forEach((check, i) => {
    const parsed = checkSchema.safeParse(check)
    if (!parsed.success) throw new NbsError(`plugin ${plugin.name} (${source}): ${describeZodError(parsed.error, ['checks', i])}`)
  })
  return { plugin, options }
}

/** Loads the project's plugins/ modules and the config's entries, in that order; names must be unique. */
export async function loadPlugins(projectRoot: string, entries: readonly PluginEntry[] = [], configLabel = 'config'): Promise<LoadedPlugin[]> {
  const wanted = new Map<string, Record<string, unknown>>()
  for (const [i, entry] of entries.entries()) {
    const [spec, options] = typeof entry === 'string' ? [entry, {}] : entry
    wanted.set(await resolveEntry(spec, projectRoot, `${configLabel}: plugins[${i}]`), options)
  }
  const files = [...new Set([...(await projectPluginFiles(projectRoot)), ...wanted.keys()])]
  const loaded: LoadedPlugin[] = []
  for (const file of files) {
    const inProject = !relative(projectRoot, file).startsWith('..')
    const source = inProject ? relative(projectRoot, file) : file
    const made = await instantiate(file, source, wanted.get(file) ?? {}, !wanted.has(file))
    if (!made) continue
    const { plugin, options } = made
    const parts = relative(join(projectRoot, 'plugins'), file).split(sep)
    const folder = inProject && parts.length === 2 && !parts[0]!.startsWith('..') ? parts[0] : undefined
    if (folder && folder !== plugin.name) {
      throw new NbsError(`plugin ${source} is named "${plugin.name}" but lives in plugins/${folder}/; its checks are addressed by the folder, so name it "${folder}" or rename the folder`)
    }
    const clash = loaded.find((p) => p.name === plugin.name)
    if (clash) throw new NbsError(`two plugins are named "${plugin.name}": ${clash.source} and ${source}; plugin names must be unique`)
    loaded.push({ name: plugin.name, source, file, plugin, options, ...(folder ? { dir: dirname(file) } : {}) })
  }
  return loaded
}

/** The checks plugins carry in code, as check definitions with their plugin. */
export function pluginChecks(plugins: readonly LoadedPlugin[]): { plugin: LoadedPlugin; def: CheckDefinition }[] {
  return plugins.flatMap((p) => (p.plugin.checks ?? []).map((def) => ({ plugin: p, def })))
}

/** Plugin reporters by their public name `<plugin>/<reporter>`. */
export function pluginReporters(plugins: readonly LoadedPlugin[]): Record<string, ReporterFactory> {
  return Object.fromEntries(plugins.flatMap((p) => Object.entries(p.plugin.reporters ?? {}).map(([name, f]) => [`${p.name}/${name}`, f])))
}
