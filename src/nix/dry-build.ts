/**
 * What a build would do, without building: the "will be built" / "will be fetched" lists Nix
 * prints for a dry run (plain text or internal-json `msg` records, same wording since Nix 2.0).
 * Counts are Nix's own, from its headers; only a bounded sample of the paths is kept, so a system
 * with 12,000 paths to fetch costs no more memory than one with 12.
 */
import { BuildLogParser } from './build-log.js'
import { NIX_FLAKE_ARGS } from './flake.js'
import { runNixParsed, type NixCallOptions, type NixFailure } from './run.js'
import { splitNixLog, stripAnsi } from './internal-json.js'

export interface FetchSizes {
  /** as Nix prints it, e.g. `0.29 MiB` (2.8) or `301.2 KiB` (later versions) */
  download?: string
  unpacked?: string
}

/** One of Nix's lists: its count, and the first paths of it. */
export interface PathList {
  /** how many Nix said (`these 12 derivations will be built`), never fewer than it listed */
  count: number
  /** the first paths listed, at most the sample size; `count - paths.length` were left out */
  paths: string[]
}

export interface DryBuildPlan {
  toBuild: PathList
  toFetch: PathList
  fetchSizes?: FetchSizes
  /** `don't know how to build these paths:` (e.g. a .drv missing from the store); Nix exits 0 */
  unknown?: PathList
}

export type DryBuildResult = ({ ok: true } & DryBuildPlan) | NixFailure

export type DryBuildOptions = NixCallOptions & { /** paths kept per list (default 100) */ sample?: number } & (
    | { drvPath: string; installable?: never }
    | { installable: string; drvPath?: never }
  )

export const DRY_RUN_SAMPLE = 100

/**
 * Dry-builds a derivation or an installable. A `.drv` goes through `nix-store --realise --dry-run`,
 * which means "its outputs" in every Nix version. `nix build` has no such spelling: Nix 2.8 rejects
 * `drv^*` ("is not a valid URL") and `drv!out`, while recent versions want `drv^*` and deprecate
 * the bare `.drv` that 2.8 needs. An installable (a flake attribute) uses `nix build --dry-run`.
 * Stderr is read as it streams: the bounded capture would drop the middle of a long list.
 */
export async function dryBuild(opts: DryBuildOptions): Promise<DryBuildResult> {
  const extra = opts.extraArgs ?? []
  const [file, args] =
    opts.drvPath !== undefined
      ? ['nix-store', ['--realise', '--dry-run', '--log-format', 'internal-json', ...extra, opts.drvPath]]
      : ['nix', [...NIX_FLAKE_ARGS, 'build', '--dry-run', '--no-link', '--log-format', 'internal-json', ...extra, opts.installable]]
  const reader = new DryRunReader(opts.sample)
  const parser = new BuildLogParser({
    tailLines: 0,
    onEvent: (e) => e.type === 'message' && reader.message(e.text),
    onPlain: (line) => reader.line(line),
  })
  const result = await runNixParsed(opts, args, file, parser)
  if ('ok' in result) return result
  const { unknown, ...plan } = reader.plan()
  if (!unknown) return { ok: true, ...plan }
  // a real build of this would fail: report it rather than a plan that cannot be carried out
  const message = `don't know how to build ${listText(unknown)}`
  return { ok: false, errors: [{ kind: 'other', message, raw: message }], stderr: message }
}

/** `a, b and 3 more` */
export function listText(list: PathList): string {
  const more = list.count - list.paths.length
  return `${list.paths.join(', ')}${more > 0 ? ` and ${more} more` : ''}`
}

const BUILD_HEADER = /^(?:these (\d+) derivations|this derivation) will be built:$/
const FETCH_HEADER = /^(?:these (\d+) paths|this path) will be fetched(?: \((.+?) download, (.+?) unpacked\))?:$/
const UNKNOWN_HEADER = /^don't know how to build these paths:$/
const ITEM = /^\s+(\/\S+)$/

interface OpenList {
  /** the sum of the headers' counts */
  said: number
  listed: number
  paths: string[]
}

/** Reads the dry-run lists one line at a time (message texts and plain stderr lines alike). */
export class DryRunReader {
  private readonly lists = { toBuild: open(), toFetch: open(), unknown: open() }
  private current: OpenList | undefined
  private sizes: FetchSizes | undefined
  private sawUnknown = false

  constructor(private readonly sample = DRY_RUN_SAMPLE) {}

  /** A message (one record's text); Nix writes one line per record, but a record may hold several. */
  message(text: string): void {
    for (const line of text.split('\n')) this.line(line)
  }

  line(raw: string): void {
    const text = stripAnsi(raw).trimEnd()
    const item = this.current && ITEM.exec(text)
    if (item?.[1]) {
      const list = this.current!
      list.listed++
      if (list.paths.length < this.sample) list.paths.push(item[1])
      return
    }
    this.current = undefined
    const head = text.trimStart()
    let m: RegExpExecArray | null
    if ((m = BUILD_HEADER.exec(head))) this.start(this.lists.toBuild, m[1])
    else if ((m = FETCH_HEADER.exec(head))) {
      this.start(this.lists.toFetch, m[1])
      if (m[2] || m[3]) this.sizes = { download: m[2], unpacked: m[3] }
    } else if (UNKNOWN_HEADER.test(head)) {
      this.sawUnknown = true
      this.start(this.lists.unknown, undefined, 0)
    }
  }

  plan(): DryBuildPlan {
    const done = (l: OpenList): PathList => ({ count: Math.max(l.said, l.listed), paths: [...l.paths] })
    return {
      toBuild: done(this.lists.toBuild),
      toFetch: done(this.lists.toFetch),
      ...(this.sizes ? { fetchSizes: this.sizes } : {}),
      ...(this.sawUnknown ? { unknown: done(this.lists.unknown) } : {}),
    }
  }

  /** A header opens its list; `count` is Nix's number, or 1 for the singular wording. */
  private start(list: OpenList, count: string | undefined, singular = 1): void {
    list.said += count === undefined ? singular : Number(count)
    this.current = list
  }
}

function open(): OpenList {
  return { said: 0, listed: 0, paths: [] }
}

/** Reads the dry-run lists from a captured stderr (plain, internal-json, or a mix). */
export function parseDryRun(stderr: string, sample = DRY_RUN_SAMPLE): DryBuildPlan {
  const reader = new DryRunReader(sample)
  for (const chunk of splitNixLog(stderr)) {
    if (chunk.kind === 'text') for (const line of chunk.text.split('\n')) reader.line(line)
    else if (chunk.record.action === 'msg' && typeof chunk.record.msg === 'string') reader.message(chunk.record.msg)
  }
  return reader.plan()
}
