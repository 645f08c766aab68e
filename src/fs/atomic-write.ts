import { randomBytes } from 'node:crypto'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface AtomicWriteOptions {
  /** set `mode` exactly with chmod, whatever the umask (default: the umask applies, as for open(2)) */
  exactMode?: boolean
  /** fsync the directory after the rename, so the new name survives a crash too (default true) */
  syncDir?: boolean
}

/** The temp name atomicWrite uses: `.NAME.PID.HEX.tmp`, hidden, and pid-tagged so a sweeper can tell whose it is. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

/** Matches tempPathFor's names; group 1 is the writer's pid. */
export const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/

/**
 * Writes a file so that readers see the old content or the new, never a torn one: a temp file in
 * the same directory (rename is atomic only within one filesystem), fsync, then rename over.
 */
export async function atomicWrite(
  path: string,
  content: string | Uint8Array,
  mode = 0o644,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempPathFor(path)
  const handle = await open(tmp, 'wx', mode)
  await commitTempFile(handle, tmp, path, opts, async () => {
    if (opts.exactMode) await handle.chmod(mode)
    await handle.writeFile(content)
  })
}

/**
 * Finishes a temp file written through `handle` and puts it in place of `path`: the last writes
 * (`write`), fsync, close, rename, then fsync the folder. On any failure the temp file is removed
 * and the old `path` is left as it was.
 */
export async function commitTempFile(
  handle: FileHandle,
  tmp: string,
  path: string,
  opts: Pick<AtomicWriteOptions, 'syncDir'> = {},
  write: () => Promise<void> = async () => {},
): Promise<void> {
  try {
    await write()
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
  if (opts.syncDir !== false) await syncDirectory(dirname(path))
}

/** fsync a directory so a rename or create in it is durable. Best effort: some filesystems refuse (EINVAL). */
export async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // not fatal: the data itself is synced; only the name's durability is at stake
  }
}
