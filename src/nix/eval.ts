/**
 * Evaluates a host's NixOS toplevel: `nix eval --json --apply` yields both the derivation and its
 * output path in one invocation, and internal-json puts the error position in fields (Nix ≥ 2.4).
 */
import { flakeInstallable, NIX_FLAKE_ARGS } from './flake.js'
import { runNix, unexpected, type NixCallOptions, type NixFailure } from './run.js'

export interface EvalToplevelOptions extends NixCallOptions {
  flake: string
  host: string
}

export type EvalToplevelResult = { ok: true; drvPath: string; outPath?: string } | NixFailure

// Keys other than outPath: Nix prints any attrset with an `outPath` as that string in --json.
const APPLY = 't: { drv = t.drvPath; out = t.outPath; }'

/** Runs `nix eval` on `<flake>#nixosConfigurations.<host>.config.system.build.toplevel`. */
export async function evalToplevel(opts: EvalToplevelOptions): Promise<EvalToplevelResult> {
  const installable = flakeInstallable(opts.flake, opts.host)
  const args = [...NIX_FLAKE_ARGS, 'eval', '--json', '--apply', APPLY, '--log-format', 'internal-json']
  const result = await runNix(opts, [...args, ...(opts.extraArgs ?? []), installable])
  if ('ok' in result) return result
  let value: unknown
  try {
    value = JSON.parse(result.stdout.text)
  } catch {
    return unexpected(result, `nix eval printed no JSON: ${result.stdout.text.slice(0, 200)}`)
  }
  const { drv, out } = (value ?? {}) as { drv?: unknown; out?: unknown }
  if (typeof drv !== 'string' || !drv.endsWith('.drv')) return unexpected(result, 'nix eval printed no drvPath')
  return typeof out === 'string' ? { ok: true, drvPath: drv, outPath: out } : { ok: true, drvPath: drv }
}
