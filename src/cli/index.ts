/**
 * The command line: one file per command (each parses its flags, calls one library function and
 * maps its result to output and an exit code); here they are registered, and errors become exit
 * codes: bad input 3 with one line, anything else 70 (internal error).
 */
import { cac } from 'cac'
import * as library from '../api.js'
import { setLibrary } from '../discovery/library.js'
import { EXIT_INTERNAL, internalErrorLine } from '../errors.js'
import { VERSION } from '../version.js'
import { registerBuild } from './build.js'
import { registerCheck } from './check.js'
import { hideFromHelp, registerCompletion } from './completion.js'
import { registerDebug } from './debug.js'
import { registerHistory } from './history.js'
import { registerHosts } from './hosts.js'
import { registerInit } from './init.js'
import { registerList } from './list.js'
import { registerStatus } from './status.js'

export async function main(argv: string[]): Promise<void> {
  // `import … from 'nixos-build-status'` (or 'nbs') in config, check and plugin files: this running nbs
  setLibrary(library)
  const debug = argv.includes('--debug')
  // a reader that goes away (`nbs history | head`) is not an error of ours: stop writing, carry on
  // (a build keeps running and still writes its record)
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  const cli = cac('nbs')
  cli.option('--debug', 'Print stack traces for errors')

  registerCheck(cli, argv)
  registerList(cli)
  registerBuild(cli)
  registerHistory(cli)
  registerStatus(cli, argv)
  registerDebug(cli, argv)
  registerHosts(cli, argv)
  registerInit(cli)
  registerCompletion(cli)

  cli.command('[...args]', '').action((args: string[]) => {
    if (args.length === 0) return cli.outputHelp()
    throw Object.assign(new Error(`unknown command "${args[0]}"; see nbs --help`), { name: 'CACError' })
  })
  cli.usage('<command> [options]')
  cli.help(hideFromHelp)
  cli.version(VERSION)

  try {
    cli.parse(process.argv, { run: false })
    await cli.runMatchedCommand()
  } catch (e) {
    const err = e as Error & { exitCode?: number }
    if (err.name === 'NbsError' || err.name === 'CACError') {
      const cmd = cli.matchedCommandName ? ` ${cli.matchedCommandName}` : ''
      const hint = err.name === 'CACError' && !err.message.includes('--help') ? `; see nbs${cmd} --help` : ''
      process.stderr.write(`nbs${cmd}: ${err.message}${hint}\n`)
      if (debug) process.stderr.write(`${err.stack}\n`)
      process.exitCode = err.exitCode ?? 3
      return
    }
    process.stderr.write(internalErrorLine(e, debug))
    process.exitCode = EXIT_INTERNAL
  }
}
