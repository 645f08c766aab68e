/**
 * Who is who: passwd(5) entries (Node has no getpwnam/getpwuid) and the user running nbs. Read
 * from a machine's own /etc/passwd text, so a mounted root or a remote host answers for itself.
 */
import { userInfo } from 'node:os'

export interface PasswdEntry {
  name: string
  uid: number
  home: string
}

/** The entries of an /etc/passwd text; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = []
  for (const line of text.split('\n')) {
    const f = line.split(':')
    if (f.length < 6 || f[0] === '' || !/^\d+$/.test(f[2]!)) continue
    out.push({ name: f[0]!, uid: Number(f[2]), home: f[5]! })
  }
  return out
}

/** The user nbs runs as, by its passwd entry; undefined when its uid has none (containers). */
export function currentUserName(): string | undefined {
  try {
    return userInfo().username
  } catch {
    return undefined
  }
}
