/** Projects with a JSON config (built-ins off unless the config turns them on), removed after each test. */
import { afterEach } from 'vitest'
import { makeProject } from './project.js'

export function jsonProjects(): (files: Record<string, string>, config?: Record<string, unknown>) => string {
  const projects: { cleanup(): void }[] = []
  afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))
  return (files, config = {}) => {
    const p = makeProject({ 'nbs.config.json': JSON.stringify({ builtins: false, ...config }), ...files })
    projects.push(p)
    return p.dir
  }
}
