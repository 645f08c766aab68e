import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeProject, nbs, REPO_ROOT } from '../helpers/project.js'

/** The README's complete examples: fenced blocks whose first line is `// file: <path>`. */
function readmeFiles(section: string): Record<string, string> {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf(`## ${section}`)
  const end = readme.indexOf('\n## ', start + 3)
  const files: Record<string, string> = {}
  for (const m of readme.slice(start, end).matchAll(/```ts\n\/\/ file: (\S+)\n([\s\S]*?)```/g)) files[m[1]!] = m[2]!
  return files
}

const projects: { cleanup(): void }[] = []
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))

describe('README examples run as documented', () => {
  it('"Writing a check": both forms load and run', async () => {
    const files = readmeFiles('Writing a check')
    expect(Object.keys(files)).toEqual(['checks/host.check.ts'])
    const p = makeProject({ ...files, 'nbs.config.json': JSON.stringify({ builtins: false }) })
    projects.push(p)
    const r = await nbs(['check', '--reporter', 'json'], { cwd: p.dir })
    expect(r.stderr).toBe('')
    const checks = JSON.parse(r.stdout).phases.flatMap((ph: { checks: unknown[] }) => ph.checks)
    expect(checks).toMatchObject([
      { id: 'kernel-is-linux', status: 'passed', phase: 'pre-build' },
      { id: 'load-average', status: 'passed', severity: 'warning', message: expect.stringMatching(/^load [\d.]+$/) },
    ])
  })

  it('"Writing a plugin": the plugin, its options, reporter and hook work from nbs.config.ts', async () => {
    const files = readmeFiles('Writing a plugin')
    expect(Object.keys(files).sort()).toEqual(['nbs.config.ts', 'plugins/team/index.ts'])
    const p = makeProject(files)
    projects.push(p)
    const r = await nbs(['check', '--reporter', 'json', '--reporter', 'team/count:count.txt'], { cwd: p.dir })
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout).phases.at(-1).checks[0]).toMatchObject({ id: 'team/users-exist', status: 'passed', message: '1 accounts present' })
    expect(readFileSync(join(p.dir, 'count.txt'), 'utf8')).toBe('1/1 passed\n')
    // the hook speaks when the run fails: ask for an account that does not exist
    const config = files['nbs.config.ts']!.replace("users: ['root']", "users: ['root', 'nbs-no-such-user']")
    const q = makeProject({ ...files, 'nbs.config.ts': config })
    projects.push(q)
    const failed = await nbs(['check'], { cwd: q.dir })
    expect(failed.exitCode).toBe(1)
    expect(failed.stdout).toContain('missing accounts: nbs-no-such-user')
    expect(failed.stderr).toContain('[team] 1 checks failed')
  })
})
