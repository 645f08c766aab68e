import { MachineError, type Machine } from '../machine/types.js'
import { systemdIsPid1 } from './systemd.js'

/** Whether the journal can be read here and how: `source` is what journalctl needs (`-D DIR` for an offline root). */
export type JournalAccess = { ok: true; source: string[] } | { ok: false; reason: string }

/**
 * The journal cannot be read here (volatile storage, no systemd, a reader who sees only their own
 * entries, no activation time): the journal check is skipped with `message`, never failed.
 */
export class JournalUnavailableError extends Error {
  override name = 'JournalUnavailableError'
}

const JOURNAL_DIR = '/var/log/journal'

/**
 * journalctl's own words when the reader is refused the system's files: its hint (printed only in
 * the default output, `-o json` and `-q` silence it; the exit code stays 0 when the user has
 * journal files of their own) and its error when no file at all could be opened.
 */
const HIDDEN = /not seeing messages from other users and the system|no journal files were opened due to insufficient permissions/i

/**
 * Whether `machine`'s journal can be read by this reader, answered before counting anything, so
 * that "0 errors" never means "0 errors we were allowed to see". An offline root needs a
 * persistent journal (`ROOT/var/log/journal`); a live machine needs systemd as PID 1 and a reader
 * who is root, or whom journalctl itself does not warn (systemd-journal, or adm/wheel where
 * journald's ACLs grant them).
 */
export async function journalAccess(machine: Machine): Promise<JournalAccess> {
  let source: string[] = []
  if (!machine.live) {
    const root = machine.hostPath?.('/').replace(/(.)\/$/, '$1') ?? machine.description
    try {
      // links resolved inside the root: impermanence keeps /var/log as a link to /persist/…
      const dir = await machine.realPath(JOURNAL_DIR)
      const st = dir === null ? null : await machine.stat(dir)
      if (dir === null || st?.type !== 'directory' || !machine.hostPath) {
        return { ok: false, reason: `no persistent journal under ${root} (journald storage is volatile)` }
      }
      source = ['-D', machine.hostPath(dir)]
    } catch (e) {
      if (e instanceof MachineError) return { ok: false, reason: `cannot read ${root}${JOURNAL_DIR} (${e.code}); run as root` }
      throw e
    }
  } else {
    const pid1 = await systemdIsPid1(machine)
    if (!pid1.ok) return pid1
  }
  const reader = await whoReads(machine)
  if (reader.uid === 0) return { ok: true, source }
  // one cheap query in the default output, where journalctl says whether it hid anything
  const probe = await machine.exec('journalctl', ['-n', '0', '--no-pager', ...source])
  if (probe.notFound) return { ok: false, reason: 'journalctl is not on PATH' }
  if (HIDDEN.test(probe.stderr.text)) return { ok: false, reason: hiddenReason(reader.name) }
  return { ok: true, source }
}

/** Whether journalctl's stderr says it could not open the system's files. */
export function journalHidden(stderr: string): boolean {
  return HIDDEN.test(stderr)
}

/** The skip reason for a reader who cannot see the system journal, with the fix. */
export function hiddenReason(user: string | undefined): string {
  const who = user ?? 'this user'
  return `${who} cannot see the system journal (journalctl shows them only their own entries); add ${who} to the systemd-journal group, or run as root`
}

/** The reading user, from `id` on the machine (its uid decides; the name is for the message). */
export async function whoReads(machine: Machine): Promise<{ uid: number | undefined; name: string | undefined }> {
  const r = await machine.exec('id', [])
  const m = r.exitCode === 0 ? /^uid=(\d+)(?:\(([^)]*)\))?/.exec(r.stdout.text.trim()) : null
  return { uid: m ? Number(m[1]) : undefined, name: m?.[2] }
}
