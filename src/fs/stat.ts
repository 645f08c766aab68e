import { statSync } from 'node:fs'

/** Whether `path` is (or links to) a regular file; false when it is missing or unreadable. */
export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** Whether `path` is (or links to) a directory; false when it is missing or unreadable. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
