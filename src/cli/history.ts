/** `nbs history`: the recorded builds, newest first. */
import type { CAC } from 'cac'
import pc from 'picocolors'
import { loadConfig, resolveSettings } from '../config/load.js'
import { NbsError } from '../errors.js'
import { showHistory } from '../records/history.js'
import { text } from './options.js'

export function registerHistory(cli: CAC): void {
  cli
    .command('history', 'The recorded builds, newest first: a table, or the JSON records')
    .option('--config <file>', 'Config file (for logDir)')
    .option('--json', 'Print the records as JSON')
    .option('--limit <n>', 'Show at most this many builds')
    .option('--failed', 'Only builds that did not succeed')
    .action(async (o: Record<string, unknown>) => {
      const limit = o.limit === undefined ? undefined : Number(o.limit)
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
        throw new NbsError(`--limit ${String(o.limit)}: expected a whole number of at least 1`)
      }
      const settings = resolveSettings(await loadConfig(process.cwd(), text(o.config)), {})
      const result = await showHistory({
        logDir: settings.logDir,
        logGroup: settings.logGroup,
        json: o.json === true,
        limit,
        failed: o.failed === true,
        color: pc.isColorSupported && process.stdout.isTTY === true,
        width: process.stdout.columns,
      })
      for (const w of result.warnings) process.stderr.write(`nbs: ${w}\n`)
      process.stdout.write(result.output)
    })
}
