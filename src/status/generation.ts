import { lstat, readFile, readdir, stat } from 'node:fs/promises'
import { posix, resolve } from 'node:path'
import type { Exec } from '../checks/types.js'
import { hostPath, lexistsInRoot, readLinkInRoot, storeTargetInRoot, tryResolveInRoot } from '../machine/root-path.js'

export const SYSTEM_PROFILES = '/nix/var/nix/profiles'
export const CURRENT_SYSTEM = '/run/current-system'
export const BOOTED_SYSTEM = '/run/booted-system'

/** One `NAME-N-link` of a Nix profile, as seen inside the root. */
export interface ProfileGeneration {
  number: number
  /** the link itself, e.g. `/nix/var/nix/profiles/system-42-link` */
  link: string
  /** the store path it points to (resolved inside the root; the raw target when that store path is missing) */
  path: string
  /** when the generation was made: the link's own mtime, as Nix's `--list-generations` reports it (ISO 8601) */
  mtime: string
}

export interface CurrentGeneration {
  /** seed-compatible `g42` / `42`: the profile's generation (what `nixos-rebuild list-generations` marks `current`) */
  generation: string | null
  generationRaw: string | null
  /** the running system (`/run/current-system`); `number` when a system-N-link points to it */
  current: { number?: number; path: string } | null
  /** the booted system (`/run/booted-system`) */
  booted: string | null
  /** what `system` points to: the boot default (moved by switch/boot, and by rollbacks) */
  profile: { number: number; path: string } | null
  /** the highest-numbered system-N-link */
  newest: ProfileGeneration | null
  generations: number
  isNixOS: boolean
  /** why this is not (recognisably) a NixOS root */
  reason?: string
  /** the running system is the newest generation */
  inSync: boolean
}

