import { readFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { posix } from 'node:path'
import { listProfileGenerations, profileNumber, SYSTEM_PROFILES, type ProfileGeneration } from './generation.js'
import { hostPath, tryResolveInRoot } from '../machine/root-path.js'

export interface HomeManagerGeneration extends ProfileGeneration {
  /** seed-compatible `hm12` */
  generation: string
  /** the profile directory it was found in (inside the root) */
  profileDir: string
  /** what the `home-manager` profile link points to, when it exists (differs from `number` after a rollback) */
  active?: number
}

/** A user's home directory from the root's own /etc/passwd (not this machine's), else the usual default. */
export async function homeDirectory(root: string, user: string): Promise<string> {
  const passwd = await tryResolveInRoot(root, '/etc/passwd')
  const text = passwd === null ? '' : await readFile(hostPath(root, passwd), 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const fields = line.split(':')
    if (fields[0] === user && fields[5]) return fields[5]
  }
  return user === 'root' ? '/root' : `/home/${user}`
}

/**
 * Where Home Manager keeps a user's profile: `$XDG_STATE_HOME/nix/profiles` (Nix ≥ 2.14's layout,
 * `~/.local/state` by default), else the legacy `/nix/var/nix/profiles/per-user/<user>`. The
 * environment's XDG_STATE_HOME only counts on the live root for the user running nbs.
 */
export async function homeManagerProfileDirs(opts: { root?: string; user: string; home?: string; stateHome?: string }): Promise<string[]> {
  const root = opts.root ?? '/'
  const home = opts.home ?? (await homeDirectory(root, opts.user))
  const envState = root === '/' && opts.user === safeUsername() ? process.env.XDG_STATE_HOME : undefined
  const stateHome = opts.stateHome ?? (envState || posix.join(home, '.local/state'))
  return [posix.join(stateHome, 'nix/profiles'), posix.join(SYSTEM_PROFILES, 'per-user', opts.user)]
}

/**
 * The newest `home-manager-N-link` of `user`, from the first profile directory that has any; null
 * when the user has no Home Manager generations (not an error: many machines have none).
 */
export async function getHomeManagerGeneration(opts: {
  root?: string
  user: string
  home?: string
  stateHome?: string
}): Promise<HomeManagerGeneration | null> {
  const root = opts.root ?? '/'
  for (const dir of await homeManagerProfileDirs(opts)) {
    const newest = (await listProfileGenerations(root, dir, 'home-manager')).at(-1)
    if (!newest) continue
    const active = await profileNumber(root, posix.join(dir, 'home-manager'))
    return {
      ...newest,
      generation: `hm${newest.number}`,
      profileDir: posix.dirname(newest.link),
      ...(active === null ? {} : { active }),
    }
  }
  return null
}

function safeUsername(): string | undefined {
  try {
    return userInfo().username
  } catch {
    return undefined // no passwd entry for our uid (containers)
  }
}
