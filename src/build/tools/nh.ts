/**
 * nh (nix-community/nh). Run as the user: nh elevates itself for activation. Under sudo, nh's root
 * check is bypassed (NH_BYPASS_ROOT_CHECK=true; `=1` is a parse error in every nh) and, from 4.3,
 * elevation is turned off. What differs by version (read from nh's sources, tags 3.6.0 … 4.3.1):
 * - < 4.2: activation's exit status is not checked (nh exits 0); 4.1 also hides its output.
 * - ≥ 4.3.0: NH_SHOW_ACTIVATION_LOGS (4.3.0 takes only true/false) and --elevation-strategy.
 */
import { atLeast, formatVersion, parseVersion, type Version } from './version.js'
import { NIX_LOG_ARGS, isActivating, type ToolCommand, type ToolInput } from './types.js'

export interface NhInfo {
  /** from `nh --version`; null when it could not be read (treated as the newest) */
  version: Version | null
}

export const probeArgs = ['--version']
export const parseProbe = (out: string): NhInfo => ({ version: parseVersion(out) })

const NEWEST: Version = [99, 0, 0]

export function nhCommand(i: ToolInput, info: NhInfo): ToolCommand {
  const v = info.version ?? NEWEST
  const os = i.target === 'os'
  const env: Record<string, string> = {}
  const global: string[] = []
  if (os && i.privilege.root) {
    env.NH_BYPASS_ROOT_CHECK = 'true'
    if (atLeast(v, [4, 3, 0])) global.push('--elevation-strategy', 'none') // already root: no sudo
  }
  // nh hides activation output by default (nh#350, #500); users of nbs see it
  if (atLeast(v, [4, 3, 0])) env.NH_SHOW_ACTIVATION_LOGS = 'true'
  const select = os ? ['--hostname', i.host] : i.config ? ['--configuration', i.config] : []
  // nh would draw with nom itself; nbs needs the raw stream, and feeds nom itself
  const { own, nix } = os ? liftOwnFlags(i.extra) : { own: [], nix: i.extra }
  const args = [...global, i.target, i.action, i.flake, ...select, ...own, '--no-nom', '--', ...NIX_LOG_ARGS, ...nix]
  const notices: string[] = []
  const activating = os && (i.action === 'switch' || i.action === 'test')
  if (activating && atLeast(v, [4, 1, 0]) && !atLeast(v, [4, 2, 0])) {
    notices.push(`nh ${formatVersion(v)} hides activation output and exits 0 when activation fails: nbs cannot see a failed activation (nh ≥ 4.2 reports it; or --tool nixos-rebuild)`)
  }
  return {
    tool: 'nh',
    file: 'nh',
    args,
    structured: true,
    env,
    exitsZeroOnActivationFailure: os && isActivating(i.action) && !atLeast(v, [4, 2, 0]),
    notices,
  }
}

/**
 * What nh itself takes among the arguments after `--`: `--specialisation NAME` and
 * `--no-specialisation` are nh's and nixos-rebuild's flags, which Nix would reject ("unrecognised
 * flag"), so `nbs build os test -- --specialisation web` means the same with either tool.
 */
function liftOwnFlags(extra: readonly string[]): { own: string[]; nix: string[] } {
  const own: string[] = []
  const nix: string[] = []
  for (let k = 0; k < extra.length; k++) {
    const a = extra[k]!
    if (a === '--no-specialisation' || a === '-S' || a.startsWith('--specialisation=')) own.push(a)
    else if ((a === '--specialisation' || a === '-s') && k + 1 < extra.length) own.push(a, extra[++k]!)
    else nix.push(a)
  }
  return { own, nix }
}
