import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeProject, nbs } from '../helpers/project.js'
import { looksLikeCommand, workflowCommands } from '../helpers/workflow-commands.js'

const projects: { cleanup(): void }[] = []
afterEach(() => projects.splice(0).forEach((p) => p.cleanup()))
const project = (checks: unknown[], config: Record<string, unknown> = {}) => {
  const p = makeProject({ 'nbs.config.json': JSON.stringify({ builtins: false, ...config }), 'checks/all.check.json': JSON.stringify(checks), 'summary.md': '# before nbs\n' })
  projects.push(p)
  return p.dir
}

// a check that prints runner commands, on stdout and stderr, also indented; then fails
const HOSTILE_SCRIPT = "printf '::set-output name=x::y\\n::add-mask::hunter2\\n   ::error::fake\\n##[set-output name=a;]b\\n'; printf '::warning::fake from stderr\\n' >&2; exit 1"
const CHECKS = [
  { id: 'warn-first', severity: 'warning', command: ['sh', '-c', 'echo soft; exit 1'] },
  { id: 'hostile', title: 'prints ::commands', command: ['sh', '-c', HOSTILE_SCRIPT] },
  { id: 'fine', command: ['true'] },
]
const ghEnv = (dir: string) => ({ GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(dir, 'summary.md') })

describe('github reporter under GitHub Actions (built CLI)', () => {
  it('with no reporters named: pretty lines, then annotations (errors first); the summary is appended; check output never reads as a command', async () => {
    const dir = project(CHECKS)
    const r = await nbs(['check'], { cwd: dir, env: ghEnv(dir) })
    expect(r.exitCode).toBe(1)
    const cmds = workflowCommands(r.stdout)
    expect(cmds.map((c) => [c.command, c.properties.title])).toEqual([
      ['error', 'hostile'],
      ['warning', 'warn-first'],
    ])
    // only those two lines are commands: the check's own `::set-output`, `::add-mask::`, indented
    // `::error::` and `##[` lines are shown (pretty's output tail) but neutralised
    const commandLines = r.stdout.split('\n').filter(looksLikeCommand)
    expect(commandLines).toHaveLength(2)
    expect(r.stdout).toContain('set-output name=x::y')
    expect(r.stdout.replaceAll('\u200B', '')).toContain('::add-mask::hunter2')
    // pretty's plain lines come first, the annotations after the run's summary
    expect(r.stdout).toMatch(/✗ hostile[\s\S]*Checks[\s\S]*\n::error /)
    const summary = readFileSync(join(dir, 'summary.md'), 'utf8')
    expect(summary.startsWith('# before nbs\n')).toBe(true)
    expect(summary).toContain('## nbs check: ❌ failed')
    expect(summary).toMatch(/\| ❌ \| hostile \| [^|]+ \| {2}\| /)
    expect(summary).toMatch(/\| ⚠️ \| warn-first \|/)
  })

  it('a passing run writes no annotations and a passed summary', async () => {
    const dir = project([{ id: 'fine', command: ['true'] }])
    const r = await nbs(['check'], { cwd: dir, env: ghEnv(dir) })
    expect(r.exitCode).toBe(0)
    expect(workflowCommands(r.stdout)).toEqual([])
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('## nbs check: ✅ passed')
  })

  it('named reporters win: no annotations unless `github` is named; TAP on stdout is guarded too', async () => {
    const dir = project(CHECKS)
    const r = await nbs(['check', '--reporter', 'tap'], { cwd: dir, env: ghEnv(dir) })
    expect(r.exitCode).toBe(1)
    expect(r.stdout.split('\n').filter(looksLikeCommand)).toEqual([])
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toBe('# before nbs\n')
    const config = project(CHECKS, { reporters: ['json:r.json'] })
    const c = await nbs(['check'], { cwd: config, env: ghEnv(config) })
    expect(workflowCommands(c.stdout)).toEqual([])
  })

  it('`--reporter github` alone keeps pretty on stdout; beside a machine format on stdout it is refused', async () => {
    const dir = project(CHECKS)
    const r = await nbs(['check', '--reporter', 'github'], { cwd: dir, env: { GITHUB_STEP_SUMMARY: join(dir, 'summary.md') } })
    expect(r.stdout).toContain('✗ hostile')
    expect(workflowCommands(r.stdout).map((c) => c.command)).toEqual(['error', 'warning'])
    const bad = await nbs(['check', '--reporter', 'github', '--reporter', 'json'], { cwd: dir })
    expect(bad.exitCode).toBe(3)
    expect(bad.stderr.trim()).toBe('nbs check: --reporter github writes workflow commands to stdout, which would break json; give json a :PATH')
  })

  it('a Nix error position becomes file/line/col', async () => {
    const p = makeProject({
      'nbs.config.json': JSON.stringify({ builtins: false }),
      'checks/eval.check.ts': `import { defineCheck } from 'nbs'\nexport default defineCheck({ id: 'flake-eval', phase: 'pre-build', run(ctx) { ctx.fail("undefined variable 'webRootPackage'", { file: 'hosts/web.nix', line: 6, column: 15 }) } })\n`,
      'summary.md': '',
    })
    projects.push(p)
    writeFileSync(join(p.dir, 'summary.md'), '')
    const r = await nbs(['check'], { cwd: p.dir, env: ghEnv(p.dir) })
    expect(r.stdout.split('\n').filter(looksLikeCommand)).toEqual(["::error file=hosts/web.nix,line=6,col=15,title=flake-eval::undefined variable 'webRootPackage'"])
    expect(readFileSync(join(p.dir, 'summary.md'), 'utf8')).toContain('| hosts/web.nix:6:15 |')
  })
})
