/**
 * A host of the inventory: a nixosConfigurations name, and how to reach it when it is not the
 * machine nbs runs on. Each field remembers where it came from, so `nbs hosts` can say which
 * source won.
 */

/**
 * Where a field of a host came from, in order of precedence:
 * - `config`: `hosts` in nbs.config.*;
 * - `colmena eval`: colmena's evaluated `config.deployment`, through the installed `colmena eval`;
 * - `colmenaHive`: the same, read by `nix eval` from the flake's `colmenaHive` (colmena.lib.makeHive);
 * - `colmena hive (literal)`: `outputs.colmena` as written, when neither of those could run;
 * - `deploy-rs`: `deploy.nodes.<name>` and the `deploy` settings;
 * - `nixosConfigurations`: the name only.
 */
export type HostSource = 'config' | 'colmena eval' | 'colmenaHive' | 'colmena hive (literal)' | 'deploy-rs' | 'nixosConfigurations'

/** The sources in order of precedence, highest first. */
export const HOST_SOURCES: readonly HostSource[] = ['config', 'colmena eval', 'colmenaHive', 'colmena hive (literal)', 'deploy-rs', 'nixosConfigurations']

/** The fields a source can set. */
export type HostField = 'targetHost' | 'port' | 'user' | 'tags' | 'sshOptions' | 'privilege' | 'local'

export const HOST_FIELDS: readonly HostField[] = ['targetHost', 'port', 'user', 'tags', 'sshOptions', 'privilege', 'local']

export interface Host {
  /** the inventory name: the nixosConfigurations attribute (and colmena node / deploy-rs node) */
  name: string
  /** `[user@]address` to reach it over ssh; absent: no target (evaluated and built only, or local) */
  targetHost?: string
  port?: number
  /** ssh login user, when not given in targetHost */
  user?: string
  tags: string[]
  /** extra arguments for the ssh client, before the destination (`['-J', 'bastion']`) */
  sshOptions: string[]
  /** argv prefix for commands run on the host (`['sudo', '-n']`); empty by default */
  privilege: string[]
  /** the config marks it as the machine nbs runs on */
  local?: boolean
  /** whether `nixosConfigurations.<name>` exists in the flake (false: only a deploy tool or the config knows it) */
  inFlake: boolean
  /** every source that lists the host, in order of precedence */
  seenIn: HostSource[]
  /** field name → where its value came from (`name`: the highest-precedence source listing it) */
  sources: Partial<Record<'name' | HostField, HostSource>>
}

/** What one source says about one host: only the fields it sets. */
export type HostLayer = Partial<Pick<Host, HostField>>

/** One source's hosts, by name. */
export interface SourceHosts {
  source: HostSource
  hosts: Map<string, HostLayer>
}
