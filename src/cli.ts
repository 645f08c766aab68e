#!/usr/bin/env node
/**
 * The `nbs` executable. `--version` is answered here, before anything is loaded; everything else
 * is in cli/index.ts, which the build bundles with its dependencies into one file (one module to
 * load instead of ~270 keeps `nbs check` start-up short).
 */
import { readFileSync } from 'node:fs'
import { EXIT_INTERNAL, internalErrorLine } from './errors.js'

const argv = process.argv.slice(2)
// the last guard: a throw or rejection nothing else caught is a bug in nbs (or in a check or
// plugin's stray promise). One line and exit 70, never Node's stack dump and exit 1, which
// scripts and CI read as "a check failed". Kept here (not in cli/index.ts) so it is in place before
// anything loads (errors.ts is small and loads nothing).
const fatal = (e: unknown) => {
  try {
    process.stderr.write(internalErrorLine(e, argv.includes('--debug')))
  } finally {
    process.exit(EXIT_INTERNAL)
  }
}
process.on('uncaughtException', fatal).on('unhandledRejection', fatal)

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  process.stdout.write(`nbs/${pkg.version}\n`)
} else {
  const { main } = await import('./cli/index.js')
  await main(argv)
}
