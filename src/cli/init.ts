/**
 * `nbs init [dir]`: writes nbs.config.ts and an example check into a flake's folder, then says
 * what to run next. Notes (hosts not read) go to stderr; the files and commands to stdout.
 */
import { relative } from 'node:path'
import type { CAC } from 'cac'
import { initProject } from '../init/index.js'
import { probeExec } from '../runner/process.js'
import { singleLine } from '../reporters/sanitize.js'
import { abortOnSignals, text } from './options.js'

/** reading nixosConfigurations' names fetches the flake's inputs the first time */
const HOSTS_TIMEOUT_MS = 2 * 60_000
/** a fleet's names on one line would wrap over the screen: the file has them all */
const MAX_HOSTS_SHOWN = 8

export function registerInit(cli: CAC): void {
  cli
    .command('init [dir]', "Start using nbs in a flake: write nbs.config.ts (the flake's hosts, reporters for its CI) and an example check")
    .example('nbs init            # in the flake\'s folder')
    .example('nbs init ~/nixos')
    .action(async (dirArg: unknown) => {
      const controller = abortOnSignals()
      const dir = text(dirArg) ?? '.'
      const result = await initProject({
        dir,
        exec: probeExec({ timeoutMs: HOSTS_TIMEOUT_MS, signal: controller.signal }),
        signal: controller.signal,
        // only on a terminal: a script reading stderr gets the notes alone
        ...(process.stderr.isTTY ? { onStatus: (line: string) => process.stderr.write(`nbs init: ${line}\n`) } : {}),
      })
      for (const note of result.notes) process.stderr.write(`nbs init: ${note}\n`)
      const shown = result.hosts?.slice(0, MAX_HOSTS_SHOWN).map(singleLine) ?? []
      const more = (result.hosts?.length ?? 0) - shown.length
      const hosts = result.hosts?.length ? `${result.hosts.length} host${result.hosts.length === 1 ? '' : 's'}: ${shown.join(', ')}${more ? `, … (${more} more in the file)` : ''}` : 'no hosts'
      const ci = result.ci === 'github' ? '; reporters for GitHub Actions' : result.ci === 'gitlab' ? '; reporters for GitLab CI' : ''
      const where = relative(process.cwd(), result.dir)
      const out = [
        `wrote ${result.files[0]} (${hosts}${ci})`,
        ...result.files.slice(1).map((f) => `wrote ${f} (an example check)`),
        // CI checks out commits: untracked, the config and the check are not there
        ...(result.inGit ? [`not in git yet: git add ${result.files.join(' ')}   # CI sees committed files only`] : []),
        '',
        where ? `Next, in ${where}:` : 'Next:',
        ...alignComments(result.next),
      ]
      process.stdout.write(`${out.join('\n')}\n`)
    })
}

function alignComments(next: { command: string; why: string }[]): string[] {
  const width = Math.max(...next.map((n) => n.command.length))
  // a host name from the flake may hold control characters: never sent to the terminal as they are
  return next.map((n) => singleLine(`  ${n.command.padEnd(width)}  # ${n.why}`))
}
