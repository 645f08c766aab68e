/**
 * `nixos-version --json` of a system: NixOS version, nixpkgs revision and the configuration's git
 * revision. The script is absent with `system.disableInstallerTools` (or
 * `system.tools.nixos-version.enable = false`); the toplevel's `nixos-version` file is the
 * system label, which is not the version (`system.nixos.label` can be anything).
 */
import { posix } from 'node:path'
import { machineOf, type MachineTarget } from '../machine/target.js'
import { CURRENT_SYSTEM } from './paths.js'

export interface NixosVersionInfo {
  nixosVersion?: string
  nixpkgsRevision?: string
  /** absent when the configuration does not set `system.configurationRevision` (NixOS's default) */
  configurationRevision?: string
  codeName?: string
  /** the toplevel's `nixos-version` file: `system.nixos.label`, not the version */
  label?: string
  /** `exec`: ran the script; `files`: read the values baked into it; `label`: only the label file; `none` */
  source: 'exec' | 'files' | 'label' | 'none'
  reason?: string
}

/**
 * Reads a system's version (default the running one). On a live machine it runs the system's own
 * `sw/bin/nixos-version --json`; on an offline root (a mounted image whose programs must not run)
 * it reads the values the script has baked into its text.
 */
export async function readNixosVersion(opts: MachineTarget & { system?: string } = {}): Promise<NixosVersionInfo> {
  const machine = machineOf(opts)
  const system = opts.system ?? CURRENT_SYSTEM
  const top = await machine.realPath(system)
  if (top === null) return { source: 'none', reason: `${system} does not exist on ${machine.description}` }
  const [labelText, script] = await Promise.all([
    machine.readFile(posix.join(top, 'nixos-version')).catch(() => null),
    machine.realPath(posix.join(top, 'sw/bin/nixos-version')),
  ])
  const label = labelText?.trim() || undefined
  const withLabel = <T extends object>(o: T) => (label === undefined ? o : { ...o, label })
  if (script === null) {
    return withLabel({ source: label === undefined ? ('none' as const) : ('label' as const), reason: `${top} has no sw/bin/nixos-version (system.disableInstallerTools?)` })
  }
  if (machine.live) {
    const r = await machine.exec(script, ['--json']).catch(() => null)
    const json = r?.exitCode === 0 ? pickVersionJson(r.stdout.text) : undefined
    if (json) return withLabel({ ...json, source: 'exec' as const })
  }
  const text = await machine.readFile(script).catch(() => null)
  if (text === null) return withLabel({ source: label === undefined ? ('none' as const) : ('label' as const), reason: `${script} cannot be read` })
  return withLabel({ ...parseNixosVersionScript(text), source: 'files' as const })
}

type VersionFields = Omit<NixosVersionInfo, 'source' | 'reason' | 'label'>

/** The first `{...}` holding a string `nixosVersion` in `text` (the `--json` output, or the heredoc in the script). */
function pickVersionJson(text: string): VersionFields | undefined {
  for (const m of text.matchAll(/\{.*\}/g)) {
    try {
      const o = JSON.parse(m[0]) as Record<string, unknown>
      if (typeof o.nixosVersion !== 'string') continue
      const out: VersionFields = { nixosVersion: o.nixosVersion }
      if (typeof o.nixpkgsRevision === 'string') out.nixpkgsRevision = o.nixpkgsRevision
      if (typeof o.configurationRevision === 'string' && o.configurationRevision) out.configurationRevision = o.configurationRevision
      return out
    } catch {
      // an unsubstituted @json@, or a brace that is shell code
    }
  }
  return undefined
}

/**
 * Values from the text of nixpkgs' nixos-version script, where `@json@`, `@revision@`,
 * `@configurationRevision@`, `@version@` and `@codeName@` were substituted at build time. Prefers the
 * `--json` heredoc; older scripts without it give their values in each case branch's `echo`. A
 * placeholder left unsubstituted (`@configurationRevision@` when unset) means "unknown".
 */
export function parseNixosVersionScript(text: string): VersionFields {
  const out: VersionFields = { ...pickVersionJson(text) }
  const rev = branchEcho(text, '--hash|--revision)')
  if (!out.nixpkgsRevision && rev && /^[0-9a-f]{7,64}$/.test(rev)) out.nixpkgsRevision = rev
  const conf = branchEcho(text, '--configuration-revision)')
  if (!out.configurationRevision && conf && !conf.includes('@')) out.configurationRevision = conf
  const dflt = /^\s*echo\s+"([^"@$]+) \(([^"@$)]*)\)"\s*$/m.exec(text.slice(text.lastIndexOf('*)')))
  if (dflt) {
    out.nixosVersion ??= dflt[1]
    out.codeName = dflt[2]
  }
  return out
}

/** The last plain `echo "value"` (not to stderr, no shell variables) in the case branch labelled `label`. */
function branchEcho(text: string, label: string): string | undefined {
  const start = text.indexOf(label)
  if (start < 0) return undefined
  const end = text.indexOf(';;', start)
  const body = text.slice(start + label.length, end < 0 ? undefined : end)
  const values = [...body.matchAll(/^\s*echo\s+"([^"$]*)"\s*$/gm)].map((m) => m[1]!)
  return values.at(-1) || undefined
}
