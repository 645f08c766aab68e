import { statSync } from 'node:fs'
import { dirname } from 'node:path'
import { NbsError } from '../errors.js'

/**
 * Running as root, nbs executes what config, check and plugin files say. Like sudo and ssh, it
 * refuses a file (or its folder) that someone other than root could have changed.
 */
export function assertTrustedFile(file: string, label: string, uid = process.getuid?.()): void {
  if (uid !== 0) return
  for (const [path, what] of [
    [file, label],
    [dirname(file), `${label}'s folder ${dirname(file)}`],
  ] as const) {
    let st
    try {
      st = statSync(path)
    } catch {
      continue // reported by whoever reads it
    }
    // a sticky, world-writable folder (/tmp) lets others add files, not replace ours
    const sticky = (st.mode & 0o1000) !== 0 && path !== file
    if ((st.mode & 0o022) !== 0 && !sticky) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
      throw new NbsError(`refusing ${what}: writable by group or others (mode ${mode}) while running as root; fix: chmod go-w ${path}`)
    }
    if (st.uid !== 0) {
      throw new NbsError(`refusing ${what}: owned by uid ${st.uid}, not root, while running as root; fix: chown root ${path} (or run nbs as that user)`)
    }
  }
}
