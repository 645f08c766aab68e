import { describe, expect, it } from 'vitest'
import { parseDryRun } from '../../../src/nix/dry-build.js'
import { attrPathElement, flakeInstallable, parseFlakeRef, sourceRelativePath, toplevelAttr } from '../../../src/nix/flake.js'
import { NIX28 } from './captures-nix28.js'

describe('parseDryRun', () => {
  it('reads one derivation to build and one path to fetch with sizes (real Nix 2.8, both formats)', () => {
    for (const input of [NIX28.dryRunFetchPlain, NIX28.dryRunFetchJson]) {
      expect(parseDryRun(input)).toEqual({
        toBuild: ['/nix/store/0rf6hzbcfzgis8k36jadqbrmxhbks5kl-nixos-system-fetch.drv'],
        toFetch: ['/nix/store/l1784hnvmhx7lb6l90fwnniqspc9ah0b-fetchme-lib'],
        fetchSizes: { download: '0.29 MiB', unpacked: '0.29 MiB' },
      })
    }
  })

  it('reads level-0 msg records from nix build --dry-run (real Nix 2.8)', () => {
    for (const input of [NIX28.dryRunBuildFailPlain, NIX28.dryRunBuildFailJson]) {
      expect(parseDryRun(input)).toEqual({
        toBuild: ['/nix/store/hwvs9lqyrcc9d7rpd1dx8fq5sy4a1frz-nixos-system-demo-build-fail.drv'],
        toFetch: [],
      })
    }
  })

  it('reads plural lists, and stops a list at the next non-item line', () => {
    const text = [
      'these 2 derivations will be built:',
      '  /nix/store/a-x.drv',
      '  /nix/store/b-nixos-system-h.drv',
      'these 3 paths will be fetched (12.50 MiB download, 48.01 MiB unpacked):',
      '  /nix/store/c-glibc',
      '  /nix/store/d-bash',
      '  /nix/store/e-coreutils',
      "warning: Git tree '/etc/nixos' is dirty",
      '  /nix/store/not-an-item',
    ].join('\n')
    expect(parseDryRun(text)).toEqual({
      toBuild: ['/nix/store/a-x.drv', '/nix/store/b-nixos-system-h.drv'],
      toFetch: ['/nix/store/c-glibc', '/nix/store/d-bash', '/nix/store/e-coreutils'],
      fetchSizes: { download: '12.50 MiB', unpacked: '48.01 MiB' },
    })
  })

  it('lists paths Nix does not know how to build (real Nix 2.8 nix-store output)', () => {
    const text = "don't know how to build these paths:\n  /nix/store/00000000000000000000000000000000-missing.drv"
    expect(parseDryRun(text)).toEqual({ toBuild: [], toFetch: [], unknown: ['/nix/store/00000000000000000000000000000000-missing.drv'] })
  })

  it('nothing to do', () => {
    expect(parseDryRun('')).toEqual({ toBuild: [], toFetch: [] })
  })
})

describe('flake references', () => {
  it('builds the toplevel attribute, quoting hosts that are not plain identifiers', () => {
    expect(toplevelAttr('demo')).toBe('nixosConfigurations.demo.config.system.build.toplevel')
    expect(toplevelAttr('my-host_2')).toBe('nixosConfigurations.my-host_2.config.system.build.toplevel')
    expect(toplevelAttr('a.b')).toBe('nixosConfigurations."a.b".config.system.build.toplevel')
    expect(attrPathElement('1host')).toBe('"1host"')
    expect(() => toplevelAttr('')).toThrow(/empty/)
    expect(() => attrPathElement('a"b')).toThrow(/double quote/)
  })

  it('joins flake and host into an installable, dropping a #fragment', () => {
    expect(flakeInstallable('/etc/nixos', 'web')).toBe('/etc/nixos#nixosConfigurations.web.config.system.build.toplevel')
    expect(flakeInstallable('path:/x#other', 'a.b')).toBe('path:/x#nixosConfigurations."a.b".config.system.build.toplevel')
  })

  it('maps a store source path back into the flake', () => {
    expect(sourceRelativePath('/nix/store/91irihm0cm1c0qk3haq9jskhcsjadzhm-source/hosts/web.nix')).toBe('hosts/web.nix')
    expect(sourceRelativePath('/etc/nixos/configuration.nix')).toBeUndefined()
  })

  it('parses nixos-rebuild style refs', () => {
    expect(parseFlakeRef('/etc/nixos#web')).toEqual({ flake: '/etc/nixos', host: 'web' })
    expect(parseFlakeRef('github:me/cfg#"a.b"')).toEqual({ flake: 'github:me/cfg', host: 'a.b' })
    expect(parseFlakeRef('/etc/nixos#')).toEqual({ flake: '/etc/nixos' })
    expect(parseFlakeRef('.')).toEqual({ flake: '.' })
  })
})
