/**
 * What a build would do, without building: the "will be built" / "will be fetched" lists Nix
 * prints for a dry run (plain text or internal-json `msg` records, same wording since Nix 2.0).
 */
import { NIX_FLAKE_ARGS } from './flake.js'
import { runNix, type NixCallOptions, type NixFailure } from './run.js'
import { renderNixLog, splitNixLog, stripAnsi } from './internal-json.js'

export interface FetchSizes {
  /** as Nix prints it, e.g. `0.29 MiB` */
  download?: string
  unpacked?: string
}

export interface DryBuildPlan {
  toBuild: string[]
  toFetch: string[]
  fetchSizes?: FetchSizes
  /** `don't know how to build these paths:` (e.g. a .drv missing from the store); Nix exits 0 */
  unknown?: string[]
}

export type DryBuildResult = ({ ok: true } & DryBuildPlan) | NixFailure

export type DryBuildOptions = NixCallOptions & ({ drvPath: string; installable?: never } | { installable: string; drvPath?: never })

/**
 * Dry-builds a derivation or an installable. A `.drv` goes through `nix-store --realise --dry-run`,
 * which means "its outputs" in every Nix version. `nix build` has no such spelling: Nix 2.8 rejects
 * `drv^*` ("is not a valid URL") and `drv!out`, while recent versions want `drv^*` and deprecate
 * the bare `.drv` that 2.8 needs. An installable (a flake attribute) uses `nix build --dry-run`.
 */
export async function dryBuild(opts: DryBuildOptions): Promise<DryBuildResult> {
  const extra = opts.extraArgs ?? []
  const [file, args] =
    opts.drvPath !== undefined
      ? ['nix-store', ['--realise', '--dry-run', '--log-format', 'internal-json', ...extra, opts.drvPath]]
      : ['nix', [...NIX_FLAKE_ARGS, 'build', '--dry-run', '--no-link', '--log-format', 'internal-json', ...extra, opts.installable]]
  const result = await runNix(opts, args, file)
  if ('ok' in result) return result
  const { unknown, ...plan } = parseDryRun(result.stderr.text)
  if (!unknown?.length) return { ok: true, ...plan }
  // a real build of this would fail: report it rather than a plan that cannot be carried out
  const message = `don't know how to build ${unknown.join(', ')}`
  return { ok: false, errors: [{ kind: 'other', message, raw: message }], stderr: renderNixLog(result.stderr.text) }
}

const BUILD_HEADER = /^(?:these (\d+) derivations|this derivation) will be built:$/
const FETCH_HEADER = /^(?:these (\d+) paths|this path) will be fetched(?: \((.+?) download, (.+?) unpacked\))?:$/
const UNKNOWN_HEADER = /^don't know how to build these paths:$/
const ITEM = /^\s+(\/\S+)$/

/** Reads the dry-run lists from stderr (plain, internal-json, or a mix). */
export function parseDryRun(stderr: string): DryBuildPlan {
  const plan: DryBuildPlan = { toBuild: [], toFetch: [] }
  let list: string[] | undefined
  for (const line of messageLines(stderr)) {
    const text = stripAnsi(line).trimEnd()
    const item = list && ITEM.exec(text)
    if (item?.[1]) {
      list?.push(item[1])
      continue
    }
    list = undefined
    const fetch = FETCH_HEADER.exec(text.trimStart())
    if (BUILD_HEADER.test(text.trimStart())) list = plan.toBuild
    else if (UNKNOWN_HEADER.test(text.trimStart())) list = plan.unknown ??= []
    else if (fetch) {
      list = plan.toFetch
      if (fetch[2] || fetch[3]) plan.fetchSizes = { download: fetch[2], unpacked: fetch[3] }
    }
  }
  return plan
}

/** Each message as lines: `msg` records (one line each in practice) and plain stderr lines. */
function* messageLines(stderr: string): Generator<string> {
  for (const chunk of splitNixLog(stderr)) {
    if (chunk.kind === 'text') yield* chunk.text.split('\n')
    else if (chunk.record.action === 'msg' && typeof chunk.record.msg === 'string') yield* chunk.record.msg.split('\n')
  }
}

