/** `nbs list`: the discovered checks, as a table or JSON. */
import type { CAC } from 'cac'
import { formatCheckList, listChecks } from '../list-checks.js'
import { text } from './options.js'

export function registerList(cli: CAC): void {
  cli
    .command('list', 'List the discovered checks by phase, with their needs, tags and source')
    .option('--config <file>', 'Config file')
    .option('--json', 'Print JSON')
    .action(async (o: Record<string, unknown>) => {
      const result = await listChecks({ cwd: process.cwd(), config: text(o.config) })
      process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : formatCheckList(result))
    })
}
