/**
 * Which program `nbs build` runs and with what argv. nh when installed (as the seed's wrapper did),
 * else nixos-rebuild / home-manager; every tool is asked for Nix's internal-json stream where it
 * can pass it on, so nbs parses structured records instead of scraping text.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { NbsError } from '../errors.js'
import { parseFlakeRef } from '../nix/flake.js'

export const TARGETS = ['os', 'home'] as const
export const ACTIONS = ['switch', 'boot', 'test', 'build', 'dry-build'] as const
export const TOOLS = ['nh', 'nixos-rebuild', 'home-manager'] as const
export type BuildTarget = (typeof TARGETS)[number]
export type BuildAction = (typeof ACTIONS)[number]
export type BuildTool = (typeof TOOLS)[number]

/** Home Manager has no boot entry and no `test` activation. */
const HOME_ACTIONS: readonly BuildAction[] = ['switch', 'build', 'dry-build']
/** What nbs asks Nix for: structured records (-v adds evaluation and fetch activities, as nom does). */
export const NIX_LOG_ARGS: readonly string[] = ['-v', '--log-format', 'internal-json']

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

/** The executable `cmd` resolves to on PATH, as execvp would find it; null when absent. */
export function findOnPath(cmd: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const file = join(dir, cmd)
    try {
      if (!statSync(file).isFile()) continue
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return null
}

/** `forced`, else nh when it is on PATH, else the target's classic tool. */
export function chooseTool(target: BuildTarget, opts: { forced?: BuildTool; has: (cmd: string) => boolean }): BuildTool {
  if (opts.forced) return opts.forced
  if (opts.has('nh')) return 'nh'
  return target === 'os' ? 'nixos-rebuild' : 'home-manager'
}

export interface ToolCommandOptions {
  tool: BuildTool
  target: BuildTarget
  action: BuildAction
  /** flake reference; a `#fragment` names the host (os) or the home configuration (home) */
  flake: string
  /** nixosConfigurations attribute (os only) */
  host: string
  /** the user's arguments after `--`, for Nix */
  extra: readonly string[]
}

export interface ToolCommand {
  file: string
  args: string[]
  /** whether Nix was asked for internal-json (home-manager cannot pass `--log-format` on) */
  structured: boolean
  /** environment for the tool */
  env: Record<string, string>
}

export function toolCommand(o: ToolCommandOptions): ToolCommand {
  const { flake, host: fragment } = parseFlakeRef(o.flake)
  const dry = o.action === 'dry-build'
  if (o.tool === 'nh') {
    // nh draws with nom itself when allowed; nbs needs the raw stream, so nom is fed by nbs instead.
    const verb = dry ? 'build' : o.action
    const select = o.target === 'os' ? ['--hostname', o.host] : fragment ? ['--configuration', fragment] : []
    const args = [o.target, verb, flake, ...select, '--no-nom', ...(dry ? ['--dry'] : [])]
    // nh hides activation output by default (nh#350, #500); users of nbs see it. The variable,
    // unlike the flag, is harmless on an nh too old to know it.
    const env = { NH_SHOW_ACTIVATION_LOGS: '1' }
    return { file: 'nh', args: [...args, '--', ...NIX_LOG_ARGS, ...o.extra], structured: true, env }
  }
  if (o.tool === 'nixos-rebuild') {
    // nixos-rebuild passes -v and --log-format on to nix (bash and -ng alike)
    const ref = `${flake}#${o.host}`
    return { file: 'nixos-rebuild', args: [o.action, '--flake', ref, ...NIX_LOG_ARGS, ...o.extra], structured: true, env: {} }
  }
  // home-manager rejects --log-format (home-manager#6093): its output is parsed as plain text.
  const ref = fragment ? `${flake}#${fragment}` : flake
  const args = [dry ? 'build' : o.action, '--flake', ref, ...(dry ? ['--dry-run'] : []), ...o.extra]
  return { file: 'home-manager', args, structured: false, env: {} }
}

/** A command line a user could paste into a POSIX shell, for the record. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map(shellQuote).join(' ')
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./#-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`
}
