/**
 * deploy-rs's `deploy` output as inventory layers. deploy-rs merges its generic settings profile
 * over node over top level (sshOpts appended in that order); nbs reads the node's `system` profile
 * for that, since the NixOS system is what it checks. deploy-rs connects as `sshUser@hostname`
 * (sshUser defaulting to the local user, as ssh does) and runs the profile as `user` through
 * `sudo -u USER` (its `sudo` setting) when the two differ: that becomes `privilege`.
 */
import type { DeployRsGeneric, DeployRsOutput } from './inventory-nix.js'
import type { HostLayer } from './types.js'

export function deployRsLayers(out: DeployRsOutput, localUser: string, notes: string[]): Map<string, HostLayer> {
  const hosts = new Map<string, HostLayer>()
  for (const [name, node] of Object.entries(out.nodes)) {
    if (!node) {
      notes.push(`deploy-rs: deploy.nodes.${name} is not an attribute set; left out`)
      continue
    }
    const levels: DeployRsGeneric[] = [node.system, node, out.top]
    const first = <K extends 'sshUser' | 'user' | 'sudo'>(key: K) => levels.map((l) => l[key]).find((v): v is string => typeof v === 'string')
    const sshUser = first('sshUser')
    const user = first('user')
    const sshOpts = levels.flatMap((l) => l.sshOpts ?? [])
    const layer: HostLayer = {}
    if (node.hostname) layer.targetHost = node.hostname
    else notes.push(`deploy-rs: deploy.nodes.${name}.hostname is not a string; ${name} has no target from deploy-rs`)
    if (sshUser) layer.user = sshUser
    if (sshOpts.length) layer.sshOptions = sshOpts
    if (user && user !== (sshUser ?? localUser)) layer.privilege = [...(first('sudo') ?? 'sudo -u').split(/\s+/).filter(Boolean), user]
    hosts.set(name, layer)
  }
  return hosts
}
