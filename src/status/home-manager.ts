/**
 * Home Manager on a machine, either way it is used: standalone (`home-manager switch` keeps
 * `home-manager-N-link` profiles) or as the NixOS module (activation in
 * `home-manager-<user>.service`; since 25.11 no profile links are made, so old links go stale).
 */
import { currentUserName, parsePasswd } from '../machine/users.js'
import { posix, resolve } from 'node:path'
import { machineOf, type MachineTarget } from '../machine/target.js'
import type { Machine } from '../machine/types.js'
import { listProfileGenerations, profileNumber, type ProfileGeneration } from './generation.js'
import { CURRENT_SYSTEM, PROFILES_DIR } from './paths.js'

export interface HomeManagerGeneration extends ProfileGeneration {
  /** seed-compatible `hm12` */
  generation: string
  /** the profile directory it was found in */
  profileDir: string
  /** what the `home-manager` profile link points to, when it exists (differs from `number` after a rollback) */
  active?: number
}

/** A user's home directory from the machine's own /etc/passwd, else the usual default. */
export async function homeDirectory(machine: Machine, user: string): Promise<string> {
  const text = (await machine.readFile('/etc/passwd').catch(() => null)) ?? ''
  const home = parsePasswd(text).find((e) => e.name === user && e.home)?.home
  if (home) return home
  return user === 'root' ? '/root' : `/home/${user}`
}

/**
 * Where standalone Home Manager keeps a user's profile: `$XDG_STATE_HOME/nix/profiles` (Nix ≥ 2.14's
 * layout, `~/.local/state` by default), else the legacy `/nix/var/nix/profiles/per-user/<user>`.
 */
export async function homeManagerProfileDirs(opts: MachineTarget & { user: string; home?: string; stateHome?: string }): Promise<string[]> {
  const machine = machineOf(opts)
  const home = opts.home ?? (await homeDirectory(machine, opts.user))
  const stateHome = opts.stateHome || posix.join(home, '.local/state')
  return [posix.join(stateHome, 'nix/profiles'), posix.join(PROFILES_DIR, 'per-user', opts.user)]
}

/** `$XDG_STATE_HOME` when it speaks for `user` on `root`: only the live root, and only for the user running nbs. */
export function envStateHome(user: string, root = '/', env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (resolve(root) !== '/' || !env.XDG_STATE_HOME) return undefined
  return currentUserName() === user ? env.XDG_STATE_HOME : undefined
}

/**
 * The newest `home-manager-N-link` of `user`, from the first profile directory that has any; null
 * when the user has none (not an error: many machines have none).
 */
export async function getHomeManagerGeneration(opts: MachineTarget & { user: string; home?: string; stateHome?: string }): Promise<HomeManagerGeneration | null> {
  const machine = machineOf(opts)
  for (const dir of await homeManagerProfileDirs({ ...opts, machine })) {
    const newest = (await listProfileGenerations(machine, dir, 'home-manager')).at(-1)
    if (!newest) continue
    const active = await profileNumber(machine, posix.join(dir, 'home-manager'))
    return { ...newest, generation: `hm${newest.number}`, profileDir: posix.dirname(newest.link), ...(active === null ? {} : { active }) }
  }
  return null
}

export type HomeManagerState =
  | { mode: 'standalone'; user: string; generation: HomeManagerGeneration }
  | {
      mode: 'nixos-module'
      user: string
      /** `home-manager-<user>.service`, which activates the user's configuration at boot and switch */
      unit: string
      /** the Home Manager generation the running system's unit activates */
      path: string | null
      /** profile links left from before 25.11 (enableLegacyProfileManagement off): not what is active */
      staleLinks?: { newest: number; path: string }
    }

/**
 * A user name as the module puts it in its unit name (`utils.escapeSystemdPath`): `-` becomes
 * `\x2d` (`john-doe` → `home-manager-john\x2ddoe.service`), as does any byte outside systemd's
 * plain set, and a leading `.`.
 */
export function systemdEscapeName(name: string): string {
  return [...Buffer.from(name, 'utf8')]
    .map((b, i) => {
      const c = String.fromCharCode(b)
      return /[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0) ? c : `\\x${b.toString(16).padStart(2, '0')}`
    })
    .join('')
}

const GENERATION_IN_UNIT = /\/nix\/store\/[0-9a-z]{32}-home-manager-generation\b/

/**
 * How Home Manager runs for `user` here: the NixOS module when the running system has its unit
 * (read from `/run/current-system/etc/systemd/system`, so an offline root answers too), else the
 * standalone profile links; null when neither.
 */
export async function getHomeManagerState(opts: MachineTarget & { user: string; system?: string; stateHome?: string }): Promise<HomeManagerState | null> {
  const machine = machineOf(opts)
  const unit = `home-manager-${systemdEscapeName(opts.user)}.service`
  const [unitText, links] = await Promise.all([
    machine.readFile(posix.join(opts.system ?? CURRENT_SYSTEM, 'etc/systemd/system', unit)).catch(() => null),
    getHomeManagerGeneration({ machine, user: opts.user, ...(opts.stateHome ? { stateHome: opts.stateHome } : {}) }),
  ])
  if (unitText === null) return links ? { mode: 'standalone', user: opts.user, generation: links } : null
  const path = GENERATION_IN_UNIT.exec(unitText)?.[0] ?? null
  const stale = links && links.path !== path ? { staleLinks: { newest: links.number, path: links.path } } : {}
  return { mode: 'nixos-module', user: opts.user, unit, path, ...stale }
}

/** One line: `hm12` (standalone), or `NixOS module (home-manager-alice.service)` with a stale-links note. */
export function describeHomeManager(s: HomeManagerState): string {
  if (s.mode === 'standalone') return `${s.generation.generation} (standalone)`
  const stale = s.staleLinks ? `; home-manager-${s.staleLinks.newest}-link is a stale profile link from before the module stopped making them` : ''
  return `NixOS module (${s.unit})${stale}`
}
