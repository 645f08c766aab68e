#!/usr/bin/env node
/**
 * The `nbs` executable. `--version` is answered here, before anything is loaded; everything else
 * is in cli-main.ts, which the build bundles with its dependencies into one file (one module to
 * load instead of ~270 keeps `nbs check` start-up short).
 */
import { readFileSync } from 'node:fs'

const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  process.stdout.write(`nbs/${pkg.version}\n`)
} else {
  const { main } = await import('./cli-main.js')
  await main(argv)
}
