/**
 * From the store copy Nix evaluates back to the user's checkout: Nix reports errors in
 * `/nix/store/<hash>-source/hosts/web.nix`, which no editor, CI annotation or code-quality report
 * can open. For a local flake this finds the file it was copied from (the flake itself, the git
 * work tree around a `?dir=` flake, or a `path:` input of its flake.lock) and names it relative to
 * the repository root, which is where GitHub, GitLab and JUnit consumers resolve paths.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { localFlakeDir } from './flake.js'
import { isDirectory, isFile } from '../fs/stat.js'

/** `/nix/store/<hash>-<name>` and the path inside it; the name is `source` for flakes and inputs. */
const STORE_FILE = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[^/]+\/(.+)$/
/** The same inside text (traces: `… while evaluating … at /nix/store/…/x.nix:3:5`). */
const STORE_FILE_IN_TEXT = /\/nix\/store\/[0-9a-df-np-sv-z]{32}-[^/\s'"`:]+\/[^\s'"`:]+/g
/** Files above this size are not compared, so not mapped (a .nix file that large is not hand-written). */
const COMPARE_MAX_BYTES = 4 * 1024 * 1024

export interface SourceMapper {
  /** the checkout file a Nix path is a copy of, relative to the repository root; undefined when none is known */
  file(nixPath: string): string | undefined
  /** `text` with every store path that maps replaced by its checkout path */
  text(text: string): string
}

/** A mapper for the flake a run checks; one that maps nothing for flakes without a checkout here. */
export function flakeSourceMapper(flake: string, cwd = process.cwd()): SourceMapper {
  // worked out on the first path to map: most runs have no Nix error and never pay for it
  let where: { roots: string[]; repoRoot: string } | null | undefined
  const locateIn = () => {
    if (where !== undefined) return where
    const local = localFlakeDir(flake, cwd)
    if ('error' in local || !isDirectory(local.dir)) return (where = null)
    // the folder itself, not a symlink to it (/etc/nixos → ~/dotfiles/nixos): Nix copies the git
    // tree the real folder is in, and that tree's top is where CI resolves paths
    const dir = realPath(local.dir)
    const repoRoot = findRepoRoot(dir) ?? dir
    // where a store copy can come from: the flake; the tree around it (a `?dir=` flake from git is
    // copied whole); each `path:` input in its lock file
    return (where = { roots: unique([dir, ...(repoRoot !== dir ? [repoRoot] : []), ...pathInputs(dir)]), repoRoot })
  }
  const cache = new Map<string, string | undefined>()

  const file = (nixPath: string): string | undefined => {
    if (cache.has(nixPath)) return cache.get(nixPath)
    const at = locateIn()
    const found = at ? locate(nixPath, at.roots, at.repoRoot) : undefined
    cache.set(nixPath, found)
    return found
  }
  return { file, text: (t) => t.replace(STORE_FILE_IN_TEXT, (p) => file(p) ?? p) }
}

/** Lazy-trees Nix names a local flake's file `«path:/srv/flake»/hosts/web.nix` (or `«git+file:///…»/…`) instead of a store path. */
const ACCESSOR_FILE = /^«(?:path|git\+file):(?:\/\/(?=\/))?(\/[^»?]*)(?:\?[^»]*)?»\/(.+)$/

function locate(nixPath: string, roots: string[], repoRoot: string): string | undefined {
  const accessor = ACCESSOR_FILE.exec(nixPath)
  if (accessor) nixPath = join(decodeURIComponent(accessor[1]!), accessor[2]!)
  const inStore = STORE_FILE.exec(nixPath)?.[1]
  if (!inStore) {
    // a path Nix read in place (an impure or `--impure` import): shown relative when it is ours
    if (!isAbsolute(nixPath)) return undefined
    const real = realPath(nixPath)
    return inside(repoRoot, real) ? relative(repoRoot, real) : undefined
  }
  const candidates = roots.map((root) => [root, join(root, inStore)] as const).filter(([root, p]) => inside(root, p) && isFile(p)).map(([, p]) => p)
  if (candidates.length === 0) return undefined
  // only a file with the same bytes is the copy's source (`flake.nix` of the flake and of a `path:`
  // input share a name, not content; nixpkgs' `lib/modules.nix` may share one with the user's). A
  // copy not readable here (another machine's store, collected since) proves nothing: not mapped.
  const copy = readSmall(nixPath)
  if (copy === undefined) return undefined
  const source = candidates.find((p) => sameBytes(p, copy))
  if (source === undefined) return undefined
  return inside(repoRoot, source) ? relative(repoRoot, source) || '.' : source
}

/** Directories of the flake's `path:` inputs that are in the checkout, from its flake.lock. */
function pathInputs(flakeDir: string): string[] {
  let lock: unknown
  try {
    lock = JSON.parse(readFileSync(join(flakeDir, 'flake.lock'), 'utf8'))
  } catch {
    return []
  }
  const nodes = (lock as { nodes?: unknown }).nodes
  if (typeof nodes !== 'object' || nodes === null) return []
  const dirs: string[] = []
  for (const node of Object.values(nodes as Record<string, unknown>)) {
    const locked = (node as { locked?: { type?: unknown; path?: unknown } } | null)?.locked
    if (locked?.type !== 'path' || typeof locked.path !== 'string') continue
    const dir = resolve(flakeDir, locked.path)
    if (isDirectory(dir)) dirs.push(dir)
  }
  return dirs
}

/** The git work tree holding `dir` (a `.git` folder, or file for worktrees), found without running git. */
function findRepoRoot(dir: string): string | undefined {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (existsSync(join(at, '.git'))) return at
    if (dirname(at) === at) return undefined
  }
}

const inside = (root: string, path: string): boolean => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep)
const unique = (list: string[]): string[] => [...new Set(list)]

function realPath(p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}



/** The file's bytes when it is small enough to compare; undefined when unreadable or large. */
function readSmall(p: string): Buffer | undefined {
  try {
    return statSync(p).size <= COMPARE_MAX_BYTES ? readFileSync(p) : undefined
  } catch {
    return undefined
  }
}

function sameBytes(p: string, copy: Buffer): boolean {
  return readSmall(p)?.equals(copy) ?? false
}
