import { resolveSettings, type Settings } from '../../src/config/load.js'
import type { NbsConfig } from '../../src/config/schema.js'
import type { CheckDefinition } from '../../src/checks/types.js'
import type { DiscoveredCheck } from '../../src/discovery/discover.js'

export function settings(config: NbsConfig = {}): Settings {
  return resolveSettings({ config, projectRoot: '/project', file: '/project/nbs.config.ts' }, {})
}

/** Checks as discovery would hand them over, from a file per plugin (or the project's checks/). */
export function discovered(defs: CheckDefinition[], plugin?: string): DiscoveredCheck[] {
  return defs.map((def) => ({
    id: plugin ? `${plugin}/${def.id}` : def.id,
    def,
    file: `/project/${plugin ? `plugins/${plugin}/` : ''}checks/${def.id}.check.ts`,
    source: `${plugin ? `plugins/${plugin}/` : ''}checks/${def.id}.check.ts`,
    plugin,
  }))
}
