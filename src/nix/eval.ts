/**
 * Evaluates a host's NixOS configuration once: `nix eval --json --apply` yields the toplevel's
 * derivation and output path, the platform it is for and the configured host name in one
 * invocation, and internal-json puts the error position in fields (Nix ≥ 2.4).
 */
import { attrPathElement, NIX_FLAKE_ARGS, parseFlakeRef } from './flake.js'
import { runNix, unexpected, type NixCallOptions, type NixFailure } from './run.js'

export interface EvalToplevelOptions extends NixCallOptions {
  flake: string
  host: string
}

export interface EvaluatedToplevel {
  ok: true
  drvPath: string
  outPath?: string
  /** the platform the toplevel is built for (`x86_64-linux`), when the derivation says */
  system?: string
  /** `networking.hostName`, when the configuration sets one: how nbs knows a host is this machine */
  hostName?: string
}

export type EvalToplevelResult = EvaluatedToplevel | NixFailure

// The host name only when the configuration sets it: NixOS's option default ("nixos", priority
// 1500) would make every unnamed host "this machine" on a runner or installer named nixos.
// `or null`: a configuration without networking or options (a test fixture) still evaluates.
const HOST_NAME = `c: let o = c.options.networking.hostName or null; in
  if o != null && (o.highestPrio or 0) >= 1500 then null else c.config.networking.hostName or null`

// Keys other than outPath: Nix prints any attrset with an `outPath` as that string in --json.
const APPLY = `c: let t = c.config.system.build.toplevel; in {
  drv = t.drvPath; out = t.outPath; system = t.system or null; hostName = (${HOST_NAME}) c;
}`

/** `<flake>#nixosConfigurations.<host>`: the configuration both evaluations apply a function to. */
function configurationInstallable(flake: string, host: string): string {
  if (host === '') throw new Error('host name is empty')
  return `${parseFlakeRef(flake).flake}#nixosConfigurations.${attrPathElement(host)}`
}

/** Runs `nix eval` on `<flake>#nixosConfigurations.<host>` for its toplevel, platform and host name. */
export async function evalToplevel(opts: EvalToplevelOptions): Promise<EvalToplevelResult> {
  const installable = configurationInstallable(opts.flake, opts.host)
  const args = [...NIX_FLAKE_ARGS, 'eval', '--json', '--apply', APPLY, '--log-format', 'internal-json']
  const result = await runNix(opts, [...args, ...(opts.extraArgs ?? []), installable])
  if ('ok' in result) return result
  let value: unknown
  try {
    value = JSON.parse(result.stdout.text)
  } catch {
    return unexpected(result, `nix eval printed no JSON: ${result.stdout.text.slice(0, 200)}`)
  }
  const { drv, out, system, hostName } = (value ?? {}) as Record<string, unknown>
  if (typeof drv !== 'string' || !drv.endsWith('.drv')) return unexpected(result, 'nix eval printed no drvPath')
  return {
    ok: true,
    drvPath: drv,
    ...(typeof out === 'string' ? { outPath: out } : {}),
    ...(typeof system === 'string' && system ? { system } : {}),
    ...(typeof hostName === 'string' && hostName ? { hostName } : {}),
  }
}

/**
 * Only `networking.hostName` of a host: what tells whether it is this machine when no flake-eval
 * runs. Cheaper than the toplevel (no derivation is instantiated). Undefined when unset or on failure.
 */
export async function evalHostName(opts: EvalToplevelOptions): Promise<{ hostName?: string; error?: string }> {
  const args = [...NIX_FLAKE_ARGS, 'eval', '--json', '--apply', HOST_NAME, ...(opts.extraArgs ?? []), configurationInstallable(opts.flake, opts.host)]
  const result = await runNix(opts, args)
  if ('ok' in result) return { error: 'notFound' in result ? 'nix is not on PATH' : (result.errors[0]?.message ?? 'nix eval failed') }
  try {
    const value: unknown = JSON.parse(result.stdout.text)
    return typeof value === 'string' && value ? { hostName: value } : {}
  } catch {
    return { error: 'nix eval printed no JSON' }
  }
}
