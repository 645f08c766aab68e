import { readFile, stat } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { currentUserName, parsePasswd } from '../machine/users.js'
import { join } from 'node:path'
import type { Exec, ExecOptions } from '../checks/types.js'
import { localFlakeDir } from '../nix/flake.js'

export { localFlakeDir, type LocalFlake } from '../nix/flake.js'

export interface CommitInfo {
  rev: string
  /** 7 characters, like the flake's `self.shortRev` */
  shortRev: string
  dirty: boolean
  /** `git status --porcelain` lines behind `dirty` */
  changes: string[]
  dir: string
}

export type CurrentCommit = CommitInfo | { error: string; notLocal?: boolean; /** the repository git refused as owned by someone else */ safeDirectory?: string }

/** Read-only probes: never take the index lock, and keep git's messages in English for parsing. */
const GIT_ENV = { GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' }
/** a status probe must answer: a hung git (network filesystem, huge repo) gives up */
const GIT_TIMEOUT_MS = 20_000

/**
 * `git -C dir ARGS` as every read-only probe runs it: no index lock, English messages, bounded in
 * time. `options` adds streaming or capture settings.
 */
export function gitProbe(exec: Exec, dir: string, args: readonly string[], options: ExecOptions = {}): ReturnType<Exec> {
  return exec('git', ['-C', dir, ...args], { env: GIT_ENV, timeoutMs: GIT_TIMEOUT_MS, ...options })
}

/** `git rev-parse --is-inside-work-tree --verify HEAD`: the process, and its two answers when it succeeded. */
export async function readHead(exec: Exec, dir: string): Promise<{ result: Awaited<ReturnType<Exec>>; insideWorkTree: boolean; rev?: string }> {
  const result = await gitProbe(exec, dir, ['rev-parse', '--is-inside-work-tree', '--verify', 'HEAD'])
  const [inside, rev] = result.exitCode === 0 ? result.stdout.text.trim().split('\n') : []
  return { result, insideWorkTree: inside === 'true', ...(rev ? { rev } : {}) }
}

/**
 * The commit a local flake's checkout is at, and whether its tree is dirty: one `git rev-parse HEAD`
 * and one `git status --porcelain`. For a git flake untracked files do not count (Nix does not see
 * them, and neither does `self.dirtyRev`); for a path: flake they do (Nix copies them).
 */
export async function getCurrentCommit(opts: { exec: Exec; flake: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<CurrentCommit> {
  const local = localFlakeDir(opts.flake, opts.cwd)
  if ('error' in local) return local
  const { result: head, insideWorkTree, rev = '' } = await readHead(opts.exec, local.dir)
  if (head.notFound) return { error: 'git is not installed' }
  const refused = await dubiousOwnership(head.stderr.text, opts.env)
  if (refused) return refused
  if (head.exitCode !== 0) return { error: `${local.dir}: ${gitMessage(head.stderr.text) || 'git rev-parse HEAD failed'}` }
  // Nix reads a plain path inside a git work tree as git+file: untracked files are not part of it
  if (local.kind === 'path' && !/^path:/.test(opts.flake) && insideWorkTree) local.kind = 'git'
  const untracked = local.kind === 'git' ? 'no' : 'normal'
  const status = await gitProbe(opts.exec, local.dir, ['status', '--porcelain', `--untracked-files=${untracked}`])
  if (status.exitCode !== 0) return { error: `${local.dir}: ${gitMessage(status.stderr.text) || 'git status failed'}` }
  const changes = status.stdout.text.split('\n').filter((l) => l.trim() !== '')
  return { rev, shortRev: rev.slice(0, 7), dirty: changes.length > 0, changes, dir: local.dir }
}

/**
 * git (since 2.35.2) refuses a repository owned by another user ("detected dubious ownership"),
 * as when root reads a user's checkout or a user reads root's /etc/nixos. The fix is a
 * `safe.directory` entry in the global config of the user running git: name that user and file,
 * since under sudo it is root's, not the invoking user's (git itself only trusts SUDO_UID's own
 * repositories).
 */
export async function dubiousOwnership(stderr: string, env: NodeJS.ProcessEnv = process.env): Promise<{ error: string; safeDirectory: string } | undefined> {
  const repo = /detected dubious ownership in repository at '(.+)'/.exec(stderr)?.[1]
  if (repo === undefined) return undefined
  const ownerUid = await stat(repo).then((s) => s.uid, () => undefined)
  const owner = ownerUid === undefined ? 'another user' : await describeUser(ownerUid)
  const uid = process.getuid?.()
  const me = uid === undefined ? userInfo().username : await describeUser(uid)
  const config = env.GIT_CONFIG_GLOBAL || join(env.HOME || userInfo().homedir, '.gitconfig')
  const command = `git config --global --add safe.directory ${shellWord(repo)}`
  const asWho = uid === 0 && env.SUDO_USER ? `as root, e.g. \`sudo ${command}\` (nbs runs as root under sudo: this is root's ${config}, not ${env.SUDO_USER}'s)` : `as ${me}: \`${command}\` (adds it to ${config})`
  return {
    error: `${repo}: git refuses to read this repository: it is owned by ${owner}, and nbs runs as ${me} ("dubious ownership"). To trust it, run ${asWho}`,
    safeDirectory: repo,
  }
}

/** `alice (uid 1000)`: the name from /etc/passwd (Node has no getpwuid), else `uid 1000`. */
async function describeUser(uid: number): Promise<string> {
  const name = uid === process.getuid?.()
    ? currentUserName()
    : parsePasswd(await readFile('/etc/passwd', 'utf8').catch(() => '')).find((e) => e.uid === uid)?.name
  return name ? `${name} (uid ${uid})` : `uid ${uid}`
}

/** A path as one shell word in a suggested command: quoted only when it has to be. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`)

/** git's `fatal:` line (e.g. not a repository, dubious ownership), without the hints around it. */
function gitMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean)
  return lines.find((l) => l.startsWith('fatal:')) ?? lines[0] ?? ''
}

export interface LockedInput {
  rev: string
  shortRev: string
  /** the lock file node the input resolved to (after `follows`) */
  node: string
  lastModified?: number
  type?: string
}

interface FlakeLock {
  root?: string
  nodes?: Record<string, { inputs?: Record<string, string | string[]>; locked?: Record<string, unknown> }>
}

/**
 * The nixpkgs revision the flake is locked to, read from its flake.lock without running Nix: the
 * root's `inputs.nixpkgs` (following `follows` paths) → `nodes.<node>.locked.rev`.
 */
export async function getCurrentNixpkgsRev(opts: { flake: string; input?: string; cwd?: string }): Promise<LockedInput | { error: string }> {
  const input = opts.input ?? 'nixpkgs'
  const local = localFlakeDir(opts.flake, opts.cwd)
  if ('error' in local) return local
  const file = join(local.dir, 'flake.lock')
  let lock: FlakeLock
  try {
    lock = JSON.parse(await readFile(file, 'utf8')) as FlakeLock
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return { error: code === 'ENOENT' ? `${file} does not exist` : `${file}: ${(e as Error).message}` }
  }
  const node = followInput(lock, [input])
  if (node === undefined) return { error: `${file}: the flake has no input "${input}"` }
  const locked = lock.nodes?.[node]?.locked
  if (typeof locked?.rev !== 'string') {
    return { error: `${file}: input "${input}" is locked without a revision (type ${String(locked?.type ?? 'unknown')})` }
  }
  return {
    rev: locked.rev,
    shortRev: locked.rev.slice(0, 7),
    node,
    ...(typeof locked.lastModified === 'number' ? { lastModified: locked.lastModified } : {}),
    ...(typeof locked.type === 'string' ? { type: locked.type } : {}),
  }
}

/** The node an input path from the root leads to; a `follows` (array) restarts from the root. */
function followInput(lock: FlakeLock, path: string[], depth = 0): string | undefined {
  if (depth > 32) return undefined // a follows cycle: Nix rejects those too
  let node = lock.root ?? 'root'
  for (const name of path) {
    const ref = lock.nodes?.[node]?.inputs?.[name]
    if (ref === undefined) return undefined
    const next = typeof ref === 'string' ? ref : followInput(lock, ref, depth + 1)
    if (next === undefined) return undefined
    node = next
  }
  return node
}
