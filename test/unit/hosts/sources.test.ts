/**
 * How each deploy tool's settings become a host: deploy-rs's merge of generic settings, colmena's
 * option defaults, priorities and privilege escalation rule.
 */
import { describe, expect, it } from 'vitest'
import { colmenaConfigArg, colmenaLayer, evaluatedColmenaLayers, literalColmenaLayers } from '../../../src/hosts/colmena.js'
import { deployRsLayers } from '../../../src/hosts/deploy-rs.js'
import type { DeployRsGeneric, LiteralColmenaNode, LiteralDefinition } from '../../../src/hosts/inventory-nix.js'

const none: DeployRsGeneric = { sshUser: null, user: null, sshOpts: null, sudo: null }

describe('deploy-rs nodes', () => {
  it('profile over node over top level; sshOpts appended profile, node, top (deploy-rs merge order)', () => {
    const notes: string[] = []
    const hosts = deployRsLayers(
      {
        top: { ...none, sshUser: 'top', sshOpts: ['-o', 'A=1'] },
        nodes: {
          web: { ...none, hostname: 'web.example.org', sshOpts: ['-p', '2201'], system: { ...none, sshOpts: ['-v'] } },
          cache: { ...none, hostname: 'cache', sshUser: 'node', system: { ...none, sshUser: 'profile' } },
        },
      },
      'alice',
      notes,
    )
    expect(hosts.get('web')).toEqual({ targetHost: 'web.example.org', user: 'top', sshOptions: ['-v', '-p', '2201', '-o', 'A=1'] })
    expect(hosts.get('cache')).toEqual({ targetHost: 'cache', user: 'profile', sshOptions: ['-o', 'A=1'] })
    expect(notes).toEqual([])
  })

  it('a profile user other than the ssh user is reached through sudo -u (or the sudo setting)', () => {
    const layers = deployRsLayers(
      {
        top: none,
        nodes: {
          a: { ...none, hostname: 'a', sshUser: 'deploy', system: { ...none, user: 'root' } },
          b: { ...none, hostname: 'b', sshUser: 'deploy', sudo: 'doas -u', system: { ...none, user: 'root' } },
          c: { ...none, hostname: 'c', sshUser: 'root', system: { ...none, user: 'root' } },
          // no sshUser: deploy-rs connects as the local user
          d: { ...none, hostname: 'd', system: { ...none, user: 'alice' } },
          e: { ...none, hostname: 'e', system: { ...none, user: 'root' } },
        },
      },
      'alice',
      [],
    )
    expect(layers.get('a')!.privilege).toEqual(['sudo', '-u', 'root'])
    expect(layers.get('b')!.privilege).toEqual(['doas', '-u', 'root'])
    expect(layers.get('c')!.privilege).toBeUndefined()
    expect(layers.get('d')!.privilege).toBeUndefined()
    expect(layers.get('e')).toEqual({ targetHost: 'e', privilege: ['sudo', '-u', 'root'] })
  })

  it('a node that is not a set, or has no hostname, is a note', () => {
    const notes: string[] = []
    const hosts = deployRsLayers({ top: none, nodes: { bad: null, nohost: { ...none, hostname: null, system: none } } }, 'alice', notes)
    expect([...hosts.keys()]).toEqual(['nohost'])
    expect(notes).toEqual(['deploy-rs: deploy.nodes.bad is not an attribute set; left out', 'deploy-rs: deploy.nodes.nohost.hostname is not a string; nohost has no target from deploy-rs'])
  })
})

