import type { Exec } from '../checks/types.js'
import { parseDuration } from '../checks/duration.js'
import { commandError, journalSource, journalText, streamJournal } from './systemd.js'

export interface JournalErrorsOptions {
  exec: Exec
  /** `/` reads the live journal; another root reads `ROOT/var/log/journal` (offline or mounted) */
  root?: string
  /** `boot` (the current boot; with a root, the last boot in its files) or a window like `1h`, `30m` */
  since?: 'boot' | string
  /** the most errors that still pass (default 0) */
  maxErrors?: number
  /** JavaScript regular expressions; an entry whose message matches any is not counted */
  ignore?: readonly string[]
  /** how many message groups to return in `top` (default 5) */
  top?: number
}

export interface JournalMessageGroup {
  unit: string
  message: string
  count: number
}

export interface JournalErrorsResult {
  /** entries at priority err or worse, not ignored */
  count: number
  ignored: number
  maxErrors: number
  /** count ≤ maxErrors */
  ok: boolean
  /** the window read, e.g. `boot` or `1h` */
  since: string
  /** the most frequent (unit, message) pairs, most frequent first */
  top: JournalMessageGroup[]
  /** counted entries per unit, most first */
  units: { unit: string; count: number }[]
}

/** Distinct (unit, message) pairs tracked; beyond this, entries count but only under their unit. */
const MAX_GROUPS = 2000
/** Messages are grouped on this many characters, so a huge message costs no more than that. */
const MAX_MESSAGE = 300

/**
 * Journal entries at priority err (3) or worse in a window, grouped by unit and message, with one
 * `journalctl -o json -p err` call whose output is parsed as it streams: memory is bounded by
 * the number of distinct messages (capped), not by the number of entries. Throws when journalctl fails.
 */
export async function checkJournalErrors(opts: JournalErrorsOptions): Promise<JournalErrorsResult> {
  const since = opts.since ?? 'boot'
  const maxErrors = opts.maxErrors ?? 0
  const ignore = (opts.ignore ?? []).map((s) => new RegExp(s))
  const args = ['-o', 'json', '-p', 'err', '--no-pager', ...journalSource(opts.root), ...windowArgs(since)]
  args.push('--output-fields=MESSAGE,PRIORITY,UNIT,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_COMM')

  let count = 0
  let ignored = 0
  const groups = new Map<string, JournalMessageGroup>()
  const perUnit = new Map<string, number>()
  const r = await streamJournal(opts.exec, args, (e) => {
    const priority = Number(journalText(e.PRIORITY) ?? 6)
    if (!(priority <= 3)) return // -p err already filters; this guards an exec that does not
    const message = (journalText(e.MESSAGE) ?? '').trimEnd()
    if (ignore.some((re) => re.test(message))) return void ignored++
    count++
    const unit = entryUnit(e)
    perUnit.set(unit, (perUnit.get(unit) ?? 0) + 1)
    const shown = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message
    const key = `${unit}\u0000${shown}`
    const g = groups.get(key)
    if (g) g.count++
    else if (groups.size < MAX_GROUPS) groups.set(key, { unit, message: shown, count: 1 })
  })
  if (r.exitCode !== 0) throw commandError('journalctl', r)

  const top = [...groups.values()].sort((a, b) => b.count - a.count).slice(0, opts.top ?? 5)
  const units = [...perUnit].map(([unit, n]) => ({ unit, count: n })).sort((a, b) => b.count - a.count)
  return { count, ignored, maxErrors, ok: count <= maxErrors, since, top, units }
}

/**
 * `-b`, or `--since=-Ns`: relative times are resolved by journalctl on the machine that runs it.
 * With `-D`, journalctl's `-b` means the newest boot in those files, not this machine's boot.
 */
export function windowArgs(since: string): string[] {
  if (since === 'boot') return ['-b']
  const ms = parseDuration(since)
  if (ms === undefined || ms <= 0) throw new Error(`journal window "${since}" is neither "boot" nor a duration like "1h"`)
  return [`--since=-${Math.ceil(ms / 1000)}s`]
}

/**
 * The unit an entry is about: `UNIT` first (systemd's "Failed to start x.service" is logged by
 * init.scope with UNIT=x.service), then the unit that logged it, then the program.
 */
function entryUnit(e: Record<string, unknown>): string {
  return journalText(e.UNIT) ?? journalText(e._SYSTEMD_UNIT) ?? journalText(e.SYSLOG_IDENTIFIER) ?? journalText(e._COMM) ?? 'unknown'
}

/** One line for a check's message: the count and the top messages by unit. */
export function describeJournalErrors(r: JournalErrorsResult): string {
  const window = r.since === 'boot' ? 'since boot' : `in the last ${r.since}`
  const head = `${r.count} journal error${r.count === 1 ? '' : 's'} ${window} (max ${r.maxErrors})`
  if (r.top.length === 0) return head
  return `${head}: ${r.top.map((g) => `${g.unit}: ${g.message}${g.count > 1 ? ` (×${g.count})` : ''}`).join('; ')}`
}
