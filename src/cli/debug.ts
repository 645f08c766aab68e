/** `nbs debug`: the diagnosis bundle to stdout, a file, or the configured LLM. */
import { dirname, resolve } from 'node:path'
import type { CAC } from 'cac'
import { writeDebugBundle } from '../debug/write.js'
import { text } from './options.js'
import { settingsFor, statusFlags, type StatusFlags } from './status.js'

interface DebugFlags extends StatusFlags {
  output?: string
  llm?: boolean
}

export function registerDebug(cli: CAC, argv: readonly string[]): void {
  cli
    .command('debug', 'Collect a diagnosis bundle (status, last build, errors, log tail, failed units), secrets redacted')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake')
    .option('--host <name>', 'nixosConfigurations attribute')
    .option('--root <dir>', 'Filesystem root to read machine state from')
    .option('--json', 'JSON instead of Markdown')
    .option('--output <file>', 'Write the bundle to a file (mode 0600) instead of stdout')
    .option('--llm', 'Pipe the bundle into debug.llm.command from the config and print its answer')
    .option('--eval', 'Also evaluate the flake (cached), as nbs status --eval')
    .example('nbs debug --output debug.md')
    .example('nbs debug --llm')
    .action(async (o: Record<string, unknown>) => {
      process.exitCode = await debugAction({ ...statusFlags(argv, o), output: text(o.output), llm: o.llm === true })
    })
}

async function debugAction(flags: DebugFlags): Promise<number> {
  const settings = await settingsFor(flags)
  const { text, answer } = await writeDebugBundle(settings, { json: flags.json, output: flags.output, llm: flags.llm, eval: flags.eval === true })
  if (flags.output) process.stderr.write(`nbs debug: bundle written to ${flags.output} (${dirname(resolve(flags.output))})\n`)
  else if (!flags.llm) process.stdout.write(text)
  if (answer !== undefined) process.stdout.write(answer.endsWith('\n') ? answer : `${answer}\n`)
  return 0
}
