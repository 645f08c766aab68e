import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * nbs's own install folder (the one holding its package.json and built-in checks/). Found by walking
 * up, because this module runs both from dist/<dir>/ (tsc output) and from the bundled dist/cli.js.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'nixos-build-status') return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('nbs: cannot find its own package.json')
    dir = parent
  }
}

export const PACKAGE_ROOT: string = findPackageRoot()
export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
