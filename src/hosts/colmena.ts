/**
 * colmena's hive as inventory layers. `deployment.*` are NixOS options: their values exist only
 * once colmena has evaluated each node with nixpkgs. So nbs asks, in this order:
 *  1. `colmena eval -E …` when colmena is installed (what colmena itself would use);
 *  2. `nix eval <flake>#colmenaHive --apply …` when the flake exports colmena.lib.makeHive's
 *     evaluated hive, which brings its own evaluator (`deploymentConfig`);
 *  3. the raw `outputs.colmena` as written (inventory-nix.ts), where values are literals, with
 *     colmena's option defaults applied where nothing sets an option.
 * Both evaluations cost what `colmena eval` costs: every node's NixOS configuration.
 */
import type { Exec, ExecOptions } from '../checks/types.js'
import { localFlakeDir, NIX_FLAKE_ARGS, nixOptionArgs, parseFlakeRef } from '../nix/flake.js'
import { renderNixLog } from '../nix/internal-json.js'
import { runNix } from '../nix/run.js'
import { COLMENA_EVAL_EXPR, COLMENA_FIELDS, COLMENA_HIVE_APPLY, type ColmenaField, type LiteralColmenaNode, type LiteralDefinition } from './inventory-nix.js'
import type { HostLayer } from './types.js'
import { isRecord } from '../util/object.js'

/** `config.deployment` of one node, as colmena evaluates it (the fields nbs reads). */
export interface ColmenaDeployment {
  targetHost: string | null
  targetUser: string | null
  targetPort: number | null
  tags: string[]
  sshOptions: string[]
  privilegeEscalationCommand: string[]
}

/** colmena's defaults (src/nix/hive/options.nix): what a node that sets nothing deploys with. */
export function colmenaDefaults(name: string): ColmenaDeployment {
  return { targetHost: name, targetUser: 'root', targetPort: null, tags: [], sshOptions: [], privilegeEscalationCommand: ['sudo', '-H', '--'] }
}

/**
 * One node's layer. Like colmena's ssh host: the privilege escalation command applies unless the
 * user is root; a null targetHost means "local deployment only", so only the tags are kept.
 */
export function colmenaLayer(d: ColmenaDeployment): HostLayer {
  const layer: HostLayer = {}
  if (d.tags.length) layer.tags = d.tags
  if (d.targetHost === null) return layer
  layer.targetHost = d.targetHost
  if (d.targetUser !== null) layer.user = d.targetUser
  if (d.targetPort !== null) layer.port = d.targetPort
  if (d.sshOptions.length) layer.sshOptions = d.sshOptions
  if (d.targetUser !== 'root' && d.privilegeEscalationCommand.length) layer.privilege = d.privilegeEscalationCommand
  return layer
}

/** Evaluated deployments (colmena eval, colmenaHive) → layers; malformed entries become notes. */
export function evaluatedColmenaLayers(value: unknown, label: string, notes: string[]): Map<string, HostLayer> | undefined {
  if (!isRecord(value)) {
    notes.push(`${label}: printed ${Array.isArray(value) ? 'a list' : typeof value}, not the nodes' deployments`)
    return undefined
  }
  const hosts = new Map<string, HostLayer>()
  for (const [name, d] of Object.entries(value)) {
    const parsed = parseDeployment(name, d)
    if (typeof parsed === 'string') notes.push(`${label}: ${name}: ${parsed}; left out`)
    else hosts.set(name, colmenaLayer(parsed))
  }
  return hosts
}

function parseDeployment(name: string, d: unknown): ColmenaDeployment | string {
  if (!isRecord(d)) return 'deployment is not an attribute set'
  const out = colmenaDefaults(name)
  for (const field of COLMENA_FIELDS) {
    const why = setField(out, field, d[field])
    if (why) return why
  }
  return out
}

/** Sets one field when its value has colmena's type; else says why not. */
function setField(out: ColmenaDeployment, field: ColmenaField, value: unknown): string | undefined {
  switch (field) {
    case 'targetHost':
    case 'targetUser':
      if (value !== null && typeof value !== 'string') return `deployment.${field} is not a string`
      out[field] = value
      return
    case 'targetPort':
      if (value !== null && !(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535)) return 'deployment.targetPort is not a port (1-65535)'
      out.targetPort = value as number | null
      return
    default:
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return `deployment.${field} is not a list of strings`
      out[field] = value
  }
}

/**
 * The literal reading of `outputs.colmena`: per option, the definitions of the lowest priority
 * number win (mkDefault 1000 < plain 100 < mkForce 50), lists concatenated as listOf does;
 * options nothing defines take colmena's defaults. Options nbs could not read stay unset, and a
 * note names them.
 */
