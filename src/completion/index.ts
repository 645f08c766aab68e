/** `nbs completion SHELL`: the script for one shell, from the commands' own definitions. */
import { NbsError } from '../errors.js'
import { bashScript } from './bash.js'
import { fishScript } from './fish.js'
import type { CompletionSpec } from './spec.js'
import { zshScript } from './zsh.js'

export const SHELLS = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof SHELLS)[number]

const generators: Record<Shell, (spec: CompletionSpec) => string> = { bash: bashScript, zsh: zshScript, fish: fishScript }

export function completionScript(shell: string, spec: CompletionSpec): string {
  if (!(SHELLS as readonly string[]).includes(shell)) throw new NbsError(`unknown shell "${shell}": expected ${SHELLS.join(', ')}`)
  return generators[shell as Shell](spec)
}

export { completionValues, HOSTS_CACHE_TTL_MS, HOSTS_EVAL_TIMEOUT_MS } from './dynamic.js'
export type { CompletionValuesOptions } from './dynamic.js'
export { DYNAMIC_KINDS, flagSpec } from './spec.js'
export type { CommandSpec, CompletionSpec, DynamicKind, FlagSpec, ValueSource } from './spec.js'
