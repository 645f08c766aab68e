/**
 * What the script generators share: reading a spec per command, and the rule that every word put
 * into a script unquoted (command names, flags, fixed values) is a plain token, so a script can
 * never carry shell syntax from a definition. Descriptions are quoted by each shell's own rules.
 */
import type { CommandSpec, CompletionSpec, FlagSpec, ValueSource } from './spec.js'

const PLAIN = /^[A-Za-z0-9_@.+-]+$/

/** A word the scripts write unquoted; anything else is a bug in a definition. */
export function plain(word: string): string {
  if (!PLAIN.test(word)) throw new Error(`completion: "${word}" is not a plain word`)
  return word
}

/** The flags a command takes: its own, then the global ones it does not redefine. */
export function commandFlags(spec: CompletionSpec, command: CommandSpec): FlagSpec[] {
  const own = new Set(command.flags.flatMap((f) => f.names))
  return [...command.flags, ...spec.globalFlags.filter((f) => !f.names.some((n) => own.has(n)))]
}

/**
 * A value source as one word for the scripts' dispatch: `words:a b`, `dynamic:KIND`, `files`,
 * `dirs` (the scripts switch on the part before the colon).
 */
export function sourceWord(source: ValueSource): string {
  if ('words' in source) return `words:${source.words.map(plain).join(' ')}`
  if ('dynamic' in source) return `dynamic:${plain(source.dynamic)}`
  return 'files' in source ? 'files' : 'dirs'
}

/** The first line of a description, without the parenthesised details (shell menus are narrow). */
export function shortDescription(text: string): string {
  const line = text.split('\n')[0] ?? ''
  const cut = line.replace(/\s*\(.*$/, '').trim()
  return cut || line.trim()
}