export function literalColmenaLayers(nodes: Record<string, LiteralColmenaNode>, notes: string[]): Map<string, HostLayer> {
  const hosts = new Map<string, HostLayer>()
  for (const [name, node] of Object.entries(nodes)) {
    const d = colmenaDefaults(name)
    const unread: string[] = []
    for (const field of COLMENA_FIELDS) {
      const value = winning(node.defs[field] ?? [], field === 'tags' || field === 'sshOptions' || field === 'privilegeEscalationCommand')
      // a module nbs could not read may set what the others leave out: no default then, no guess
      if (value === UNREAD || (value === NONE && node.unreadModules > 0)) unread.push(`deployment.${field}`)
      else if (value !== NONE) setField(d, field, value)
    }
    const layer = colmenaLayer(d)
    // an option nbs could not read: no value (neither the default nor another source's guess wins by accident)
    if (unread.includes('deployment.targetHost')) delete layer.targetHost
    if (unread.includes('deployment.targetUser')) delete layer.user
    if (unread.includes('deployment.targetPort')) delete layer.port
    if (unread.includes('deployment.tags')) delete layer.tags
    if (unread.includes('deployment.sshOptions')) delete layer.sshOptions
    if (unread.includes('deployment.privilegeEscalationCommand') || unread.includes('deployment.targetUser')) delete layer.privilege
    const missing = node.unreadModules
      ? [`${node.unreadModules} module${node.unreadModules > 1 ? 's' : ''} could not be read (a function nbs cannot call without colmena, or an import)${unread.length ? `, so these are unknown: ${unread.join(', ')}` : ''}`]
      : unread.length ? [`${unread.join(', ')} ${unread.length > 1 ? 'are' : 'is'} not a literal`] : []
    if (missing.length) notes.push(`colmena hive (literal): ${name}: ${missing.join('; ')}; install colmena (or export colmenaHive) for the evaluated values, or set them in the config's hosts`)
    hosts.set(name, layer)
  }
  return hosts
}

const UNREAD = Symbol('unread')
const NONE = Symbol('none')

function winning(defs: LiteralDefinition[], list: boolean): unknown {
  if (!defs.length) return NONE
  if (defs.some((d) => 'unread' in d)) return UNREAD
  const read = defs as { prio: number; value: unknown }[]
  const prio = Math.min(...read.map((d) => d.prio))
  const best = read.filter((d) => d.prio === prio).map((d) => d.value)
  if (!list) return best.at(-1)
  return best.every(Array.isArray) ? best.flat() : UNREAD
}

export interface ColmenaCallOptions {
  flake: string
  exec: Exec
  signal?: AbortSignal
  nixOptions?: Record<string, string>
  cwd?: string
}

export type ColmenaCallResult = { ok: true; value: unknown } | { ok: false; notFound?: true; error: string }

/**
 * `colmena eval` on the flake. colmena takes `-f` as a flake.nix path or a flake URI (a plain
 * directory would be read as a legacy hive.nix), prints the expression's JSON on stdout and its
 * logs on stderr.
 */
export async function runColmenaEval(opts: ColmenaCallOptions): Promise<ColmenaCallResult> {
  const args = ['eval', '--config', colmenaConfigArg(opts.flake, opts.cwd), ...Object.entries(opts.nixOptions ?? {}).flatMap(([k, v]) => ['--nix-option', k, v]), '-E', COLMENA_EVAL_EXPR]
  const execOpts: ExecOptions & { signal?: AbortSignal } = opts.signal ? { signal: opts.signal } : {}
  const result = await opts.exec('colmena', args, execOpts)
  if (result.notFound) return { ok: false, notFound: true, error: 'colmena is not on PATH' }
  if (result.exitCode !== 0 || result.error) {
    const last = lastLine(result.stderr.text) ?? result.error ?? `exit code ${result.exitCode ?? result.signal}`
    return { ok: false, error: `colmena eval failed: ${last}` }
  }
  return parseJson(result.stdout.text, 'colmena eval')
}

/** The `--config` value colmena reads as a flake: `<dir>/flake.nix` for a plain path, else the URI. */
export function colmenaConfigArg(flake: string, cwd?: string): string {
  const ref = parseFlakeRef(flake).flake
  const local = localFlakeDir(ref, cwd)
  if (!('error' in local) && !/^[a-z][a-z0-9+.-]*:/i.test(ref) && !ref.includes('?')) return `${local.dir}/flake.nix`
  return ref
}

/** `nix eval --json <flake>#colmenaHive --apply …`: the evaluated hive's `deploymentConfig`. */
export async function evalColmenaHive(opts: ColmenaCallOptions): Promise<ColmenaCallResult> {
  const args = [...NIX_FLAKE_ARGS, 'eval', '--json', ...nixOptionArgs(opts.nixOptions), '--apply', COLMENA_HIVE_APPLY, `${parseFlakeRef(opts.flake).flake}#colmenaHive`]
  const result = await runNix({ exec: opts.exec, ...(opts.signal ? { signal: opts.signal } : {}) }, args)
  if ('ok' in result) return { ok: false, ...('notFound' in result ? { notFound: true as const, error: 'nix is not on PATH' } : { error: `nix eval of colmenaHive failed: ${result.errors[0]?.message ?? 'no error message'}` }) }
  return parseJson(result.stdout.text, 'colmenaHive')
}

function parseJson(text: string, label: string): ColmenaCallResult {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false, error: `${label} printed no JSON: ${text.slice(0, 200)}` }
  }
}

function lastLine(stderr: string): string | undefined {
  return renderNixLog(stderr).trim().split('\n').filter(Boolean).at(-1)
}

