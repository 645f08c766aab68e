/**
 * The settings of `nbs build`: flags over config over nh's own variables, per target. For `home`,
 * NH_HOME_FLAKE stands where NH_OS_FLAKE stands for `os`, and a `#fragment` names the home
 * configuration wherever the flake came from, so it stays on the flake reference.
 */
import { defaultFlake, resolveSettings, type LoadedConfig, type Settings } from '../config/load.js'
import { parseFlakeRef } from '../nix/flake.js'
import type { BuildTarget } from './tools/types.js'

export function resolveBuildSettings(loaded: LoadedConfig, target: BuildTarget, flags: { flake?: string; host?: string; root?: string }, env: NodeJS.ProcessEnv = process.env): Settings {
  // nh's own variables: NH_HOME_FLAKE for home, NH_OS_FLAKE for os, then NH_FLAKE; NBS_FLAKE is the
  // machine's flake (the NixOS module's programs.nbs.flake), so a home build does not take it
  const targetEnv = target === 'home' ? { ...env, NH_OS_FLAKE: env.NH_HOME_FLAKE, NBS_FLAKE: undefined } : env
  const settings = resolveSettings(loaded, { flake: flags.flake, host: flags.host, root: flags.root }, targetEnv)
  if (target !== 'home') return settings
  const homeFragment = parseFlakeRef(flags.flake ?? loaded.config.flake ?? defaultFlake(targetEnv)).host
  return homeFragment ? { ...settings, flake: `${settings.flake}#${homeFragment}` } : settings
}
