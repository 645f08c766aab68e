import { expect, it } from 'vitest'
import { resolveBuildSettings } from '../../../src/build/settings.js'

const loaded = { config: {}, projectRoot: '/tmp' }

it("NBS_FLAKE (the machine's flake) is the default of nbs build os, never of nbs build home", () => {
  const env = { NBS_FLAKE: '/etc/nixos', NH_FLAKE: '/home/me/cfg#me', HOME: '/home/me' }
  expect(resolveBuildSettings(loaded, 'os', {}, env).flake).toBe('/etc/nixos')
  // home: nh's variables only, and the home configuration named by NH_FLAKE's fragment
  expect(resolveBuildSettings(loaded, 'home', {}, env).flake).toBe('/home/me/cfg#me')
  expect(resolveBuildSettings(loaded, 'home', {}, { ...env, NH_HOME_FLAKE: '/home/me/hm#alice' }).flake).toBe('/home/me/hm#alice')
})
