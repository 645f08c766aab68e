import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa, type ResultPromise } from 'execa'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = join(REPO_ROOT, 'dist/cli.js')

/** A throwaway project folder (outside the repository, so it has no node_modules). */
export function makeProject(files: Record<string, string>): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-test-'))
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, content)
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** JSON config that loads only the project's checks (not nbs's built-ins), so tests see just their own. */
export const ISOLATED_CONFIG = JSON.stringify({ builtins: false })

export function jsonCheck(check: Record<string, unknown>): string {
  return JSON.stringify(check)
}

/** Runs the built CLI like a user would; never rejects, so tests assert on exit code and output. */
export function nbs(args: string[], opts: { cwd: string; env?: Record<string, string> }): ResultPromise<{ reject: false; cwd: string; env: Record<string, string>; stdin: 'ignore' }> {
  return execa(process.execPath, [CLI, ...args], { reject: false, cwd: opts.cwd, env: { NO_COLOR: '1', GITHUB_ACTIONS: '', GITHUB_STEP_SUMMARY: '', ...opts.env }, stdin: 'ignore' })
}

/** pids whose whole command line is `cmdline`, e.g. `sleep 123` (to prove a process tree is gone). */
export async function pidsMatching(cmdline: string): Promise<number[]> {
  const { readdirSync, readFileSync } = await import('node:fs')
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() === cmdline) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}
