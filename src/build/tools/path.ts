import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** The executable `cmd` resolves to on PATH, as execvp would find it; null when absent. */
export function findOnPath(cmd: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const file = join(dir, cmd)
    try {
      if (!statSync(file).isFile()) continue
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return null
}
