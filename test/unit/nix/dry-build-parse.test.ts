import { describe, expect, it } from 'vitest'
import { DryRunReader, listText, parseDryRun } from '../../../src/nix/dry-build.js'
import { attrPathElement, flakeInstallable, parseFlakeRef, sourceRelativePath, toplevelAttr } from '../../../src/nix/flake.js'
import { NIX28 } from './captures-nix28.js'

describe('parseDryRun', () => {
  it('reads one derivation to build and one path to fetch with sizes (real Nix 2.8, both formats)', () => {
    for (const input of [NIX28.dryRunFetchPlain, NIX28.dryRunFetchJson]) {
      expect(parseDryRun(input)).toEqual({
        toBuild: { count: 1, paths: ['/nix/store/0rf6hzbcfzgis8k36jadqbrmxhbks5kl-nixos-system-fetch.drv'] },
        toFetch: { count: 1, paths: ['/nix/store/l1784hnvmhx7lb6l90fwnniqspc9ah0b-fetchme-lib'] },
        fetchSizes: { download: '0.29 MiB', unpacked: '0.29 MiB' },
      })
    }
  })

  it('reads level-0 msg records from nix build --dry-run (real Nix 2.8)', () => {
    for (const input of [NIX28.dryRunBuildFailPlain, NIX28.dryRunBuildFailJson]) {
      expect(parseDryRun(input)).toEqual({
        toBuild: { count: 1, paths: ['/nix/store/hwvs9lqyrcc9d7rpd1dx8fq5sy4a1frz-nixos-system-demo-build-fail.drv'] },
        toFetch: { count: 0, paths: [] },
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
      toBuild: { count: 2, paths: ['/nix/store/a-x.drv', '/nix/store/b-nixos-system-h.drv'] },
      toFetch: { count: 3, paths: ['/nix/store/c-glibc', '/nix/store/d-bash', '/nix/store/e-coreutils'] },
      fetchSizes: { download: '12.50 MiB', unpacked: '48.01 MiB' },
    })
  })

  it("counts are Nix's own, from its headers: a list cut short (or sampled) does not change them", () => {
    // later Nix versions print sizes in KiB/GiB with one decimal (reference/nix.md §9)
    const text = [
      'these 12 derivations will be built:',
      '  /nix/store/a-x.drv',
      'these 4765 paths will be fetched (301.2 KiB download, 1.3 GiB unpacked):',
      '  /nix/store/c-glibc',
    ].join('\n')
    expect(parseDryRun(text)).toEqual({
      toBuild: { count: 12, paths: ['/nix/store/a-x.drv'] },
      toFetch: { count: 4765, paths: ['/nix/store/c-glibc'] },
      fetchSizes: { download: '301.2 KiB', unpacked: '1.3 GiB' },
    })
  })

  it('keeps a bounded sample of the paths, streaming: memory does not grow with the list', () => {
    const reader = new DryRunReader(3)
    reader.message('\u001b[1mthese 10000 paths will be fetched (0.29 MiB download, 0.29 MiB unpacked):\u001b[0m')
    for (let i = 0; i < 10_000; i++) reader.line(`  /nix/store/${String(i).padStart(32, '0')}-p${i}`)
    reader.line('this derivation will be built:')
    reader.line('  /nix/store/b-nixos-system-h.drv')
    const plan = reader.plan()
    expect(plan.toFetch.count).toBe(10_000)
    expect(plan.toFetch.paths).toHaveLength(3)
    expect(plan.toBuild).toEqual({ count: 1, paths: ['/nix/store/b-nixos-system-h.drv'] })
    expect(listText(plan.toFetch)).toMatch(/-p2 and 9997 more$/)
  })

  it('lists paths Nix does not know how to build (real Nix 2.8 nix-store output)', () => {
    const text = "don't know how to build these paths:\n  /nix/store/00000000000000000000000000000000-missing.drv"
    expect(parseDryRun(text)).toEqual({ toBuild: { count: 0, paths: [] }, toFetch: { count: 0, paths: [] }, unknown: { count: 1, paths: ['/nix/store/00000000000000000000000000000000-missing.drv'] } })
  })

  it('nothing to do', () => {
    expect(parseDryRun('')).toEqual({ toBuild: { count: 0, paths: [] }, toFetch: { count: 0, paths: [] } })
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
