/**
 * A host of the inventory: a nixosConfigurations name, and how to reach it when it is not the
 * machine nbs runs on. Each field remembers where it came from, so `nbs hosts` can say which
 * source won.
 */

/** Where a field of a host came from, in order of precedence. */
export type HostSource = 'config' | 'colmena eval' | 'colmena hive' | 'deploy-rs' | 'nixosConfigurations'

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
  /** whether `nixosConfigurations.<name>` exists in the flake (false: only a deploy tool knows it) */
  inFlake: boolean
  /** field name → where its value came from */
  sources: Partial<Record<'name' | 'targetHost' | 'port' | 'user' | 'tags' | 'sshOptions' | 'privilege' | 'local', HostSource>>
}
