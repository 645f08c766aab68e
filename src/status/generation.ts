/**
 * What a NixOS machine runs, will boot and has built, read through a `Machine`: the system
 * profile and its generations, `/run/current-system`, `/run/booted-system`, specialisations, and
 * the state they add up to (in sync, rolled back, pending, drifted). Facts from nixpkgs' own
 * activation and nixos-rebuild, reference/nix.md §10.
 */
import { posix } from 'node:path'
import { MachineError, type Machine } from '../machine/types.js'

import { machineOf, type MachineTarget } from '../machine/target.js'
import { BOOTED_SYSTEM, CURRENT_SYSTEM, PROFILES_DIR } from './paths.js'

export { BOOTED_SYSTEM, CURRENT_SYSTEM, PROFILES_DIR, machineOf, type MachineTarget }
/** the profiles folder, under the name scripts used */
export const SYSTEM_PROFILES = PROFILES_DIR

/** One `NAME-N-link` of a Nix profile, as seen on the machine. */
export interface ProfileGeneration {
  number: number
  /** the link itself, e.g. `/nix/var/nix/profiles/system-42-link` */
  link: string
  /** the store path it points to (resolved on the machine; the raw target when that store path is missing) */
  path: string
  /** when the generation was made: the link's own mtime, as Nix's `--list-generations` reports it (ISO 8601) */
  mtime: string
}

/** A system profile: `system` (the default) or `system-profiles/P` (`nixos-rebuild --profile-name P`, comin). */
export interface SystemProfile {
  /** the profile link, e.g. `/nix/var/nix/profiles/system-profiles/work` */
  path: string
  /** the folder its generation links are in */
  dir: string
  /** the links' prefix: `work` for `work-N-link` */
  name: string
}

/** `system`, `system-profiles/P` or an absolute profile path, as the config's `profile` names it. */
export function systemProfile(profile = 'system'): SystemProfile {
  const path = profile.startsWith('/') ? posix.normalize(profile) : posix.join(PROFILES_DIR, profile)
  return { path, dir: posix.dirname(path), name: posix.basename(path) }
}

/** A path's store target on the machine, falling back to the raw link target when that is missing (an image without its store). */
async function storeTarget(machine: Machine, path: string): Promise<string | null> {
  const resolved = await machine.realPath(path)
  if (resolved !== null) return resolved
  const raw = await machine.readLink(path)
  return raw?.startsWith('/') ? posix.normalize(raw) : null
}

