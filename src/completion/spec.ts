/**
 * What a completion script completes, as plain data: the commands and flags (the CLI derives
 * them from its registered command definitions, so there is no second list to keep in step) and,
 * per flag and positional argument, where its values come from. The script generators (bash.ts,
 * zsh.ts, fish.ts) turn one spec into one shell's script.
 */
import { ACTIONS, TARGETS, TOOLS } from '../build/tools/types.js'
import { builtinReporters } from '../reporters/index.js'

/**
 * Where a value comes from: fixed words; `dynamic`, asked of nbs itself at TAB time
 * (`nbs __complete KIND`, see dynamic.ts); or the shell's own file or folder completion.
 */
export type ValueSource = { words: readonly string[] } | { dynamic: DynamicKind } | { files: true } | { dirs: true }

/** The values only the project knows: check ids, phases and tags (no Nix), host names. */
export const DYNAMIC_KINDS = ['checks', 'phases', 'tags', 'hosts'] as const
export type DynamicKind = (typeof DYNAMIC_KINDS)[number]

export interface FlagSpec {
  /** every spelling, e.g. ['-h', '--help'] */
  names: string[]
  description: string
  /** undefined: a switch that takes no value */
  value?: ValueSource
}

export interface CommandSpec {
  name: string
  description: string
  flags: FlagSpec[]
  /** positional arguments in order */
  args: ValueSource[]
}

export interface CompletionSpec {
  /** the command's name, `nbs` */
  program: string
  commands: CommandSpec[]
  /** flags every command takes (`--debug`, `--help`) */
  globalFlags: FlagSpec[]
  /** flags before a command (the global ones and `--version`) */
  topFlags: FlagSpec[]
}

/**
 * A flag means the same on every command (`--host` is always a nixosConfigurations name), so its
 * values are named once, by flag. A flag not here that takes a value completes nothing.
 */
const FLAG_VALUES: Record<string, ValueSource> = {
  '--only': { dynamic: 'checks' },
  '--skip': { dynamic: 'checks' },
  '--phase': { dynamic: 'phases' },
  '--tag': { dynamic: 'tags' },
  '--host': { dynamic: 'hosts' },
  '--on': { dynamic: 'hosts' },
  '--reporter': { words: Object.keys(builtinReporters) },
  '--fail-on': { words: ['error', 'warning'] },
  '--tool': { words: TOOLS },
  '--config': { files: true },
  '--output': { files: true },
  '--root': { dirs: true },
  '--flake': { dirs: true },
}

/** Positional arguments, by command: `nbs build <target> <action>`. */
const ARG_VALUES: Record<string, ValueSource[]> = {
  build: [{ words: TARGETS }, { words: ACTIONS }],
  completion: [{ words: ['bash', 'zsh', 'fish'] }],
  init: [{ dirs: true }],
}

/** The value source of a flag that takes a value (undefined: complete nothing). */
export function flagValues(name: string): ValueSource | undefined {
  return FLAG_VALUES[name]
}

export function argValues(command: string): ValueSource[] {
  return ARG_VALUES[command] ?? []
}

/** `--config <file>` / `-h, --help` as an argument parser writes an option: its spellings and whether it takes a value. */
export function parseRawFlag(raw: string): { names: string[]; takesValue: boolean } {
  const names = raw
    .split(/[\s,]+/)
    .filter((t) => t.startsWith('-'))
  return { names, takesValue: /[<[]/.test(raw) }
}

/** One flag as written in a command definition, with its value source. */
export function flagSpec(raw: string, description: string): FlagSpec {
  const { names, takesValue } = parseRawFlag(raw)
  const long = names.find((n) => n.startsWith('--'))
  const value = takesValue && long ? flagValues(long) : undefined
  // a value flag with no known source still takes a word: complete nothing rather than flags
  return { names, description, ...(takesValue ? { value: value ?? { words: [] } } : {}) }
}
