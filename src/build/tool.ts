/**
 * `nbs build`'s arguments, and the tools behind one interface (./tools/: one file per tool,
 * ./tools/index.ts chooses and plans).
 */
import { NbsError } from '../errors.js'
import { ACTIONS, TARGETS, TOOLS, type BuildAction, type BuildTarget, type BuildTool } from './tools/index.js'
import { shellQuote } from '../util/shell.js'

export * from './tools/index.js'

/** Home Manager has no boot entry and no `test` activation. */
const HOME_ACTIONS: readonly BuildAction[] = ['switch', 'build', 'dry-build']

const oneOf = (list: readonly string[]) => list.map((x) => `"${x}"`).join(', ')

export function parseTarget(value: string | undefined): BuildTarget {
  if ((TARGETS as readonly string[]).includes(value ?? '')) return value as BuildTarget
  throw new NbsError(`target ${value === undefined ? 'missing' : `"${value}"`}: expected ${oneOf(TARGETS)}`)
}

export function parseAction(target: BuildTarget, value: string | undefined): BuildAction {
  const allowed = target === 'home' ? HOME_ACTIONS : ACTIONS
  if (allowed.includes(value as BuildAction)) return value as BuildAction
  const what = value === undefined ? 'missing' : `"${value}"`
  throw new NbsError(`action ${what}: expected ${oneOf(allowed)}${target === 'home' ? ' for home' : ''}`)
}

export function parseTool(target: BuildTarget, value: string | undefined): BuildTool | undefined {
  if (value === undefined) return undefined
  if (!(TOOLS as readonly string[]).includes(value)) throw new NbsError(`--tool "${value}": expected ${oneOf(TOOLS)}`)
  if (target === 'os' && value === 'home-manager') throw new NbsError('--tool home-manager builds home, not os')
  if (target === 'home' && value === 'nixos-rebuild') throw new NbsError('--tool nixos-rebuild builds os, not home')
  return value as BuildTool
}

/** A command line a user could paste into a POSIX shell, for the record. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map(shellQuote).join(' ')
}
