/**
 * The flake's part of the inventory in one `nix eval`: nixosConfigurations names, deploy-rs nodes,
 * colmena's raw hive and whether it has colmenaHive (inventory-nix.ts says what is read and why
 * nothing is built).
 *
 * An installable names one attribute, never the whole output set, so the expression loads the
 * flake with `builtins.getFlake`, the flake reference passed as data (`--argstr flake REF`).
 * getFlake refuses an unlocked reference (a working tree) in pure evaluation, hence `--impure`;
 * nothing else of the evaluation depends on it.
 */
import { existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import type { Exec } from '../checks/types.js'
import type { NixError } from '../nix/errors.js'
import { localFlakeDir, NIX_FLAKE_ARGS, nixOptionArgs, parseFlakeRef } from '../nix/flake.js'
import { runNix } from '../nix/run.js'
import { INVENTORY_EXPR, type InventoryEvalOutput } from './inventory-nix.js'

export interface ReadFlakeHostsOptions {
  flake: string
  exec: Exec
  signal?: AbortSignal
  nixOptions?: Record<string, string>
  /** where a relative flake path starts (default: the working directory) */
  cwd?: string
}

export type ReadFlakeHostsResult =
  | { ok: true; value: InventoryEvalOutput; notes: string[] }
  | { ok: false; notFound: true }
  | { ok: false; errors: NixError[] }

/**
 * Runs the inventory evaluation. When it fails, it runs once more without calling colmena node
 * functions (the one part that can fail where `tryEval` cannot catch it); if that succeeds, the
 * first error becomes a note.
 */
export async function readFlakeHosts(opts: ReadFlakeHostsOptions): Promise<ReadFlakeHostsResult> {
  const ref = getFlakeRef(opts.flake, opts.cwd)
  const call = (callFunctions: boolean) =>
    runNix({ exec: opts.exec, ...(opts.signal ? { signal: opts.signal } : {}) }, [
      ...NIX_FLAKE_ARGS,
      'eval',
      '--json',
      '--impure',
      ...nixOptionArgs(opts.nixOptions),
      '--expr',
      INVENTORY_EXPR,
      'result',
      '--argstr',
      'flake',
      ref,
      '--arg',
      'callFunctions',
      String(callFunctions),
    ])
  const first = await call(true)
  if ('ok' in first) {
    // a timeout or an interruption is no evaluation error: running it again would only wait again
    if ('notFound' in first || opts.signal?.aborted || first.errors.some((e) => /^nix (timed out|aborted)/.test(e.message))) return first
    const second = await call(false)
    if ('ok' in second) return first
    const parsed = parse(second.stdout.text)
    if (!parsed.ok) return parsed
    const why = first.errors[0]?.message ?? 'nix eval failed'
    return { ...parsed, notes: [`colmena hive (literal): node functions were not called, since calling them failed: ${why.split('\n')[0]}`] }
  }
  return parse(first.stdout.text)
}

function parse(stdout: string): ReadFlakeHostsResult {
  try {
    return { ok: true, value: JSON.parse(stdout) as InventoryEvalOutput, notes: [] }
  } catch {
    return { ok: false, errors: [{ kind: 'other', message: `nix eval printed no JSON: ${stdout.slice(0, 200)}`, raw: stdout.slice(0, 2000) }] }
  }
}

/**
 * The reference for getFlake, meaning what the nix command line means by the same text. getFlake
 * takes no relative paths, and reads a plain path as `path:` even inside a git repository, where
 * the command line uses `git+file:` (tracked files only, as `nbs check` evaluates them). So a plain
 * path becomes `git+file://<repo>?dir=<sub>` inside a work tree, else `path:<abs>`; relative
 * `path:`/`git+file:` paths are made absolute; other references pass unchanged.
 */
export function getFlakeRef(flake: string, cwd = process.cwd()): string {
  const ref = parseFlakeRef(flake).flake
  const local = localFlakeDir(ref, cwd)
  if ('error' in local) return ref
  const [location = '', query] = ref.split('?', 2)
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(location)?.[1]
  if (scheme) {
    const rest = location.slice(scheme.length + 1)
    if (rest.startsWith('/')) return ref
    return `${scheme}:${resolve(cwd, decodeURIComponent(rest))}${query ? `?${query}` : ''}`
  }
  const dir = resolve(cwd, location)
  const repo = gitRoot(dir)
  if (!repo) return `path:${dir}${query ? `?${query}` : ''}`
  const sub = relative(repo, dir)
  const params = new URLSearchParams(query ?? '')
  if (sub) params.set('dir', sub)
  const q = params.toString()
  return `git+file://${repo}${q ? `?${q}` : ''}`
}

function gitRoot(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d
    if (dirname(d) === d) return undefined
  }
}
