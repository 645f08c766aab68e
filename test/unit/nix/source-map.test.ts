/**
 * Store paths back to the checkout, with real store copies (`nix-store --add`, as Nix copies a
 * flake before evaluating it): the mapper must find the file the copy came from, and only that one.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { flakeSourceMapper } from '../../../src/nix/source-map.js'
import { locateResult } from '../../../src/report/locate.js'
import type { CheckResult } from '../../../src/report/types.js'
import { NIX_ENV } from '../../helpers/nix.js'
import { needs } from '../../helpers/real.js'
import { scratch } from '../../helpers/scratch.js'

const tmp = scratch('nbs-source-map-')

/** A real store copy of `dir` named `<hash>-source`, as Nix makes of a flake or a path: input. */
function storeCopy(dir: string): string {
  const named = join(tmp.fresh(), 'source')
  cpSync(dir, named, { recursive: true })
  const r = spawnSync('nix-store', ['--add', named], { encoding: 'utf8', env: { ...process.env, ...NIX_ENV } })
  if (r.status !== 0) throw new Error(`nix-store --add: ${r.stderr}`)
  return r.stdout.trim()
}

function write(root: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  return root
}

const FLAKE = { 'flake.nix': '{ outputs = _: { }; }\n', 'hosts/web.nix': '{ x = webRootPackage; }\n' }

