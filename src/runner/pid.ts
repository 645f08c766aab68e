/** Whether a process with this pid exists (EPERM from kill(pid, 0): it runs as another user). */
export function pidExists(pid: number): boolean {
  if (pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
