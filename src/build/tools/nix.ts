/**
 * Plain `nix build --dry-run`: what a dry build with nh really is (nh's own `build --dry` builds in
 * full and leaves ./result), and what nbs runs when nixos-rebuild is not there to do it.
 */
import { attrPathElement, toplevelAttr } from '../../nix/flake.js'
import { NIX_LOG_ARGS, type ToolCommand, type ToolInput } from './types.js'

/** flakes may not be enabled in nix.conf (nh requires them; nbs asks for them itself) */
const FLAKES = ['--extra-experimental-features', 'nix-command flakes']

export function homeAttr(config: string): string {
  return `homeConfigurations.${attrPathElement(config)}.activationPackage`
}

export function nixDryBuild(i: ToolInput, notice?: string): ToolCommand {
  const attr = i.target === 'os' ? toplevelAttr(i.host) : homeAttr(i.config ?? i.host)
  return {
    tool: 'nix',
    file: 'nix',
    args: ['build', `${i.flake}#${attr}`, '--dry-run', ...FLAKES, ...NIX_LOG_ARGS, ...i.extra],
    structured: true,
    env: {},
    exitsZeroOnActivationFailure: false,
    notices: notice ? [notice] : [],
  }
}

/**
 * `nix eval <flake>#homeConfigurations --apply builtins.attrNames`: the names, 'missing' when the
 * flake has none (Home Manager is then a NixOS module), null when Nix could not say.
 */
export function parseHomeNames(exitCode: number | null, stdout: string, stderr: string): string[] | 'missing' | null {
  if (exitCode === 0) {
    try {
      const names: unknown = JSON.parse(stdout)
      return Array.isArray(names) ? names.map(String) : null
    } catch {
      return null
    }
  }
  return /does not provide attribute[^\n]*homeConfigurations/.test(stderr) ? 'missing' : null
}

export const homeNamesArgs = (flake: string) => ['eval', '--json', `${flake}#homeConfigurations`, '--apply', 'builtins.attrNames', ...FLAKES]
