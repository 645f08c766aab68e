import { lstatSync, readFileSync, readlinkSync } from 'node:fs'
import { lstat, readlink } from 'node:fs/promises'
import { posix, resolve } from 'node:path'

/** Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40

function fsError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code })
}

/** The host path of `inside` (a path as seen from within `root`). */
export function hostPath(root: string, inside: string): string {
  return posix.join(resolve(root), posix.resolve('/', inside))
}

/**
 * realpath(3) as a process chrooted into `root` would see it: every component is looked up under
 * `root`, absolute symlink targets restart at `root` (not at the host's `/`), and `..` never climbs
 * above it. Returns the resolved path *inside* the root (e.g. `/nix/store/…-nixos-system-…`), which is
 * what Nix and `/run/current-system` talk about; `hostPath` turns it into a path to open.
 * Throws ENOENT/ENOTDIR/ELOOP like realpath. With root `/` this is plain resolution.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  return resolveInRootSync(root, path)
}

/** `resolveInRoot` without a promise: settings are resolved before anything async (the host default). */
export function resolveInRootSync(root: string, path: string): string {
  const rootAbs = resolve(root)
  const pending = path.split('/') // not normalized first: `link/..` must follow the link, as realpath does
  const done: string[] = []
  let links = 0
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === '' || part === '.') continue
    if (part === '..') {
      done.pop() // at the root, `..` is the root itself, as in a chroot
      continue
    }
    const candidate = posix.join(rootAbs, ...done, part)
    const st = lstatSync(candidate)
    if (!st.isSymbolicLink()) {
      done.push(part)
      continue
    }
    if (++links > MAX_SYMLINKS) throw fsError('ELOOP', `too many levels of symbolic links resolving ${path} in ${rootAbs}`)
    const target = readlinkSync(candidate)
    if (target.startsWith('/')) done.length = 0 // re-rooted: /nix/store/… means ROOT/nix/store/…
    pending.unshift(...target.split('/'))
  }
  return '/' + done.join('/')
}

/** `resolveInRoot`, or null when the path does not resolve (missing, dangling link, loop). */
export async function tryResolveInRoot(root: string, path: string): Promise<string | null> {
  try {
    return await resolveInRoot(root, path)
  } catch {
    return null
  }
}

/**
 * readlink(2) of `path`'s last component, its parent directories resolved inside `root`: one level,
 * as `readlink /run/booted-system/kernel` would give. Null when the path is missing or not a symlink.
 */
export async function readLinkInRoot(root: string, path: string): Promise<string | null> {
  const abs = path.startsWith('/') ? path : `/${path}`
  const parent = await tryResolveInRoot(root, posix.dirname(abs))
  if (parent === null) return null
  try {
    return await readlink(hostPath(root, posix.join(parent, posix.basename(abs))))
  } catch {
    return null
  }
}

/** Whether `path` exists inside `root` (symlinks followed inside the root). */
export async function existsInRoot(root: string, path: string): Promise<boolean> {
  return (await tryResolveInRoot(root, path)) !== null
}

/** A path's store target inside the root, falling back to the raw symlink target when that is missing (an image without its store). */
export async function storeTargetInRoot(root: string, path: string): Promise<string | null> {
  const resolved = await tryResolveInRoot(root, path)
  if (resolved !== null) return resolved
  const raw = await readLinkInRoot(root, path)
  return raw?.startsWith('/') ? posix.normalize(raw) : null
}

/** lstat inside the root: true for a dangling link too (a NixOS image copied without its store is still NixOS). */
export async function lexistsInRoot(root: string, path: string): Promise<boolean> {
  const parent = await tryResolveInRoot(root, posix.dirname(path))
  if (parent === null) return false
  return lstat(hostPath(root, posix.join(parent, posix.basename(path)))).then(() => true, () => false)
}

/** An offline root's `/etc/hostname` (a link into its store on NixOS), or undefined when it has none. */
export function rootHostnameSync(root: string): string | undefined {
  try {
    return readFileSync(hostPath(root, resolveInRootSync(root, '/etc/hostname')), 'utf8').split('\n')[0]?.trim() || undefined
  } catch {
    return undefined
  }
}
