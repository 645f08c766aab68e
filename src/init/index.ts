/**
 * `nbs init`: a config and an example check for an existing flake. Everything is checked before
 * anything is written (a flake, no config, no example check), so a refusal leaves the folder as it
 * was; each file is written to a temp name and linked into place, which fails rather than replace a
 * file that appeared meanwhile, and a failure removes what this run wrote.
 */
import { existsSync, statSync } from 'node:fs'
import { constants } from 'node:fs'
import { access, lchown, link, mkdir, open, rm, rmdir, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import type { Exec } from '../checks/types.js'
import { CHECK_FILE_EXTENSIONS } from '../config/schema.js'
import { NbsError } from '../errors.js'
import { tempPathFor } from '../fs/atomic-write.js'
import { readFlakeHosts } from '../hosts/flake-hosts.js'
import { currentUserName } from '../machine/users.js'
import { gitProbe } from '../status/git.js'
import { CONFIG_FILE, EXAMPLE_CHECK_FILE, nextCommands, renderConfig, renderExampleCheck, type CiKind } from './render.js'

export { CONFIG_FILE, EXAMPLE_CHECK_FILE, EXAMPLE_CHECK_ID, GITLAB_FILE, JUNIT_FILE, PACKAGE_NAME } from './render.js'
export type { CiKind } from './render.js'

/** Config names nbs looks for in a project (config/load.ts): any of them means "already set up". */
const CONFIG_NAMES = CHECK_FILE_EXTENSIONS.map((ext) => `nbs.config.${ext}`)

export interface InitOptions {
  /** the flake's folder */
  dir: string
  /** runs nix for the host names (probeExec in the CLI) */
  exec: Exec
  signal?: AbortSignal
  /** what it is doing while it waits (the CLI shows it on a terminal: the first evaluation can take minutes) */
  onStatus?(line: string): void
}

export interface InitResult {
  dir: string
  /** written, relative to dir */
  files: string[]
  /** nixosConfigurations names; undefined when Nix could not read them */
  hosts: string[] | undefined
  ci: CiKind
  /** what the user should know (why no hosts were read) */
  notes: string[]
  /** the folder is in a git work tree: the files written are untracked until added (CI checks out commits) */
  inGit: boolean
  next: { command: string; why: string }[]
}

/** The CI the project uses, from the files each CI reads. */
export function detectCi(dir: string): CiKind {
  if (existsSync(join(dir, '.gitlab-ci.yml'))) return 'gitlab'
  if (existsSync(join(dir, '.github', 'workflows'))) return 'github'
  return 'none'
}

export async function initProject(opts: InitOptions): Promise<InitResult> {
  const dir = resolve(opts.dir)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new NbsError(`${dir} is not a folder: run nbs init in your flake's folder, or name it (nbs init DIR)`)
  if (!existsSync(join(dir, 'flake.nix'))) {
    throw new NbsError(`${dir} has no flake.nix: run nbs init in your flake's folder (nix flake init makes a flake)`)
  }
  refuseExisting(dir)
  // before the evaluation, which may take minutes: a root-owned /etc/nixos is refused at once
  await refuseUnwritable(dir)

  const notes: string[] = []
  opts.onStatus?.("reading the flake's hosts (nix eval of nixosConfigurations' names; Ctrl-C stops, nothing is written)")
  const read = await readFlakeHosts({ flake: dir, exec: opts.exec, cwd: dir, ...(opts.signal ? { signal: opts.signal } : {}) })
  let hosts: string[] | undefined
  let hostsNote: string | undefined
  if (read.ok) {
    // web-2 before web-10, as people number machines
    hosts = [...(read.value.nixosConfigurations ?? [])].sort(new Intl.Collator('en', { numeric: true }).compare)
    if (!hosts.length) hostsNote = 'the flake has no nixosConfigurations'
  } else if ('notFound' in read) {
    hostsNote = 'nix is not on PATH, so the hosts of nixosConfigurations were not read'
  } else if (await untrackedFlake(opts.exec, dir)) {
    // Nix's git fetcher sees tracked files only: its own message names a store path, not the cause
    hostsNote = 'flake.nix is not tracked by git, and Nix reads only the files git tracks: git add flake.nix (and the files it imports)'
  } else {
    hostsNote = `nix could not read nixosConfigurations: ${(read.errors[0]?.message ?? 'nix eval failed').split('\n')[0]}`
  }
  // a second nbs init refuses (the config exists): the way on is to edit the file
  if (hostsNote && hosts === undefined) notes.push(`${hostsNote}; ${CONFIG_FILE} lists no hosts: add them under hosts (nbs hosts lists the flake's once Nix reads it)`)
  if (opts.signal?.aborted) throw new NbsError('interrupted; nothing written', 130)

  const ci = detectCi(dir)
  const files: [string, string][] = [
    [CONFIG_FILE, renderConfig({ hosts, ci, ...(hostsNote ? { hostsNote } : {}) })],
    [EXAMPLE_CHECK_FILE, renderExampleCheck()],
  ]
  // the evaluation took a while: look again, then write without replacing anything
  refuseExisting(dir)
  const made = await writeAllNew(dir, files)
  // `sudo nbs init` in a user's flake: the files are the flake owner's to edit, not root's
  await giveToOwnerOf(dir, made)
  const inGit = (await gitProbe(opts.exec, dir, ['rev-parse', '--is-inside-work-tree'])).stdout.text.trim() === 'true'
  return { dir, files: files.map(([f]) => f), hosts, ci, notes, inGit, next: nextCommands({ hosts, ci }) }
}

/** Whether dir is in a git work tree where flake.nix is not tracked (false when git cannot say). */
async function untrackedFlake(exec: Exec, dir: string): Promise<boolean> {
  const r = await gitProbe(exec, dir, ['ls-files', '--', 'flake.nix'])
  return r.exitCode === 0 && r.stdout.text.trim() === ''
}

async function refuseUnwritable(dir: string): Promise<void> {
  const checks = join(dir, dirname(EXAMPLE_CHECK_FILE))
  for (const d of existsSync(checks) ? [dir, checks] : [dir]) {
    const err = await access(d, constants.W_OK).then(() => undefined, (e: NodeJS.ErrnoException) => e)
    if (!err) continue
    const why = err.code === 'EROFS' ? 'a read-only file system' : err.code === 'EACCES' || err.code === 'EPERM' ? `permission denied for ${currentUserName() ?? `uid ${process.getuid?.()}`}` : (err.code ?? err.message)
    const fix = err.code === 'EROFS' ? '' : ': run nbs init as its owner (sudo nbs init for a root-owned /etc/nixos)'
    throw new NbsError(`cannot write in ${d} (${why})${fix}; nothing written`)
  }
}

function refuseExisting(dir: string): void {
  for (const name of [...CONFIG_NAMES, EXAMPLE_CHECK_FILE]) {
    if (existsSync(join(dir, name))) throw new NbsError(`${join(dir, name)} exists already; nothing written (nbs init only starts a project: edit that file instead)`)
  }
}

/** Root writing into a folder another user owns: what it made becomes that user's (and group's). */
async function giveToOwnerOf(dir: string, paths: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return
  const owner = await stat(dir)
  if (owner.uid === 0) return
  for (const p of paths) await lchown(p, owner.uid, owner.gid).catch(() => {})
}

/** Writes every file or none: each to a temp name, then linked into place (link never replaces). Returns what it made. */
async function writeAllNew(dir: string, files: [string, string][]): Promise<string[]> {
  const written: string[] = []
  const madeDirs: string[] = []
  try {
    for (const [name, content] of files) {
      const path = join(dir, name)
      const parent = dirname(path)
      if (!existsSync(parent)) {
        await mkdir(parent, { recursive: true })
        madeDirs.push(parent)
      }
      await writeNew(path, content)
      written.push(path)
    }
    return [...madeDirs, ...written]
  } catch (e) {
    for (const path of written.reverse()) await rm(path, { force: true })
    for (const d of madeDirs.reverse()) await rmdir(d).catch(() => {})
    const err = e as NodeJS.ErrnoException & { dest?: string }
    if (err.code === 'EEXIST') throw new NbsError(`${relative(dir, err.path ?? err.dest ?? dir) || dir} appeared while nbs init ran; nothing written`)
    if (err.code) throw new NbsError(`cannot write in ${dir}: ${err.message}; nothing written`)
    throw e
  }
}

async function writeNew(path: string, content: string): Promise<void> {
  const tmp = tempPathFor(path)
  const handle = await open(tmp, 'wx', 0o644)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(tmp, path)
  } finally {
    await rm(tmp, { force: true })
  }
}
