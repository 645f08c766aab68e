import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Writes a file so that readers see the old content or the new, never a torn one: a temp file in
 * the same directory (rename is atomic only within one filesystem), fsync, then rename over.
 */
export async function atomicWrite(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } catch (e) {
    await handle.close().catch(() => {})
    await rm(tmp, { force: true })
    throw e
  }
  await handle.close()
  try {
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