needs('nix').describe('flakeSourceMapper (real store copies)', () => {
  it('a flake outside any git tree: the file relative to the flake', () => {
    const flake = write(tmp.fresh(), FLAKE)
    const store = storeCopy(flake)
    const map = flakeSourceMapper(`path:${flake}`)
    expect(map.file(`${store}/hosts/web.nix`)).toBe('hosts/web.nix')
    expect(map.file(`${store}/flake.nix`)).toBe('flake.nix')
    // a file the checkout does not have (removed since), and another store path: left as Nix printed them
    expect(map.file(`${store}/hosts/gone.nix`)).toBeUndefined()
    expect(map.file('/nix/store/00000000000000000000000000000000-nixpkgs/lib/modules.nix')).toBeUndefined()
  })

  it('a flake in a subfolder of a repository: relative to the repository root, where CI resolves paths', () => {
    const repo = tmp.fresh()
    mkdirSync(join(repo, '.git'))
    const flake = write(join(repo, 'infra'), FLAKE)
    const store = storeCopy(flake)
    expect(flakeSourceMapper(`path:${flake}`).file(`${store}/hosts/web.nix`)).toBe('infra/hosts/web.nix')
    // `git+file:…?dir=infra`: Nix copies the whole repository, so the store path has the folder in it
    const whole = storeCopy(repo)
    expect(flakeSourceMapper(`git+file://${repo}?dir=infra`).file(`${whole}/infra/hosts/web.nix`)).toBe('infra/hosts/web.nix')
    // a relative flake reference, from the working directory
    expect(flakeSourceMapper('./infra', repo).file(`${store}/hosts/web.nix`)).toBe('infra/hosts/web.nix')
  })

  it('a path: input of the lock file: the copy maps to the input, not to the outer file of the same name', () => {
    const flake = write(tmp.fresh(), { ...FLAKE, 'lib/flake.nix': '{ outputs = _: { lib = name.missingAttr; }; }\n' })
    writeFileSync(join(flake, 'flake.lock'), JSON.stringify({ nodes: { helpers: { locked: { type: 'path', path: './lib' } }, root: { inputs: { helpers: 'helpers' } } }, root: 'root', version: 7 }))
    const input = storeCopy(join(flake, 'lib'))
    const map = flakeSourceMapper(`path:${flake}`)
    expect(map.file(`${input}/flake.nix`)).toBe('lib/flake.nix')
    expect(map.file(`${storeCopy(flake)}/flake.nix`)).toBe('flake.nix')
  })

  it('a store copy that differs from every file of the same path is not mapped (an edit since, another input)', () => {
    const flake = write(tmp.fresh(), FLAKE)
    const other = storeCopy(write(tmp.fresh(), { 'hosts/web.nix': '{ x = somethingElse; }\n' }))
    expect(flakeSourceMapper(`path:${flake}`).file(`${other}/hosts/web.nix`)).toBeUndefined()
  })

  it("a store path that is not on this machine (another machine's evaluation, collected since) is not mapped by its name alone", () => {
    // nixpkgs' lib/modules.nix, as a remote host's Nix names it; the checkout has a file of that name
    const flake = write(tmp.fresh(), { ...FLAKE, 'lib/modules.nix': '{ }\n' })
    const map = flakeSourceMapper(`path:${flake}`)
    expect(map.file('/nix/store/0c4ahqbsb3l3hm56pw8a8ljj1bkdypr6-source/lib/modules.nix')).toBeUndefined()
    expect(map.text('error at /nix/store/0c4ahqbsb3l3hm56pw8a8ljj1bkdypr6-source/lib/modules.nix:5:3')).toBe('error at /nix/store/0c4ahqbsb3l3hm56pw8a8ljj1bkdypr6-source/lib/modules.nix:5:3')
  })

  it('a flake reached through a symlink (/etc/nixos → a subfolder of a repository): the real tree, relative to its top', () => {
    const repo = tmp.fresh()
    mkdirSync(join(repo, '.git'))
    write(join(repo, 'nixos'), FLAKE)
    const link = join(tmp.fresh(), 'etc-nixos')
    symlinkSync(join(repo, 'nixos'), link)
    // Nix copies the git tree of the real folder whole: the store path has the subfolder in it
    const whole = storeCopy(repo)
    const map = flakeSourceMapper(link)
    expect(map.file(`${whole}/nixos/hosts/web.nix`)).toBe('nixos/hosts/web.nix')
    // lazy trees name it by the link
    expect(map.file(`«path:${link}»/hosts/web.nix`)).toBe('nixos/hosts/web.nix')
  })

  it('flakes with no checkout here map nothing; lazy-trees `«path:…»` names and files read in place do', () => {
    expect(flakeSourceMapper('github:NixOS/nixpkgs').file('/nix/store/00000000000000000000000000000000-source/flake.nix')).toBeUndefined()
    const flake = write(tmp.fresh(), FLAKE)
    const map = flakeSourceMapper(`path:${flake}`)
    expect(map.file(`«path:${flake}»/hosts/web.nix`)).toBe('hosts/web.nix')
    expect(map.file(join(flake, 'hosts/web.nix'))).toBe('hosts/web.nix')
    expect(map.file('/etc/passwd')).toBeUndefined()
  })

  it('a result: every position in its details and every trace names the checkout file; the store path is kept', () => {
    const flake = write(tmp.fresh(), FLAKE)
    const store = storeCopy(flake)
    const result = {
      id: 'flake-eval',
      status: 'failed',
      details: {
        message: "undefined variable 'webRootPackage'",
        file: `${store}/hosts/web.nix`,
        line: 1,
        column: 7,
        traces: [`while evaluating the attribute 'x' at ${store}/hosts/web.nix:1:3`],
        errors: [{ file: `${store}/flake.nix`, line: 1 }],
      },
    } as unknown as CheckResult
    const mapped = locateResult(result, flakeSourceMapper(`path:${flake}`)).details as Record<string, unknown>
    expect(mapped).toMatchObject({
      file: 'hosts/web.nix',
      storeFile: `${store}/hosts/web.nix`,
      traces: ["while evaluating the attribute 'x' at hosts/web.nix:1:3"],
      errors: [{ file: 'flake.nix', storeFile: `${store}/flake.nix` }],
    })
    // nothing to map: the same object back
    const plain = { ...result, details: { file: '/nix/store/00000000000000000000000000000000-x/y.nix' } } as CheckResult
    expect(locateResult(plain, flakeSourceMapper(`path:${flake}`))).toBe(plain)
  })
})
