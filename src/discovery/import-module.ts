import { fileURLToPath } from 'node:url'
import { lstatSync, mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Jiti } from 'jiti'
import { NbsError } from '../errors.js'
import { libraryModules } from './library.js'

/**
 * Loads config, check and plugin modules. TS goes through jiti (Node 20 cannot strip types), and
 * `import ... from 'nixos-build-status'` (or 'nbs') resolves to the running nbs (library.ts: what the package entry or the
 * CLI registered), so a project needs no node_modules of its own.
 */
let jiti: Promise<Jiti> | undefined

async function createLoader(): Promise<Jiti> {
  // loaded on first use: a run of JSON checks never pays for jiti
  const { createJiti } = await import('jiti')
  return createJiti(import.meta.url, { virtualModules: libraryModules(), interopDefault: false, fsCache: privateCacheDir() })
}

/**
 * jiti's cache of compiled TS, in a folder only this user can write: the default, a shared
 * `/tmp/jiti`, would let another local user plant code that a root run of nbs then executes.
 * When the folder is not ours (or not private), nbs compiles afresh instead.
 */
function privateCacheDir(): string | false {
  const uid = process.getuid?.()
  if (uid === undefined) return false
  const dir = join(tmpdir(), `nbs-jiti-${uid}`)
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false
  }
  try {
    const st = lstatSync(dir)
    return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0 ? dir : false
  } catch {
    return false
  }
}

const loader = () => (jiti ??= createLoader())

/** The default export of a module (or the parsed JSON); errors name the file. */
export async function importDefault(file: string, label: string): Promise<unknown> {
  if (file.endsWith('.json')) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (e) {
      throw new NbsError(`${label}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    try {
      return JSON.parse(text)
    } catch (e) {
      throw new NbsError(`${label}: invalid JSON: ${(e as Error).message}`)
    }
  }
  let mod: unknown
  try {
    mod = await (await loader()).import(file)
  } catch (e) {
    throw new NbsError(`${label}: failed to load: ${firstLine(e)}`)
  }
  const value = (mod as { default?: unknown } | null)?.default
  if (value === undefined) throw new NbsError(`${label}: has no default export; export default ${label.startsWith('plugin') ? 'definePlugin' : label.startsWith('config') || label.includes('nbs.config') ? 'defineConfig' : 'defineCheck'}({...})`)
  return value
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e)
  return text.split('\n').find((l) => l.trim()) ?? text
}

/** Where `import(spec)` from `parentURL` would go (ESM conditions), or undefined. */
export async function resolveModule(spec: string, parentURL: string): Promise<string | undefined> {
  const url = (await loader()).esmResolve(spec, { parentURL, try: true })
  return url ? (url.startsWith('file:') ? fileURLToPath(url) : url) : undefined
}
