/**
 * What a build record says about the machine around the build: the generations before and after,
 * read with the status library, and the Nix version. Build-side: the record store knows no probes.
 */
import { posix } from 'node:path'
import type { Exec } from '../checks/types.js'
import { getCurrentGeneration, SYSTEM_PROFILES } from '../status/generation.js'
import { getCurrentCommit } from '../status/git.js'
import { envStateHome, getHomeManagerGeneration } from '../status/home-manager.js'
import { storeTargetInRoot } from '../machine/root-path.js'
import { defaultUser, type GenerationSnapshot } from '../records/schema.js'

/**
 * The generations a build may change, read with the status library. Never throws: a record must
 * be written even when a probe fails, so each part that cannot be read is null.
 */
export async function snapshotGeneration(opts: {
  root?: string
  exec: Exec
  flake?: string
  target: 'os' | 'home'
  user?: string
}): Promise<GenerationSnapshot> {
  const root = opts.root ?? '/'
  const user = opts.user ?? defaultUser()
  const [sys, hm, commit] = await Promise.all([
    getCurrentGeneration({ root }).catch(() => null),
    user ? getHomeManagerGeneration({ root, user, stateHome: envStateHome(user, root) }).catch(() => null) : null,
    opts.flake ? getCurrentCommit({ exec: opts.exec, flake: opts.flake }).catch(() => null) : null,
  ])
  // After a Home Manager rollback the active link is older than the newest: the active one is what runs.
  const hmNumber = hm ? (hm.active ?? hm.number) : null
  const hmPath = hm ? await storeTargetInRoot(root, posix.join(hm.profileDir, 'home-manager')).catch(() => null) : null
  const sysPath = sys?.profile?.path ?? (await storeTargetInRoot(root, `${SYSTEM_PROFILES}/system`).catch(() => null))
  const okCommit = commit && !('error' in commit) ? commit : null
  return {
    generation: sys?.generation ?? null,
    generationRaw: sys?.generationRaw ?? null,
    commit: okCommit?.shortRev ?? null,
    homeManagerGeneration: hmNumber === null ? null : `hm${hmNumber}`,
    currentSystem: sys?.current?.path ?? null,
    profilePath: opts.target === 'home' ? (hmPath ?? hm?.path ?? null) : sysPath,
    commitDirty: okCommit ? okCommit.dirty : null,
  }
}

/** `2.24.10` from `nix --version` (`nix (Nix) 2.24.10`); null when Nix is missing or says something else. */
export async function readNixVersion(exec: Exec): Promise<string | null> {
  try {
    const r = await exec('nix', ['--version'])
    if (r.exitCode !== 0) return null
    return /\b(\d+\.\d+(?:\.\d+)?(?:[-+.\w]*)?)\s*$/m.exec(r.stdout.text.trim())?.[1] ?? null
  } catch {
    return null
  }
}
