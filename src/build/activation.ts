/**
 * Knowing when a build tool is activating, so an interrupt never reaches the activation: from the
 * tool's own lines, from its process tree, and (nixos-rebuild-ng) from the transient systemd unit
 * the activation runs in, outside the tool's tree.
 */
import { existsSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import type { Exec } from '../checks/types.js'
import { descendantsOf } from '../runner/kill-tree.js'
import { procRoot } from '../runner/proc-stat.js'

/** What the record says about an activation that started: finished (ok or not), or still going. */
export type ActivationOutcome = 'completed' | 'failed' | 'running' | 'unknown'

/**
 * Lines printed as activation starts: nh's step lines (`> Activating configuration`, `> Adding
 * configuration to bootloader`), switch-to-configuration's first line (nixos-rebuild shows it),
 * Home Manager's activation script.
 */
export const ACTIVATION_START = /^>+ (?:Activating\b|Adding configuration to bootloader)|^activating the configuration\.\.\.|^Starting Home Manager activation|^switching to the new configuration/

/** The unit nixos-rebuild-ng runs switch-to-configuration in (some builds add a suffix). */
export const ACTIVATION_UNIT = 'nixos-rebuild-switch-to-configuration'

function argv(pid: number): string[] {
  try {
    return readFileSync(`${procRoot()}/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return [] // gone
  }
}

/** Whether process `pid` is an activation (switch-to-configuration, systemd-run, Home Manager's activate). */
export const isActivationProcess = (pid: number): boolean => classify(argv(pid)) === 'activation'

/** What one process of the tool's tree is doing that matters here. */
export function classify(args: readonly string[]): 'activation' | 'elevation' | undefined {
  const base = args.map((a) => posix.basename(a))
  if (base[0] === 'systemd-run') return 'activation'
  // env, sudo and sh put it in a later argument: `sudo env X=1 …/bin/switch-to-configuration test`
  if (base.slice(0, 8).includes('switch-to-configuration')) return 'activation'
  if (args.slice(0, 4).some((a) => /home-manager[^/]*\/activate$/.test(a))) return 'activation'
  if (['sudo', 'doas', 'run0', 'pkexec'].includes(base[0] ?? '')) return 'elevation'
  return undefined
}

/** The most telling thing any descendant of `pid` is doing: activating, asking for a password, neither. */
export function scanTree(pid: number): 'activation' | 'elevation' | undefined {
  let found: 'elevation' | undefined
  for (const p of [pid, ...descendantsOf(pid)]) {
    const c = classify(argv(p))
    if (c === 'activation') return c
    if (c) found = c
  }
  return found
}

/** systemd runs as PID 1 here (sd_booted's test): only then can a transient unit exist. */
export function systemdBooted(root = '/'): boolean {
  return existsSync(posix.join(root, 'run/systemd/system'))
}

const ACTIVE = new Set(['active', 'activating', 'deactivating', 'reloading', 'refreshing'])

/** The activation units loaded now, with their ActiveState. */
async function activationUnits(exec: Exec): Promise<Map<string, string>> {
  const r = await exec('systemctl', ['list-units', '--all', '--plain', '--no-legend', '--full', `${ACTIVATION_UNIT}*`])
  const units = new Map<string, string>()
  if (r.exitCode !== 0) return units
  for (const line of r.stdout.text.split('\n')) {
    const [name, , active] = line.trim().split(/\s+/)
    if (name?.startsWith(ACTIVATION_UNIT)) units.set(name, active ?? 'unknown')
  }
  return units
}

/**
 * How a finished (and, with --collect, unloaded) unit ended, from systemd's own journal lines since
 * `since`, to the millisecond: a unit that ended earlier in the same second is another build's.
 */
async function journalResult(exec: Exec, unit: string, since: Date): Promise<ActivationOutcome> {
  const r = await exec('journalctl', ['--no-pager', '-q', '-o', 'cat', '-u', unit, '--since', `@${(since.getTime() / 1000).toFixed(3)}`])
  if (r.exitCode !== 0) return 'unknown'
  const text = r.stdout.text
  const last = Math.max(text.lastIndexOf('Deactivated successfully'), text.lastIndexOf('Succeeded.'))
  const failed = Math.max(text.lastIndexOf('Failed with result'), text.lastIndexOf('Main process exited, code=exited, status=4'))
  if (last < 0 && failed < 0) return 'unknown'
  return failed > last ? 'failed' : 'completed'
}

export interface UnitWait {
  unit: string
  outcome: ActivationOutcome
}

/**
 * Waits for nixos-rebuild-ng's activation unit, which outlives an interrupted nixos-rebuild, to
 * finish; undefined when no such unit ran since `since` (no systemd, or the tool never got there).
 * `onWaiting` is called once when there is something to wait for.
 */
export async function waitForActivationUnit(
  exec: Exec,
  o: { since: Date; pollMs?: number; root?: string; onWaiting?: (unit: string) => void },
): Promise<UnitWait | undefined> {
  if (!systemdBooted(o.root)) return undefined
  const units = await activationUnits(exec)
  const running = [...units].find(([, state]) => ACTIVE.has(state))?.[0]
  if (!running) {
    // finished already (collected): the journal still says how, if it ran during this build
    const outcome = await journalResult(exec, ACTIVATION_UNIT, o.since)
    return outcome === 'unknown' ? undefined : { unit: `${ACTIVATION_UNIT}.service`, outcome }
  }
  o.onWaiting?.(running)
  for (;;) {
    await new Promise((r) => setTimeout(r, o.pollMs ?? 250))
    const now = await activationUnits(exec)
    const state = now.get(running)
    if (state === undefined || !ACTIVE.has(state)) {
      if (state === 'failed') return { unit: running, outcome: 'failed' }
      const outcome = await journalResult(exec, running, o.since)
      return { unit: running, outcome: outcome === 'unknown' && state === 'inactive' ? 'completed' : outcome }
    }
  }
}
