/**
 * Is the running system what the flake says? Two ways to know, best first: the flake's evaluated
 * toplevel equals the running one (exact, whatever the checkout's state), or the configuration
 * recorded the git revision it was built from (`system.configurationRevision`) and it is HEAD.
 */
import type { CurrentCommit } from './git.js'

export type RevisionStatus = 'equal' | 'differs' | 'unknown'

export interface RevisionComparison {
  status: RevisionStatus
  reason: 'toplevel-match' | 'toplevel-differs' | 'revision-match' | 'revision-differs' | 'dirty-build' | 'unrecorded' | 'no-commit'
  message: string
  /** what is worth knowing without changing the verdict: uncommitted files, how to compare better */
  notes: string[]
}

export interface RevisionInputs {
  /** the running system's `configurationRevision` (nixos-version --json), when recorded */
  configurationRevision?: string
  commit: CurrentCommit
  /** the running generation's toplevel: the parent when a specialisation runs */
  runningToplevel?: string | null
  /** the flake's evaluated toplevel out path, when it was evaluated (flake-eval, `nbs status --eval`) */
  evaluatedToplevel?: string | null
}

/** What the idioms record: `self.rev` (clean), `self.dirtyRev` (`<rev>-dirty`), `"dirty"` (`self.rev or "dirty"`), `self.shortRev`. */
function recordedRevision(conf: string): { dirty: boolean; rev?: string } {
  if (conf === 'dirty') return { dirty: true }
  const m = /^([0-9a-f]{7,40})(-dirty)?$/.exec(conf)
  if (!m) return { dirty: false, rev: conf }
  return { dirty: m[2] !== undefined, rev: m[1]! }
}

/**
 * The flake against the running system: `equal`, `differs` or `unknown`, with why. An evaluated
 * toplevel equal to the running one wins over everything (a dirty tree is then only a note: the
 * edits do not change the system); a revision equal to HEAD with a dirty tree is equal, noted.
 */
export function compareRevision(o: RevisionInputs): RevisionComparison {
  const { commit } = o
  const notes: string[] = []
  const dirtyNote = !('error' in commit) && commit.dirty ? `${commit.dir} has uncommitted changes (${commit.changes.length} file${commit.changes.length === 1 ? '' : 's'})` : undefined
  if (o.evaluatedToplevel && o.runningToplevel) {
    if (dirtyNote) notes.push(`${dirtyNote}, evaluated with them`)
    return o.evaluatedToplevel === o.runningToplevel
      ? { status: 'equal', reason: 'toplevel-match', message: `the flake evaluates to the running system ${o.runningToplevel}`, notes }
      : { status: 'differs', reason: 'toplevel-differs', message: `the flake evaluates to ${o.evaluatedToplevel}, running ${o.runningToplevel}`, notes }
  }
  const conf = o.configurationRevision
  if (!conf) {
    return {
      status: 'unknown',
      reason: 'unrecorded',
      message: 'the running configuration does not record its git revision: set system.configurationRevision = self.rev or self.dirtyRev or null, or compare by evaluating the flake (nbs status --eval)',
      notes: dirtyNote ? [dirtyNote] : [],
    }
  }
  const recorded = recordedRevision(conf)
  if (recorded.dirty) {
    return {
      status: 'unknown',
      reason: 'dirty-build',
      message: `the running system was built from uncommitted changes (${conf}): compare by evaluating the flake (nbs status --eval)`,
      notes: dirtyNote ? [dirtyNote] : [],
    }
  }
  if ('error' in commit) return { status: 'unknown', reason: 'no-commit', message: commit.error, notes }
  // `self.shortRev` records 7 hex digits: a prefix of HEAD counts
  const match = conf === commit.rev || (/^[0-9a-f]{7,}$/.test(conf) && commit.rev.startsWith(conf))
  if (!match) return { status: 'differs', reason: 'revision-differs', message: `running system built from ${conf}, flake HEAD is ${commit.rev}`, notes }
  if (dirtyNote) notes.push(`${dirtyNote} that the running system was not built with; evaluate to compare them (nbs status --eval)`)
  return { status: 'equal', reason: 'revision-match', message: `running system built from ${commit.shortRev} (HEAD)`, notes }
}