/** Every `<name>-N-link` in `dir` (inside `root`), oldest first; empty when the directory is missing. */
export async function listProfileGenerations(root: string, dir: string, name: string): Promise<ProfileGeneration[]> {
  const resolvedDir = await tryResolveInRoot(root, dir)
  if (resolvedDir === null) return []
  const entries = await readdir(hostPath(root, resolvedDir)).catch(() => [] as string[])
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-link$`)
  // In parallel: a machine that never collects garbage can have hundreds of generations.
  const found = await Promise.all(
    entries.map(async (entry): Promise<ProfileGeneration | null> => {
      const m = pattern.exec(entry)
      if (!m) return null
      const link = posix.join(resolvedDir, entry)
      const st = await lstat(hostPath(root, link)).catch(() => null)
      const path = await storeTargetInRoot(root, link)
      if (!st?.isSymbolicLink() || path === null) return null
      return { number: Number(m[1]), link, path, mtime: st.mtime.toISOString() }
    }),
  )
  const out = found.filter((g): g is ProfileGeneration => g !== null)
  return out.sort((a, b) => a.number - b.number)
}

/** The machine's system generations (`/nix/var/nix/profiles/system-N-link`), oldest first. */
export function listSystemGenerations(root = '/'): Promise<ProfileGeneration[]> {
  return listProfileGenerations(root, SYSTEM_PROFILES, 'system')
}

/** The generation number a profile symlink (`system` → `system-42-link`) points at. */
export async function profileNumber(root: string, profile: string): Promise<number | null> {
  const target = await readLinkInRoot(root, profile)
  const m = target ? /-(\d+)-link$/.exec(posix.basename(target)) : null
  return m ? Number(m[1]) : null
}

export interface NixOSRootInfo {
  isNixOS: boolean
  /** which markers exist under the root */
  found: string[]
  reason?: string
}

/** Whether `root` holds a NixOS system: any of /etc/NIXOS, /run/current-system, the system profile. */
export async function isNixOSRoot(root = '/'): Promise<NixOSRootInfo> {
  if (!(await stat(root).then((s) => s.isDirectory(), () => false))) {
    return { isNixOS: false, found: [], reason: `root ${root} is not a directory` }
  }
  const markers = ['/etc/NIXOS', CURRENT_SYSTEM, `${SYSTEM_PROFILES}/system`]
  const found: string[] = []
  for (const m of markers) if (await lexistsInRoot(root, m)) found.push(m)
  if (found.length > 0) return { isNixOS: true, found }
  const where = root === '/' ? 'this machine' : root
  return { isNixOS: false, found, reason: `not a NixOS system: none of ${markers.join(', ')} exist on ${where}` }
}

/** The running, booted and default system generations under `root`, and whether they agree. */
export async function getCurrentGeneration(opts: { root?: string } = {}): Promise<CurrentGeneration> {
  const root = opts.root ?? '/'
  const nixos = await isNixOSRoot(root)
  const gens = await listSystemGenerations(root)
  const newest = gens.at(-1) ?? null
  const currentPath = await storeTargetInRoot(root, CURRENT_SYSTEM)
  // After a rollback and rebuild two links can share a path: the newest one is the running one.
  const running = currentPath === null ? undefined : gens.filter((g) => g.path === currentPath).at(-1)
  const profilePath = `${SYSTEM_PROFILES}/system`
  const number = await profileNumber(root, profilePath)
  const target = number === null ? null : await storeTargetInRoot(root, profilePath)
  return {
    generation: number === null ? null : `g${number}`,
    generationRaw: number === null ? null : String(number),
    current: currentPath === null ? null : { ...(running ? { number: running.number } : {}), path: currentPath },
    booted: await storeTargetInRoot(root, BOOTED_SYSTEM),
    profile: number === null || target === null ? null : { number, path: target },
    newest,
    generations: gens.length,
    isNixOS: nixos.isNixOS,
    ...(nixos.reason ? { reason: nixos.reason } : {}),
    inSync: currentPath !== null && newest !== null && currentPath === newest.path,
  }
}

/** Whether the running system is the newest generation (the seed's `is_generation_in_sync`). */
export async function isGenerationInSync(opts: { root?: string } = {}): Promise<boolean> {
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
 * between `/run/booted-system` and the running system (or `against`, e.g. the system profile).
 */
export async function rebootNeeded(opts: { root?: string; against?: string } = {}): Promise<RebootNeeded> {
  const root = opts.root ?? '/'
  const against = opts.against ?? CURRENT_SYSTEM
  const booted = await tryResolveInRoot(root, BOOTED_SYSTEM)
  const current = await tryResolveInRoot(root, against)
  if (booted === null || current === null) {
    return { needed: false, differs: [], reason: `cannot compare: ${booted === null ? BOOTED_SYSTEM : against} is missing` }
  }
  const differs: BootComponent[] = []
  for (const name of ['kernel', 'initrd', 'kernel-modules'] as const) {
    const [a, b] = await Promise.all([componentKey(root, booted, name), componentKey(root, current, name)])
    if (a !== b) differs.push(name)
  }
  return { needed: differs.length > 0, differs }
}

/** The symlink target when it is one (as NixOS makes them), else the resolved path; null when missing. */
async function componentKey(root: string, system: string, name: string): Promise<string | null> {
  const path = posix.join(system, name)
  return (await readLinkInRoot(root, path)) ?? (await tryResolveInRoot(root, path))
}

export interface NixosVersionInfo {
  nixosVersion?: string
  nixpkgsRevision?: string
  /** absent when the configuration does not set `system.configurationRevision` (NixOS's default) */
  configurationRevision?: string
  codeName?: string
  /** the toplevel's `nixos-version` file (the system label) */
  label?: string
  source: 'exec' | 'files' | 'none'
  reason?: string
}

/**
 * `nixos-version --json` of a system (default the running one). On the live root with `exec`, runs
 * it; otherwise (another root: a mounted image whose programs we must not run) reads the values the
 * script has baked into its text, and the toplevel's label file.
 */
export async function readNixosVersion(
  opts: { root?: string; exec?: Exec; system?: string; live?: boolean } = {},
): Promise<NixosVersionInfo> {
  const root = opts.root ?? '/'
  const system = opts.system ?? CURRENT_SYSTEM
  const top = await tryResolveInRoot(root, system)
  if (top === null) return { source: 'none', reason: `${system} does not exist${root === '/' ? '' : ` under ${root}`}` }
  const label = await readFile(hostPath(root, posix.join(top, 'nixos-version')), 'utf8').then((s) => s.trim(), () => undefined)
  const withLabel = <T extends object>(o: T) => (label === undefined ? o : { ...o, label })
  const script = await tryResolveInRoot(root, posix.join(top, 'sw/bin/nixos-version'))
  if (opts.exec && (opts.live ?? resolve(root) === '/') && script !== null) {
    const r = await opts.exec(hostPath(root, script), ['--json'])
    const json = r.exitCode === 0 ? pickVersionJson(r.stdout.text) : undefined
    if (json) return withLabel({ ...json, source: 'exec' as const })
  }
  const text = script === null ? undefined : await readFile(hostPath(root, script), 'utf8').catch(() => undefined)
  const parsed = text === undefined ? {} : parseNixosVersionScript(text)
  const nixosVersion = parsed.nixosVersion ?? label
  if (text === undefined && label === undefined) return { source: 'none', reason: `${top} has neither nixos-version nor sw/bin/nixos-version` }
  return withLabel({ ...parsed, ...(nixosVersion ? { nixosVersion } : {}), source: 'files' as const })
}

type VersionFields = Omit<NixosVersionInfo, 'source' | 'reason' | 'label'>

/** The first `{...}` holding a string `nixosVersion` in `text` (the `--json` output, or the heredoc in the script). */
function pickVersionJson(text: string): VersionFields | undefined {
  for (const m of text.matchAll(/\{.*\}/g)) {
    try {
      const o = JSON.parse(m[0]) as Record<string, unknown>
      if (typeof o.nixosVersion !== 'string') continue
      const out: VersionFields = { nixosVersion: o.nixosVersion }
      if (typeof o.nixpkgsRevision === 'string') out.nixpkgsRevision = o.nixpkgsRevision
      if (typeof o.configurationRevision === 'string' && o.configurationRevision) out.configurationRevision = o.configurationRevision
      return out
    } catch {
      // an unsubstituted @json@, or a brace that is shell code
    }
  }
  return undefined
}

/**
 * Values from the text of nixpkgs' nixos-version script, where `@json@`, `@revision@`,
 * `@configurationRevision@`, `@version@` and `@codeName@` were substituted at build time. Prefers the
 * `--json` heredoc; older scripts without it give their values in each case branch's `echo`. A
 * placeholder left unsubstituted (`@configurationRevision@` when unset) means "unknown".
 */
export function parseNixosVersionScript(text: string): VersionFields {
  const out: VersionFields = { ...pickVersionJson(text) }
  const rev = branchEcho(text, '--hash|--revision)')
  if (!out.nixpkgsRevision && rev && /^[0-9a-f]{7,64}$/.test(rev)) out.nixpkgsRevision = rev
  const conf = branchEcho(text, '--configuration-revision)')
  if (!out.configurationRevision && conf && !conf.includes('@')) out.configurationRevision = conf
  const dflt = /^\s*echo\s+"([^"@$]+) \(([^"@$)]*)\)"\s*$/m.exec(text.slice(text.lastIndexOf('*)')))
  if (dflt) {
    out.nixosVersion ??= dflt[1]
    out.codeName = dflt[2]
  }
  return out
}

/** The last plain `echo "value"` (not to stderr, no shell variables) in the case branch labelled `label`. */
function branchEcho(text: string, label: string): string | undefined {
  const start = text.indexOf(label)
  if (start < 0) return undefined
  const end = text.indexOf(';;', start)
  const body = text.slice(start + label.length, end < 0 ? undefined : end)
  const values = [...body.matchAll(/^\s*echo\s+"([^"$]*)"\s*$/gm)].map((m) => m[1]!)
  return values.at(-1) || undefined
}
