/** A test file's scratch folder, removed after its tests, with fresh subfolders on demand. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'

export function scratch(prefix: string): { dir: string; fresh: () => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  let n = 0
  return {
    dir,
    fresh: () => {
      const d = join(dir, `d${++n}`)
      mkdirSync(d)
      return d
    },
  }
}
