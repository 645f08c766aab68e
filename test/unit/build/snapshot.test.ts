import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { readNixVersion, snapshotGeneration } from '../../../src/build/snapshot.js'

const work = mkdtempSync(join(tmpdir(), 'nbs-snapshot-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('snapshotGeneration', () => {
  it('reads the system profile, /run/current-system, Home Manager and the commit', async () => {
    const root = join(work, 'root')
    const profiles = join(root, 'nix/var/nix/profiles')
    mkdirSync(profiles, { recursive: true })
    mkdirSync(join(root, 'run'))
    mkdirSync(join(root, 'home/alice/.local/state/nix/profiles'), { recursive: true })
    for (const p of ['41aaaa-nixos-system', '42aaaa-nixos-system', '11bbbb-home-manager-generation', '12bbbb-home-manager-generation']) {
      mkdirSync(join(root, 'nix/store', p), { recursive: true })
    }
    for (const g of [41, 42]) symlinkSync(`/nix/store/${g}aaaa-nixos-system`, join(profiles, `system-${g}-link`))
    symlinkSync('system-42-link', join(profiles, 'system'))
    symlinkSync('/nix/store/41aaaa-nixos-system', join(root, 'run/current-system'))
    const hm = join(root, 'home/alice/.local/state/nix/profiles')
    for (const g of [11, 12]) symlinkSync(`/nix/store/${g}bbbb-home-manager-generation`, join(hm, `home-manager-${g}-link`))
    symlinkSync('home-manager-11-link', join(hm, 'home-manager')) // rolled back: the active one counts
    const exec: Exec = async () => ({ exitCode: 128, stdout: { text: '' }, stderr: { text: 'fatal: not a git repository' } }) as never
    const os = await snapshotGeneration({ root, exec, target: 'os', user: 'alice', flake: '/nowhere' })
    expect(os).toEqual({
      generation: 'g42', generationRaw: '42', commit: null, homeManagerGeneration: 'hm11',
      currentSystem: '/nix/store/41aaaa-nixos-system', profilePath: '/nix/store/42aaaa-nixos-system', commitDirty: null,
    })
    const home = await snapshotGeneration({ root, exec, target: 'home', user: 'alice' })
    expect(home.profilePath).toBe('/nix/store/11bbbb-home-manager-generation')
    const empty = await snapshotGeneration({ root: join(work, 'nothing'), exec, target: 'os', user: 'bob' })
    expect(empty).toMatchObject({ generation: null, homeManagerGeneration: null, currentSystem: null, profilePath: null })
  })

  it('reads the Nix version', async () => {
    const fake = (text: string, exitCode = 0): Exec => async () => ({ exitCode, stdout: { text }, stderr: { text: '' } }) as never
    expect(await readNixVersion(fake('nix (Nix) 2.24.10\n'))).toBe('2.24.10')
    expect(await readNixVersion(fake('nix (Lix, like Nix) 2.91.1\n'))).toBe('2.91.1')
    expect(await readNixVersion(fake('', 127))).toBeNull()
  })
})
