/**
 * `nbs completion SHELL` prints a completion script made from the commands registered here (their
 * flags as cac holds them: no second list), and the hidden `nbs __complete KIND` prints the values
 * the scripts ask for at TAB time, one per line.
 */
import type { CAC, Command } from 'cac'
import { completionScript, completionValues, DYNAMIC_KINDS, flagSpec, HOSTS_EVAL_TIMEOUT_MS, SHELLS, type CompletionSpec, type DynamicKind } from '../completion/index.js'
import { argValues } from '../completion/spec.js'
import { NbsError } from '../errors.js'
import { probeExec } from '../runner/process.js'
import { text } from './options.js'

/** commands for the scripts, not for people: left out of --help and of the completions */
const HIDDEN = /^__/

export function registerCompletion(cli: CAC): void {
  cli
    .command('completion <shell>', `Print the shell completion script (${SHELLS.join(', ')}): commands, flags, check ids, host names`)
    .example('source <(nbs completion bash)          # in ~/.bashrc')
    .example('nbs completion fish > ~/.config/fish/completions/nbs.fish')
    .action((shell: string) => {
      process.stdout.write(completionScript(String(shell), completionSpec(cli)))
    })
  cli
    .command('__complete <kind>', '')
    .option('--config <file>', '')
    .option('--flake <ref>', '')
    .action(async (kind: string, o: Record<string, unknown>) => {
      if (!(DYNAMIC_KINDS as readonly string[]).includes(kind)) throw new NbsError(`unknown kind "${kind}": expected ${DYNAMIC_KINDS.join(', ')}`)
      const values = await completionValues(kind as DynamicKind, {
        cwd: process.cwd(),
        config: text(o.config),
        flake: text(o.flake),
        exec: probeExec({ timeoutMs: HOSTS_EVAL_TIMEOUT_MS }),
      })
      process.stdout.write(values.map((v) => `${v.replace(/[\r\n]/g, ' ')}\n`).join(''))
    })
}

/** Drops hidden commands from `--help` (cac's help callback). */
export function hideFromHelp(sections: { title?: string; body: string }[]): { title?: string; body: string }[] {
  return sections.map((s) => ({
    ...s,
    body: s.body
      .split('\n')
      .filter((line) => !/^\s+(\$ \S+ )?__/.test(line))
      .join('\n'),
  }))
}

/** The completion spec of the registered commands: every visible command, its flags and arguments. */
export function completionSpec(cli: CAC): CompletionSpec {
  const visible = (c: Command) => !c.isDefaultCommand && !HIDDEN.test(c.name)
  return {
    program: cli.name,
    commands: cli.commands.filter(visible).map((c) => ({
      name: c.name,
      description: c.description,
      flags: c.options.map((o) => flagSpec(o.rawName, o.description)),
      args: argValues(c.name),
    })),
    // as cac's help: --version belongs to nbs itself, not to its commands
    globalFlags: cli.globalCommand.options.filter((o) => o.name !== 'version').map((o) => flagSpec(o.rawName, o.description)),
    topFlags: cli.globalCommand.options.map((o) => flagSpec(o.rawName, o.description)),
  }
}
