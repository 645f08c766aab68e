/**
 * Unix groups by name and id, from /etc/group (Node has no getgrnam). The records' group is the
 * one admins are in (`wheel` by default), so the logs a build writes are theirs to read.
 */
import { readFileSync } from 'node:fs'

export const DEFAULT_LOG_GROUP = 'wheel'

/** `NBS_LOG_GROUP`, else the config's `logGroup`, else `wheel`. */
export function logGroupName(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return env.NBS_LOG_GROUP || configured || DEFAULT_LOG_GROUP
}

function groups(file = '/etc/group'): Array<{ name: string; gid: number }> {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!))
      .map((f) => ({ name: f[0]!, gid: Number(f[2]) }))
  } catch {
    return []
  }
}

/** The gid of group `name`, or null when this machine has no such group. */
export function groupId(name: string): number | null {
  return groups().find((g) => g.name === name)?.gid ?? null
}

/** The name of group `gid`, or null. */
export function groupName(gid: number): string | null {
  return groups().find((g) => g.gid === gid)?.name ?? null
}