/** Every `<name>-N-link` in `dir`, oldest first; empty when the folder is missing. */
export async function listProfileGenerations(target: MachineTarget | Machine, dir: string, name: string): Promise<ProfileGeneration[]> {
  const machine = machineOf(target)
  const entries = (await machine.readDir(dir)) ?? []
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-link$`)
  // In parallel: a machine that never collects garbage can have hundreds of generations.
  const found = await Promise.all(
    entries.map(async (entry): Promise<ProfileGeneration | null> => {
      const m = pattern.exec(entry)
      if (!m) return null
      const link = posix.join(dir, entry)
      const [st, path] = await Promise.all([machine.stat(link, { follow: false }), storeTarget(machine, link)])
      if (st?.type !== 'symlink' || path === null) return null
      return { number: Number(m[1]), link, path, mtime: new Date(st.mtimeMs).toISOString() }
    }),
  )
  return found.filter((g): g is ProfileGeneration => g !== null).sort((a, b) => a.number - b.number)
}

/** The machine's system generations (`system-N-link`, or another profile's), oldest first. */
export function listSystemGenerations(target: MachineTarget | string = {}, profile = 'system'): Promise<ProfileGeneration[]> {
  const t = typeof target === 'string' ? { root: target } : target
  const p = systemProfile(profile)
  return listProfileGenerations(t, p.dir, p.name)
}

/** The generation number a profile symlink (`system` → `system-42-link`) points at. */
export async function profileNumber(target: MachineTarget | Machine, profile: string): Promise<number | null> {
  const machine = machineOf(target)
  const link = await machine.readLink(profile)
  const m = link ? /-(\d+)-link$/.exec(posix.basename(link)) : null
  return m ? Number(m[1]) : null
}

export interface NixOSRootInfo {
  isNixOS: boolean
  /** which markers exist */
  found: string[]
  reason?: string
}

/**
 * Whether the machine runs NixOS: `/etc/NIXOS` (made only by nixos-install and some image
 * builders), `ID=nixos` in `/etc/os-release` (what switch-to-configuration accepts),
 * `/run/current-system` or the system profile. Links count even when dangling (an image copied
 * without its store is still NixOS).
 */
export async function isNixOSRoot(target: MachineTarget | string = {}): Promise<NixOSRootInfo> {
  const machine = machineOf(typeof target === 'string' ? { root: target } : target)
  const root = await machine.stat('/')
  if (root?.type !== 'directory') return { isNixOS: false, found: [], reason: `${machine.description} is not a directory` }
  const found: string[] = []
  for (const m of ['/etc/NIXOS', CURRENT_SYSTEM, `${PROFILES_DIR}/system`]) {
    if ((await machine.stat(m, { follow: false }).catch(() => null)) !== null) found.push(m)
  }
  const osRelease = await machine.readFile('/etc/os-release').catch(() => null)
  if (osRelease !== null && /^ID="?nixos"?\s*$/m.test(osRelease)) found.push('/etc/os-release')
  if (found.length > 0) return { isNixOS: true, found }
  return { isNixOS: false, found, reason: `not a NixOS system: no /etc/NIXOS, ID=nixos in /etc/os-release, ${CURRENT_SYSTEM} or system profile on ${machine.description}` }
}

/** A system found among the generations: itself a generation, or a specialisation of one. */
export interface LocatedSystem {
  /** its store path (a specialisation's own toplevel when it is one) */
  path: string
  /** the generation it is, or belongs to */
  generation?: number
  /** the specialisation's name, when it is one of `generation` */
  specialisation?: string
  /** the generation's own toplevel: the parent of a specialisation, else `path` */
  toplevel?: string
}

/** The specialisations of a toplevel: name → the specialisation's own toplevel. */
export async function listSpecialisations(machine: Machine, toplevel: string): Promise<Map<string, string>> {
  const dir = posix.join(toplevel, 'specialisation')
  const names = (await machine.readDir(dir).catch(() => null)) ?? []
  const out = new Map<string, string>()
  await Promise.all(
    names.map(async (name) => {
      const path = await machine.realPath(posix.join(dir, name))
      if (path !== null) out.set(name, path)
    }),
  )
  return out
}

/**
 * Which generation `path` is, or which generation's specialisation: activation links
 * `/run/current-system` to the specialisation's own toplevel, never to the parent. `prefer` is
 * looked at first (the generation the profile points to), then the newest down.
 */
export async function locateSystem(machine: Machine, path: string, gens: readonly ProfileGeneration[], prefer?: number): Promise<LocatedSystem> {
  const byNumber = [...gens].sort((a, b) => (a.number === prefer ? -1 : b.number === prefer ? 1 : b.number - a.number))
  const direct = byNumber.find((g) => g.path === path)
  if (direct) return { path, generation: direct.number, toplevel: direct.path }
  // consecutive generations often share a toplevel: look inside each distinct one once
  const seen = new Set<string>()
  for (const g of byNumber) {
    if (seen.has(g.path)) continue
    seen.add(g.path)
    for (const [name, spec] of await listSpecialisations(machine, g.path)) {
      if (spec === path) return { path, generation: g.number, specialisation: name, toplevel: g.path }
    }
  }
  return { path }
}

/**
 * - `in-sync`: what runs is what the profile points to, and that is the newest generation
 * - `rolled-back`: what runs is what the profile points to, an older generation (healthy)
 * - `pending`: the profile points to another generation than what runs (`nixos-rebuild boot`): reboot or switch
 * - `drifted`: what runs is in no generation (`nixos-rebuild test`, or changed by hand)
 * - `unknown`: no running system or no profile to compare
 */
export type GenerationState = 'in-sync' | 'rolled-back' | 'pending' | 'drifted' | 'unknown'

export interface CurrentGeneration {
  /** seed-compatible `g42` / `42`: the profile's generation (what `nixos-rebuild list-generations` marks `current`) */
  generation: string | null
  generationRaw: string | null
  /** the running system (`/run/current-system`): its generation and specialisation when found */
  current: (LocatedSystem & { number?: number }) | null
  /** when `/run/current-system` was last linked: the last activation */
  activatedAt: string | null
  /** the booted system (`/run/booted-system`) */
  booted: string | null
  bootedSystem: LocatedSystem | null
  /** what the profile points to: the boot default (moved by switch/boot, and by rollbacks) */
  profile: { number: number; path: string; link: string } | null
  /** the highest-numbered generation link */
  newest: ProfileGeneration | null
  generations: number
  isNixOS: boolean
  /** why this is not (recognisably) a NixOS machine */
  reason?: string
  /** set when the generations could not be read (EACCES): the state is then unknown, and why */
  unreadable?: string
  state: GenerationState
  /** one line for humans: the state and why */
  message: string
  /** running what the profile points to (in sync or rolled back): no switch or reboot pending */
  inSync: boolean
}

/** The running, booted and profile systems, and the state they add up to; `unreadable` when the reader may not see them. */
export async function getCurrentGeneration(opts: MachineTarget & { profile?: string } = {}): Promise<CurrentGeneration> {
  try {
    return await readGenerations(machineOf(opts), opts.profile)
  } catch (e) {
    if (!(e instanceof MachineError)) throw e
    const unreadable = `cannot read ${e.path} on ${machineOf(opts).description} (${e.code}): run nbs as root, or as a user who may read it`
    const nothing = { generation: null, generationRaw: null, current: null, activatedAt: null, booted: null, bootedSystem: null, profile: null, newest: null, generations: 0 }
    return { ...nothing, isNixOS: true, unreadable, state: 'unknown', message: unreadable, inSync: false }
  }
}

async function readGenerations(machine: Machine, profileName: string | undefined): Promise<CurrentGeneration> {
  const profile = systemProfile(profileName)
  const [nixos, gens, currentPath, bootedPath, number, currentLink] = await Promise.all([
    isNixOSRoot({ machine }),
    listProfileGenerations(machine, profile.dir, profile.name),
    storeTarget(machine, CURRENT_SYSTEM),
    storeTarget(machine, BOOTED_SYSTEM),
    profileNumber(machine, profile.path),
    machine.stat(CURRENT_SYSTEM, { follow: false }).catch(() => null),
  ])
  const profileGen = number === null ? undefined : gens.find((g) => g.number === number)
  const profileRef = profileGen ? { number: profileGen.number, path: profileGen.path, link: profile.path } : null
  const newest = gens.at(-1) ?? null
  const [current, booted] = await Promise.all([
    currentPath === null ? null : locateSystem(machine, currentPath, gens, number ?? undefined),
    bootedPath === null ? null : locateSystem(machine, bootedPath, gens, number ?? undefined),
  ])
  const { state, message } = generationState({ current, booted: bootedPath, profile: profileRef, newest, profileName: profile.name })
  return {
    generation: number === null ? null : `g${number}`,
    generationRaw: number === null ? null : String(number),
    current: current === null ? null : { ...current, ...(current.generation === undefined ? {} : { number: current.generation }) },
    activatedAt: currentLink?.type === 'symlink' ? new Date(currentLink.mtimeMs).toISOString() : null,
    booted: bootedPath,
    bootedSystem: booted,
    profile: profileRef,
    newest,
    generations: gens.length,
    isNixOS: nixos.isNixOS,
    ...(nixos.reason ? { reason: nixos.reason } : {}),
    state,
    message,
    inSync: state === 'in-sync' || state === 'rolled-back',
  }
}

/** A running system as people say it: `generation 42`, `generation 42, specialisation gaming`, or its path. */
export function describeSystem(s: LocatedSystem): string {
  if (s.generation === undefined) return s.path
  return `generation ${s.generation}${s.specialisation ? `, specialisation ${s.specialisation}` : ''}`
}

function generationState(o: {
  current: LocatedSystem | null
  booted: string | null
  profile: { number: number; path: string } | null
  newest: ProfileGeneration | null
  profileName: string
}): { state: GenerationState; message: string } {
  const { current, profile, newest } = o
  if (current === null) return { state: 'unknown', message: `no ${CURRENT_SYSTEM}: nothing is running to compare` }
  const running = describeSystem(current)
  if (current.generation === undefined && current.path === o.booted && profile !== null) {
    // booted from a generation whose link was collected since (nixos-rebuild boot, then nix-collect-garbage -d)
    return { state: 'pending', message: `running the booted system, whose generation link is gone (garbage-collected); generation ${profile.number} is set to boot next: reboot or switch to it` }
  }
  if (current.generation === undefined) {
    return { state: 'drifted', message: `running ${current.path}, which is in no generation of the ${o.profileName} profile (nixos-rebuild test, or set by hand)` }
  }
  if (profile === null) return { state: 'unknown', message: `running ${running}; the ${o.profileName} profile points to no generation` }
  if (current.generation !== profile.number) {
    return { state: 'pending', message: `running ${running}, but generation ${profile.number} is set to boot next (nixos-rebuild boot): reboot or switch to it` }
  }
  if (newest !== null && newest.number > profile.number) {
    return { state: 'rolled-back', message: `running ${running}, rolled back from generation ${newest.number}` }
  }
  return { state: 'in-sync', message: `running ${running}, the newest` }
}

/** Whether the machine runs what its profile points to (in sync or rolled back; the seed's `is_generation_in_sync`). */
export async function isGenerationInSync(opts: MachineTarget & { profile?: string } = {}): Promise<boolean> {
  return (await getCurrentGeneration(opts)).inSync
}

export type BootComponent = 'kernel' | 'initrd' | 'kernel-modules'

export interface RebootNeeded {
  needed: boolean
  differs: BootComponent[]
  /** set when the comparison could not be made (then `needed` is false) */
  reason?: string
}

/**
 * nixpkgs' auto-upgrade recipe: reboot when `readlink` of kernel, initrd or kernel-modules differs
 * between `/run/booted-system` and the system that boots next: the system profile (so a
 * `nixos-rebuild boot` with a new kernel counts). When a specialisation was booted, its namesake in
 * the profile's generation is what boots next.
 */
export async function rebootNeeded(opts: MachineTarget & { profile?: string; against?: string; bootedSpecialisation?: string } = {}): Promise<RebootNeeded> {
  const machine = machineOf(opts)
  const against = opts.against ?? systemProfile(opts.profile).path
  try {
    return await compareBootComponents(machine, against, opts.bootedSpecialisation)
  } catch (e) {
    if (!(e instanceof MachineError)) throw e
    return { needed: false, differs: [], reason: `cannot compare: ${e.path} is not readable (${e.code})` }
  }
}

async function compareBootComponents(machine: Machine, against: string, bootedSpecialisation: string | undefined): Promise<RebootNeeded> {
  const [booted, next] = await Promise.all([machine.realPath(BOOTED_SYSTEM), machine.realPath(against)])
  if (booted === null || next === null) {
    return { needed: false, differs: [], reason: `cannot compare: ${booted === null ? BOOTED_SYSTEM : against} is missing` }
  }
  const spec = bootedSpecialisation ? await machine.realPath(posix.join(next, 'specialisation', bootedSpecialisation)) : null
  const nextSystem = spec ?? next
  const differs: BootComponent[] = []
  for (const name of ['kernel', 'initrd', 'kernel-modules'] as const) {
    const [a, b] = await Promise.all([componentKey(machine, booted, name), componentKey(machine, nextSystem, name)])
    if (a !== b) differs.push(name)
  }
  return { needed: differs.length > 0, differs }
}

/** The symlink target when it is one (as NixOS makes them), else the resolved path; null when missing. */
async function componentKey(machine: Machine, system: string, name: string): Promise<string | null> {
  const path = posix.join(system, name)
  return (await machine.readLink(path)) ?? (await machine.realPath(path))
}
