import { realpathSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { PACKAGE_ROOT } from '../package-root.js'
import { glob } from 'tinyglobby'
import type { z } from 'zod'
import { NbsError, describeZodError } from '../errors.js'
import { checkSchema, declarativeCheckSchema } from '../checks/schema.js'
import type { CheckDefinition } from '../checks/types.js'
import { CHECK_FILE_EXTENSIONS } from '../config/schema.js'
import type { Settings } from '../config/load.js'
import { pluginChecks, type LoadedPlugin } from '../plugins/load.js'
import { assertTrustedFile } from '../plugins/permissions.js'
import { importDefault } from './import-module.js'

export interface DiscoveredCheck {
  /** full id: `id`, or `plugin/id` for checks under plugins/<plugin>/ */
  id: string
  def: CheckDefinition
  file: string
  /** the file as shown to users: relative to the project, or `nbs:checks/…` for built-ins */
  source: string
  plugin?: string
  /** the validated options of that plugin, when it is loaded as a module */
  pluginOptions?: unknown
}

const BUILTIN_GLOB = `**/*.check.{${CHECK_FILE_EXTENSIONS.join(',')}}`
const ALWAYS_IGNORED = ['**/node_modules/**']

interface CheckFile {
  file: string
  source: string
  plugin?: string
}

async function findCheckFiles(settings: Settings): Promise<CheckFile[]> {
  const builtinDir = join(PACKAGE_ROOT, 'checks')
  const [builtins, project] = await Promise.all([
    settings.builtins ? glob([BUILTIN_GLOB], { cwd: builtinDir, absolute: true, ignore: ALWAYS_IGNORED }) : [],
    glob(settings.include, { cwd: settings.projectRoot, absolute: true, ignore: [...ALWAYS_IGNORED, ...settings.exclude] }),
  ])
  const seen = new Set<string>()
  const files: CheckFile[] = []
  const add = (file: string, source: string, plugin?: string) => {
    const real = realpathSync(file)
    if (seen.has(real)) return // the repository's own checks/ is both built-in and project
    seen.add(real)
    files.push({ file, source, plugin })
  }
  for (const file of builtins.sort()) add(file, `nbs:checks/${relative(builtinDir, file)}`)
  for (const file of project.sort()) {
    const source = relative(settings.projectRoot, file)
    const parts = source.split(sep)
    add(file, source, parts[0] === 'plugins' && parts.length > 2 ? parts[1] : undefined)
  }
  return files
}

function validate(value: unknown, cf: CheckFile): CheckDefinition[] {
  const schema: z.ZodType = cf.file.endsWith('.json') ? declarativeCheckSchema : checkSchema
  const items = Array.isArray(value) ? value : [value]
  if (items.length === 0) throw new NbsError(`${cf.source}: exports no checks; export default defineCheck({...})`)
  return items.map((item, index) => {
    const parsed = schema.safeParse(item)
    if (!parsed.success) {
      const hint = cf.file.endsWith('.json') && item && typeof item === 'object' && 'run' in item ? ' (JSON check files hold the "command" form only)' : ''
      throw new NbsError(`${cf.source}: ${describeZodError(parsed.error, Array.isArray(value) ? [index] : [])}${hint}`)
    }
    return item as CheckDefinition // keep the original: zod would strip the option schema's identity
  })
}

/**
 * Finds and loads every check file, plus the checks plugins carry in code; any broken file stops the
 * run before anything executes.
 */
export async function discoverChecks(settings: Settings, plugins: readonly LoadedPlugin[] = []): Promise<DiscoveredCheck[]> {
  const files = await findCheckFiles(settings)
  // nbs's own checks are as trusted as nbs itself; the project's files are checked
  for (const cf of files) if (!cf.source.startsWith('nbs:')) assertTrustedFile(cf.file, `check file ${cf.source}`)
  const settled = await Promise.allSettled(files.map(async (cf) => ({ cf, defs: validate(await importDefault(cf.file, cf.source), cf) })))
  // report the first broken file in path order, whichever finished loading first
  const broken = settled.find((s) => s.status === 'rejected')
  if (broken) throw broken.reason
  const loaded = settled.map((s) => (s as PromiseFulfilledResult<{ cf: CheckFile; defs: CheckDefinition[] }>).value)
  for (const { plugin, def } of pluginChecks(plugins)) loaded.push({ cf: { file: plugin.file, source: plugin.source, plugin: plugin.name }, defs: [def] })
  const optionsOf = new Map(plugins.map((p) => [p.name, p.options]))
  const checks: DiscoveredCheck[] = []
  const byId = new Map<string, DiscoveredCheck>()
  for (const { cf, defs } of loaded) {
    for (const def of defs) {
      const id = cf.plugin ? `${cf.plugin}/${def.id}` : def.id
      const clash = byId.get(id)
      if (clash) throw new NbsError(`duplicate check id "${id}" in ${clash.source} and ${cf.source}; ids must be unique`)
      const check: DiscoveredCheck = { id, def, file: cf.file, source: cf.source, plugin: cf.plugin, pluginOptions: cf.plugin ? optionsOf.get(cf.plugin) : undefined }
      byId.set(id, check)
      checks.push(check)
    }
  }
  return checks
}
