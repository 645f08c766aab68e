/**
 * Cache files only this user wrote: a cache under `sudo -E` or a shared `XDG_CACHE_HOME` that
 * another user could plant would decide what nbs shows (completions, "in sync"). A folder or file
 * that is not this user's alone is neither read nor written.
 */
import { constants } from 'node:fs'
import { lstat, open } from 'node:fs/promises'

/** Ours, and writable by nobody else: a folder or file another user could have planted is not read. */
export async function isPrivate(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined)
  return !!st && !st.isSymbolicLink() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0
}

/** The cache file's text when the file and its folder are this user's alone, else undefined. */
export async function readPrivate(dir: string, file: string): Promise<string | undefined> {
  if (!(await isPrivate(dir))) return undefined
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined)
  if (!handle) return undefined
  try {
    const st = await handle.stat()
    if (!st.isFile() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return undefined
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}
