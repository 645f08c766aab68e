import { existsSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'

/**
 * Flake references and the NixOS toplevel attribute. Installables are passed to Nix as one argv
 * element (never through a shell), so only Nix's own attribute-path syntax needs care here.
 */

/** A Nix attribute name that can appear unquoted in an attribute path. */
const PLAIN_ATTR = /^[A-Za-z_][A-Za-z0-9_'-]*$/

/**
 * One attribute-path element. Nix splits installable attribute paths on `.` outside double quotes
 * (and has no escapes inside them), so a host like `web.example` must be written `"web.example"`.
 */
export function attrPathElement(name: string): string {
  if (PLAIN_ATTR.test(name)) return name
  if (name.includes('"')) throw new Error(`attribute name cannot contain a double quote: ${name}`)
  return `"${name}"`
}

/** `nixosConfigurations.<host>.config.system.build.toplevel`, the host quoted when needed. */
export function toplevelAttr(host: string): string {
  if (host === '') throw new Error('host name is empty')
  return `nixosConfigurations.${attrPathElement(host)}.config.system.build.toplevel`
}

/**
 * Splits a nixos-rebuild style `--flake` value: `/etc/nixos#web` names the host after `#`.
 * The fragment is returned as written (quotes removed), `undefined` when absent or empty.
 */
export function parseFlakeRef(ref: string): { flake: string; host?: string } {
  const hash = ref.indexOf('#')
  if (hash < 0) return { flake: ref }
  const flake = ref.slice(0, hash)
  const host = ref.slice(hash + 1).replace(/^"(.*)"$/, '$1')
  return host ? { flake, host } : { flake }
}

/** `<flake>#nixosConfigurations.<host>.config.system.build.toplevel`; a fragment on `flake` is dropped. */
export function flakeInstallable(flake: string, host: string): string {
  return `${parseFlakeRef(flake).flake}#${toplevelAttr(host)}`
}

/**
 * The path of a flake file relative to the flake, from the store copy Nix reports errors in
 * (`/nix/store/<hash>-source/hosts/web.nix` → `hosts/web.nix`); `undefined` for other paths.
 */
export function sourceRelativePath(file: string): string | undefined {
  return /^\/nix\/store\/[0-9a-z]{32}-source\/(.+)$/.exec(file)?.[1]
}

/**
 * Arguments that make `nix` accept flakes even where nix.conf does not enable them; harmless
 * when it already does (`extra-` appends to the configured set). Understood since Nix 2.4.
 */
/** `--option name value` for each nix.conf setting (every nix command accepts them). */
export function nixOptionArgs(options: Record<string, string> = {}): string[] {
  return Object.entries(options).flatMap(([name, value]) => ['--option', name, value])
}

export const NIX_FLAKE_ARGS: readonly string[] = ['--extra-experimental-features', 'nix-command flakes']

export interface LocalFlake {
  /** the flake's directory (with `?dir=` applied) */
  dir: string
  /** `git`: a git+file flake (Nix sees tracked files only); `path`: path: or a plain path (Nix copies everything) */
  kind: 'git' | 'path'
}

/** The directory of a local flake reference, or why it is not one (github:, git+https:, registry names…). */
export function localFlakeDir(flake: string, cwd = process.cwd()): LocalFlake | { error: string; notLocal: true } {
  const ref = flake.split('#')[0]!
  const [location = '', query = ''] = ref.split('?', 2)
  const sub = new URLSearchParams(query).get('dir')
  const at = (p: string, kind: LocalFlake['kind']): LocalFlake => {
    const dir = isAbsolute(p) ? p : resolve(cwd, p)
    return { dir: sub ? join(dir, sub) : dir, kind }
  }
  const decode = (s: string) => decodeURIComponent(s)
  if (location.startsWith('git+file:')) return at(decode(location.slice('git+file:'.length).replace(/^\/\/(?=\/)/, '')), 'git')
  if (location.startsWith('path:')) return at(decode(location.slice('path:'.length).replace(/^\/\/(?=\/)/, '')), 'path')
  // Nix's own rule: no scheme and path-like (`/x`, `./x`, `a/b`, `.`) is a path; a bare word is a registry name.
  if (!/^[a-z][a-z0-9+.-]*:/i.test(location) && (location.includes('/') || location === '.' || location === '..')) {
    return at(location, 'path')
  }
  return { error: `not a local flake: ${flake} (only path:, git+file: and filesystem paths have a checkout to read)`, notLocal: true }
}


/**
 * Why a local flake reference cannot be a flake: a folder without flake.nix, as a channel-based
 * `/etc/nixos` (configuration.nix) is. Undefined for a flake, and for references that are not local.
 */
export function notAFlakeReason(flake: string, cwd?: string): string | undefined {
  const local = localFlakeDir(flake, cwd)
  if ('error' in local || !existsSync(local.dir) || existsSync(join(local.dir, 'flake.nix'))) return undefined
  const channel = existsSync(join(local.dir, 'configuration.nix')) ? ' (a channel-based configuration.nix)' : ''
  return `${local.dir} has no flake.nix${channel}: nbs checks flakes; point --flake (or flake in the config) at your flake`
}
