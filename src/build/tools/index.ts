/**
 * Which program `nbs build` runs, and with what: `--tool`, else nh when installed, else
 * nixos-rebuild / home-manager; then each action mapped to what really does it (a dry build is a
 * real `--dry-run`), with the flags the installed version needs for who runs nbs (user or root).
 */
import { hostname } from 'node:os'
import type { Exec } from '../../checks/types.js'
import { NbsError } from '../../errors.js'
import { parseFlakeRef } from '../../nix/flake.js'
import * as hm from './home-manager.js'
import * as nh from './nh.js'
import * as nr from './nixos-rebuild.js'
import { homeNamesArgs, nixDryBuild, parseHomeNames } from './nix.js'
import { findOnPath } from './path.js'
import type { BuildAction, BuildTarget, BuildTool, Privilege, ToolCommand, ToolInput } from './types.js'

export * from './types.js'
export { findOnPath } from './path.js'

/** `forced`, else nh when it is on PATH, else the target's classic tool. */
export function chooseTool(target: BuildTarget, opts: { forced?: BuildTool; has: (cmd: string) => boolean }): BuildTool {
  if (opts.forced) return opts.forced
  if (opts.has('nh')) return 'nh'
  return target === 'os' ? 'nixos-rebuild' : 'home-manager'
}

/** Who runs this process. */
export function currentPrivilege(env: NodeJS.ProcessEnv = process.env): Privilege {
  const root = process.geteuid?.() === 0
  // doas says who called it in DOAS_USER, as sudo does in SUDO_USER
  const caller = env.SUDO_USER || env.DOAS_USER
  return { root, ...(root && caller ? { sudoUser: caller } : {}) }
}

export interface PlanOptions {
  target: BuildTarget
  action: BuildAction
  forced?: BuildTool
  /** flake reference; a `#fragment` names the home configuration (home) */
  flake: string
  host: string
  extra: readonly string[]
  privilege: Privilege
  env: NodeJS.ProcessEnv
  exec: Exec
}

/** The command for this build, after the probes it needs (`nh --version`, …); bad input is exit 3. */
export async function planBuild(o: PlanOptions): Promise<ToolCommand> {
  if (o.target === 'home' && o.privilege.root && o.privilege.sudoUser) {
    throw new NbsError(
      `nbs build home under sudo: Home Manager builds the home of $USER/$HOME (root's here, not ${o.privilege.sudoUser}'s); run it as ${o.privilege.sudoUser}, without sudo`,
    )
  }
  const has = (c: string) => findOnPath(c, o.env) !== null
  const tool = chooseTool(o.target, { forced: o.forced, has })
  if (!has(tool)) throw new NbsError(`${tool} is not on PATH${o.forced || tool === 'nh' ? '' : ' (nor is nh)'}`, 127)
  const { flake, host: fragment } = parseFlakeRef(o.flake)
  const input: ToolInput = { target: o.target, action: o.action, flake, host: o.host, extra: o.extra, privilege: o.privilege }
  if (o.target === 'home') {
    input.config = await homeConfig(o, flake, fragment, tool === 'nh' && o.action === 'dry-build')
  }
  const probe = async (args: readonly string[], env: Record<string, string> = {}) => {
    const r = await o.exec(tool, args, { env: { ...(o.env as Record<string, string>), ...env }, timeoutMs: 15_000 })
    return `${r.stdout.text}\n${r.stderr.text}`
  }
  if (tool === 'nh' && o.action === 'dry-build') {
    // nh's `build --dry` builds in full (and leaves ./result): a dry run is nixos-rebuild's or nix's
    if (o.target === 'os' && has('nixos-rebuild')) return nr.nixosRebuildCommand(input, null)
    return nixDryBuild(input)
  }
  if (tool === 'nh') return nh.nhCommand(input, nh.parseProbe(await probe(nh.probeArgs)))
  if (tool === 'home-manager') return hm.homeManagerCommand(input, hm.parseProbe(await probe(hm.probeArgs)))
  // only an activation as a user needs to know the sudo flag
  const needsSudo = !o.privilege.root && (o.action === 'switch' || o.action === 'boot' || o.action === 'test')
  return nr.nixosRebuildCommand(input, needsSudo ? nr.parseProbe(await probe(nr.probeArgs, nr.probeEnv)) : null)
}

/**
 * The home configuration, checked against the flake's homeConfigurations (one `nix eval` of their
 * names): none at all means Home Manager is a NixOS module, built with the system.
 */
async function homeConfig(o: PlanOptions, flake: string, fragment: string | undefined, resolve: boolean): Promise<string | undefined> {
  if (findOnPath('nix', o.env) === null) return fragment
  const r = await o.exec('nix', homeNamesArgs(flake), { env: o.env as Record<string, string>, timeoutMs: 120_000 })
  const names = parseHomeNames(r.exitCode, r.stdout.text, r.stderr.text)
  if (names === 'missing') {
    throw new NbsError(`${flake} has no homeConfigurations: Home Manager is a NixOS module there, built and activated with the system: use nbs build os ${o.action === 'dry-build' ? 'dry-build' : 'switch'}`)
  }
  if (names === null) return fragment // let the tool say what is wrong
  if (fragment !== undefined) {
    if (!names.includes(fragment)) throw new NbsError(`${flake}#${fragment}: homeConfigurations has no "${fragment}" (it has ${names.map((n) => `"${n}"`).join(', ') || 'none'})`)
    return fragment
  }
  if (!resolve) return undefined // nh and home-manager pick it themselves
  // as home-manager and nh do: "$USER@$(hostname)", else "$USER"
  const user = o.env.USER ?? o.env.LOGNAME ?? ''
  const host = hostname()
  const full = [`${user}@${host}`, `${user}@${host.split('.')[0]}`].find((n) => names.includes(n))
  return full ?? user
}
