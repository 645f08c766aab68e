import { describe, expect, it } from 'vitest'
import { mergeHosts } from '../../../src/hosts/merge.js'
import type { HostLayer, HostSource, SourceHosts } from '../../../src/hosts/types.js'

const src = (source: HostSource, hosts: Record<string, HostLayer>): SourceHosts => ({ source, hosts: new Map(Object.entries(hosts)) })

describe('mergeHosts', () => {
  it('per field, config > colmena > deploy-rs > nixosConfigurations, and says which source won', () => {
    const [web] = mergeHosts(
      // given out of order on purpose: precedence is the source's, not the argument order
      [
        src('deploy-rs', { web: { targetHost: '10.0.0.1', user: 'deploy', sshOptions: ['-p', '2201'] } }),
        src('nixosConfigurations', { web: {} }),
        src('config', { web: { targetHost: 'root@web.example.org', tags: ['frontend'] } }),
        src('colmena hive (literal)', { web: { targetHost: 'web.colmena', user: 'root', tags: ['web'], port: 2222 } }),
      ],
      new Set(['web']),
    )
    expect(web).toEqual({
      name: 'web',
      targetHost: 'root@web.example.org',
      port: 2222,
      user: 'root',
      tags: ['frontend'],
      sshOptions: ['-p', '2201'],
      privilege: [],
      inFlake: true,
      seenIn: ['config', 'colmena hive (literal)', 'deploy-rs', 'nixosConfigurations'],
      sources: { name: 'config', targetHost: 'config', port: 'colmena hive (literal)', user: 'colmena hive (literal)', tags: 'config', sshOptions: 'deploy-rs' },
    })
  })

  it('lists hosts any source knows, sorted by name, inFlake only for nixosConfigurations names', () => {
    const hosts = mergeHosts([src('deploy-rs', { edge: { targetHost: 'edge.example.net' } }), src('nixosConfigurations', { b: {}, a: {} }), src('config', { laptop: { local: true } })], new Set(['a', 'b']))
    expect(hosts.map((h) => [h.name, h.inFlake, h.sources.name])).toEqual([
      ['a', true, 'nixosConfigurations'],
      ['b', true, 'nixosConfigurations'],
      ['edge', false, 'deploy-rs'],
      ['laptop', false, 'config'],
    ])
    expect(hosts[3]).toMatchObject({ local: true, tags: [], sshOptions: [], privilege: [], sources: { local: 'config' } })
  })

  it('copies lists: a host never shares an array with its source', () => {
    const tags = ['web']
    const [h] = mergeHosts([src('config', { web: { tags } })])
    h!.tags.push('changed')
    expect(tags).toEqual(['web'])
  })
})