describe('colmena deployments', () => {
  const deployment = { targetHost: 'h', targetUser: 'root', targetPort: null, tags: [], sshOptions: [], privilegeEscalationCommand: ['sudo', '-H', '--'] }

  it('escalates privileges unless the user is root, as colmena ssh does', () => {
    expect(colmenaLayer(deployment)).toEqual({ targetHost: 'h', user: 'root' })
    expect(colmenaLayer({ ...deployment, targetUser: 'ops' })).toEqual({ targetHost: 'h', user: 'ops', privilege: ['sudo', '-H', '--'] })
    expect(colmenaLayer({ ...deployment, targetUser: null })).toEqual({ targetHost: 'h', privilege: ['sudo', '-H', '--'] })
  })

  it('a null targetHost (local deployment only) keeps only the tags', () => {
    expect(colmenaLayer({ ...deployment, targetHost: null, targetUser: 'ops', targetPort: 22, tags: ['db'] })).toEqual({ tags: ['db'] })
  })

  it('evaluated output with a wrong type is a note, not a host', () => {
    const notes: string[] = []
    const hosts = evaluatedColmenaLayers({ ok: deployment, bad: { ...deployment, targetPort: 70000 } }, 'colmena eval', notes)
    expect([...hosts!.keys()]).toEqual(['ok'])
    expect(notes).toEqual(['colmena eval: bad: deployment.targetPort is not a port (1-65535); left out'])
    expect(evaluatedColmenaLayers([1], 'colmena eval', notes)).toBeUndefined()
  })

  const node = (defs: Partial<Record<string, LiteralDefinition[]>>, unreadModules = 0): LiteralColmenaNode => ({
    unreadModules,
    defs: { targetHost: [], targetUser: [], targetPort: [], tags: [], sshOptions: [], privilegeEscalationCommand: [], ...defs },
  })

  it('literal hive: colmena defaults where nothing is set (targetHost = name, user root)', () => {
    const notes: string[] = []
    expect(literalColmenaLayers({ web: node({}) }, notes).get('web')).toEqual({ targetHost: 'web', user: 'root' })
    expect(notes).toEqual([])
  })

  it('literal hive: the lowest priority number wins; lists of the winning priority concatenate', () => {
    const hosts = literalColmenaLayers(
      {
        web: node({
          targetHost: [{ prio: 1000, value: 'default.example' }, { prio: 100, value: 'plain.example' }],
          targetUser: [{ prio: 50, value: 'forced' }, { prio: 100, value: 'plain' }],
          tags: [{ prio: 100, value: ['fleet'] }, { prio: 100, value: ['web'] }, { prio: 1000, value: ['ignored'] }],
        }),
      },
      [],
    )
    expect(hosts.get('web')).toEqual({ targetHost: 'plain.example', user: 'forced', tags: ['fleet', 'web'], privilege: ['sudo', '-H', '--'] })
  })

  it('literal hive: an option that is not a literal has no value and a note; an unread module voids the defaults', () => {
    const notes: string[] = []
    const hosts = literalColmenaLayers({ a: node({ targetHost: [{ unread: true }], tags: [{ prio: 100, value: ['x'] }] }), b: node({ tags: [{ prio: 100, value: ['y'] }] }, 1) }, notes)
    expect(hosts.get('a')).toEqual({ user: 'root', tags: ['x'] })
    expect(hosts.get('b')).toEqual({ tags: ['y'] })
    expect(notes[0]).toMatch(/^colmena hive \(literal\): a: deployment\.targetHost is not a literal; install colmena/)
    expect(notes[1]).toMatch(/^colmena hive \(literal\): b: 1 module could not be read .*, so these are unknown: deployment\.targetHost, deployment\.targetUser/)
  })

  it('colmena -f: a flake.nix path for a plain directory (colmena reads a directory as a hive.nix), else the URI', () => {
    expect(colmenaConfigArg('/etc/nixos')).toBe('/etc/nixos/flake.nix')
    expect(colmenaConfigArg('/etc/nixos#web')).toBe('/etc/nixos/flake.nix')
    expect(colmenaConfigArg('path:/etc/nixos')).toBe('path:/etc/nixos')
    expect(colmenaConfigArg('github:owner/repo')).toBe('github:owner/repo')
  })
})
