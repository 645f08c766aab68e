/**
 * `import … from 'nixos-build-status'` (the npm name) or `from 'nbs'` (the alias) in a loaded
 * config, check or plugin file is the library handed to setLibrary (the package entry or the CLI),
 * under every name in LIBRARY_NAMES.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LIBRARY_NAMES, libraryModules, setLibrary } from '../../../src/discovery/library.js'
import { importDefault } from '../../../src/discovery/import-module.js'

const dir = mkdtempSync(join(tmpdir(), 'nbs-library-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the running library', () => {
  it('is what every library name imports in a loaded TS file', async () => {
    const marker = { defineCheck: (d: unknown) => d, which: 'the running one' }
    setLibrary(marker)
    expect(Object.keys(libraryModules())).toEqual([...LIBRARY_NAMES])
    for (const [i, name] of LIBRARY_NAMES.entries()) {
      const file = join(dir, `c${i}.check.ts`)
      writeFileSync(file, `import { defineCheck, which } from '${name}'\nconst id: string = which\nexport default defineCheck({ id })\n`)
      expect(await importDefault(file, `check ${file}`)).toEqual({ id: 'the running one' })
    }
  })

  it('is registered by the package entry: importing it makes the names resolve to the public API', async () => {
    const api = await import('../../../src/index.js')
    const modules = libraryModules()
    expect(modules.nbs).toBeDefined()
    expect((modules.nbs as typeof api).defineCheck).toBe(api.defineCheck)
    expect(modules['nixos-build-status']).toBe(modules.nbs)
  })

  it('answers to the npm name and the alias, and one file importing from both gets one instance', async () => {
    expect(LIBRARY_NAMES).toEqual(expect.arrayContaining(['nixos-build-status', 'nbs']))
    setLibrary({ defineCheck: (d: unknown) => d })
    const file = join(dir, 'both.check.ts')
    writeFileSync(
      file,
      `import { defineCheck as a } from 'nixos-build-status'\nimport { defineCheck as b } from 'nbs'\nexport default a({ id: 'both', same: a === b })\n`,
    )
    expect(await importDefault(file, `check ${file}`)).toEqual({ id: 'both', same: true })
  })
})
