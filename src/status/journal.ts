import { parseDuration } from '../checks/duration.js'
import type { Machine } from '../machine/types.js'
import { hiddenReason, journalAccess, journalHidden, JournalUnavailableError, whoReads } from './journal-access.js'
import { commandError, journalText, streamJournal } from './systemd.js'

export interface JournalErrorsOptions {
  /** the machine whose journal is read: live (its journal) or an offline root (`ROOT/var/log/journal`) */
  machine: Machine
  /** a `journalAccess(machine)` answer already obtained (saves its probes); asked for when absent */
  access?: { ok: true; source: string[] }
  /**
   * `boot` (the current boot; offline, the last boot in the files), `activation` (since
   * `/run/current-system` was last linked) or a window like `1h`, `30m`
   */
  since?: 'boot' | 'activation' | (string & {})
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
  /** the window read: `boot`, `activation` or a duration like `1h` */
  since: string
  /** with `since: 'activation'`: when `/run/current-system` was last linked (ISO 8601) */
  activatedAt?: string
  /** the most frequent (unit, message) pairs, most frequent first */
  top: JournalMessageGroup[]
  /** counted entries per unit, most first */
  units: { unit: string; count: number }[]
}

/** Distinct (unit, message) pairs tracked; beyond this, entries count but only under their unit. */
const MAX_GROUPS = 2000
/** Messages are grouped on this many characters, so a huge message costs no more than that. */
const MAX_MESSAGE = 300

/** journalctl's answer when `-b` names a boot its files do not have. */
const NO_BOOT = /No such boot ID in journal|is not available: No such boot/

/**
 * Journal entries at priority err (3) or worse in a window, kernel messages included (I/O errors
 * and OOM kills matter), grouped by unit and message, with one `journalctl -o json -p err` call
 * whose output is parsed as it streams: memory is bounded by the number of distinct messages
 * (capped), not by the number of entries. Throws `JournalUnavailableError` when this journal cannot
 * be read here (see `journalAccess`), and an Error when journalctl fails otherwise.
 */
export async function checkJournalErrors(opts: JournalErrorsOptions): Promise<JournalErrorsResult> {
  const { machine } = opts
  const since = opts.since ?? 'boot'
  const maxErrors = opts.maxErrors ?? 0
  const ignore = (opts.ignore ?? []).map((s) => new RegExp(s))
  const access = opts.access ?? (await journalAccess(machine))
  if (!access.ok) throw new JournalUnavailableError(access.reason)
  const activated = since === 'activation' ? await activationTime(machine) : undefined
  const args = ['-o', 'json', '-p', 'err', '--no-pager', ...access.source, ...windowArgs(since, activated)]
  args.push('--output-fields=MESSAGE,PRIORITY,UNIT,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_COMM')

  let count = 0
  let ignored = 0
  const groups = new Map<string, JournalMessageGroup>()
  const perUnit = new Map<string, number>()
  const r = await streamJournal(machine.exec, args, (e) => {
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
  // refused between the access probe and this query (or no probe was made): not an answer of 0
  if (journalHidden(r.stderr.text)) throw new JournalUnavailableError(hiddenReason((await whoReads(machine)).name))
  // a persistent journal that holds no boot yet (an image never booted, a wiped /var/log/journal)
  if (r.exitCode !== 0 && NO_BOOT.test(r.stderr.text)) throw new JournalUnavailableError(`the journal on ${machine.description} holds no record of that boot`)
  if (r.exitCode !== 0) throw commandError('journalctl', r)

  const top = [...groups.values()].sort((a, b) => b.count - a.count).slice(0, opts.top ?? 5)
  const units = [...perUnit].map(([unit, n]) => ({ unit, count: n })).sort((a, b) => b.count - a.count)
  const when = activated === undefined ? {} : { activatedAt: new Date(activated).toISOString() }
  return { count, ignored, maxErrors, ok: count <= maxErrors, since, ...when, top, units }
}

/**
 * When the running configuration was activated: activation relinks `/run/current-system`
 * (`ln -sfn`), so the link's own mtime (lstat, not its store target's, which is 1970) is that
 * moment. Throws `JournalUnavailableError` where there is no such link (not NixOS, an image without /run).
 */
export async function activationTime(machine: Machine): Promise<number> {
  const link = await machine.stat('/run/current-system', { follow: false })
  if (link?.type !== 'symlink') {
    throw new JournalUnavailableError(`no /run/current-system link on ${machine.description}: the activation time is unknown, so "since: activation" cannot apply`)
  }
  return link.mtimeMs
}

/**
 * `-b`, `--since=@EPOCH` for an activation time (ms), or `--since=-Ns`: relative times are
 * resolved by journalctl on the machine that runs it. With `-D`, journalctl's `-b` means the
 * newest boot in those files, not this machine's boot.
 */
export function windowArgs(since: string, activatedAtMs?: number): string[] {
  if (since === 'boot') return ['-b']
  if (since === 'activation') {
    if (activatedAtMs === undefined) throw new Error('journal window "activation" needs the activation time')
    // microseconds, as journalctl's timestamps: an entry in the same second but before it stays out
    return [`--since=@${(activatedAtMs / 1000).toFixed(6)}`]
  }
  const ms = parseDuration(since)
  if (ms === undefined || ms <= 0) throw new Error(`journal window "${since}" is neither "boot", "activation" nor a duration like "1h"`)
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
  const window = describeWindow(r.since)
  const head = `${r.count} journal error${r.count === 1 ? '' : 's'} ${window} (max ${r.maxErrors})`
  if (r.top.length === 0) return head
  return `${head}: ${r.top.map((g) => `${g.unit}: ${g.message}${g.count > 1 ? ` (×${g.count})` : ''}`).join('; ')}`
}

/** `since boot`, `since activation`, `in the last 1h`: the window in words. */
export function describeWindow(since: string): string {
  return since === 'boot' || since === 'activation' ? `since ${since}` : `in the last ${since}`
}
