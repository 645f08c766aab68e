import { spawnSync } from 'node:child_process'

/** pgrep -f's answer for `pattern` ('' when nothing matches): proves a remote or local tree is gone. */
export const pgrep = (pattern: string): string => spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** pgrep's answer once nothing matches `pattern`, or what still matches after `ms`. */
export async function gone(pattern: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms
  while (pgrep(pattern) && Date.now() < deadline) await sleep(25)
  return pgrep(pattern)
}

/** pgrep's answer once `pattern` runs (a started shell may not have reached it yet), or '' after `ms`. */
export async function appears(pattern: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms
  while (!pgrep(pattern) && Date.now() < deadline) await sleep(25)
  return pgrep(pattern)
}
