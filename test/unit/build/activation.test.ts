import { describe, expect, it } from 'vitest'
import { ACTIVATION_START, classify } from '../../../src/build/activation.js'
import { nomWanted } from '../../../src/build/run-tool.js'

describe('activation detection', () => {
  it('knows an activation process however it is wrapped', () => {
    expect(classify(['sudo', 'env', 'NIXOS_INSTALL_BOOTLOADER=', '/nix/store/x-nixos-system/bin/switch-to-configuration', 'test'])).toBe('activation')
    expect(classify(['/bin/sh', '/nix/store/x/bin/switch-to-configuration', 'switch'])).toBe('activation')
    expect(classify(['/run/current-system/sw/bin/systemd-run', '-E', 'LOCALE_ARCHIVE', '--unit=nixos-rebuild-switch-to-configuration'])).toBe('activation')
    expect(classify(['/bin/sh', '/nix/store/x-home-manager-generation/activate'])).toBe('activation')
    expect(classify(['sudo', 'nix-env', '-p', '/nix/var/nix/profiles/system', '--set', '/nix/store/x'])).toBe('elevation')
    expect(classify(['nix', 'build', '/nix/store/x.drv^out'])).toBeUndefined()
  })
  it('knows the lines that start one', () => {
    for (const l of ['> Activating configuration', '> Adding configuration to bootloader', 'activating the configuration...', 'Starting Home Manager activation']) expect(ACTIVATION_START.test(l)).toBe(true)
    expect(ACTIVATION_START.test('> Building NixOS configuration')).toBe(false)
  })
  it('NH_NOM turns nom on and off, anything else leaves the default', () => {
    expect(nomWanted({ NH_NOM: '0' })).toBe(false)
    expect(nomWanted({ NH_NOM: 'true' })).toBe(true)
    expect(nomWanted({ NH_NOM: 'maybe' })).toBeUndefined()
    expect(nomWanted({})).toBeUndefined()
  })
})

describe('the environment nh gets', () => {
  it("says a user's NH_* booleans the way nh parses them (clap takes only true/false), and never drops a bypass nbs needs", async () => {
    const { toolEnv } = await import('../../../src/build/run-tool.js')
    // nh 4.3.0 exits 2 on NH_SHOW_ACTIVATION_LOGS=1; every nh on NH_BYPASS_ROOT_CHECK=1
    expect(toolEnv({ NH_SHOW_ACTIVATION_LOGS: 'true' }, { NH_SHOW_ACTIVATION_LOGS: '1' }).NH_SHOW_ACTIVATION_LOGS).toBe('true')
    expect(toolEnv({ NH_SHOW_ACTIVATION_LOGS: 'true' }, { NH_SHOW_ACTIVATION_LOGS: 'no' }).NH_SHOW_ACTIVATION_LOGS).toBe('false')
    expect(toolEnv({ NH_BYPASS_ROOT_CHECK: 'true' }, { NH_BYPASS_ROOT_CHECK: '1' }).NH_BYPASS_ROOT_CHECK).toBe('true')
    expect(toolEnv({ NH_BYPASS_ROOT_CHECK: 'true' }, { NH_BYPASS_ROOT_CHECK: '0' }).NH_BYPASS_ROOT_CHECK).toBe('true')
    // a user's own setting is said as nh parses it too (a non-root user's NH_BYPASS_ROOT_CHECK=1 broke nh)
    expect(toolEnv({}, { NH_BYPASS_ROOT_CHECK: '1', NH_SHOW_ACTIVATION_LOGS: 'off', NH_FLAKE: '/cfg' })).toMatchObject({ NH_BYPASS_ROOT_CHECK: 'true', NH_SHOW_ACTIVATION_LOGS: 'false', NH_FLAKE: '/cfg' })
  })
})
