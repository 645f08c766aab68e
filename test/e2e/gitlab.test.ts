/**
 * The gitlab reporter through the built CLI: `nbs check --reporter gitlab:PATH` writes a Code Quality
 * report GitLab can read (see test/unit/reporters/gitlab.test.ts for GitLab's schema and parser
 * rules), with repository paths only, fingerprints that survive a second run, host-first names in
 * a fleet run and no secret.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CodeQualityIssue } from '../../src/reporters/gitlab.js'
import { jsonProjects } from '../helpers/json-projects.js'
import { nbs } from '../helpers/project.js'

const project = jsonProjects()

const CHECKS = JSON.stringify([
  { id: 'broken', command: ['sh', '-c', 'echo "took $$ ms at $(date +%s%N)"; exit 1'] },
  { id: 'soft', severity: 'warning', command: ['false'] },
  { id: 'fine', command: ['true'] },
])

const read = (dir: string, file = 'gl.json') => {
  const text = readFileSync(join(dir, file), 'utf8')
  return { text, issues: JSON.parse(text) as CodeQualityIssue[] }
}

describe('gitlab reporter (built CLI)', () => {
  it('a failed check (major) and a failed warning (minor), none for the passing check; repository paths; pretty keeps stdout; no temp file left', async () => {
    const dir = project({ 'checks/all.check.json': CHECKS, 'out/.keep': '' })
    const r = await nbs(['check', '--reporter', 'gitlab:out/gl.json'], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    expect(r.stdout).toContain('broken')
    const { text, issues } = read(dir, 'out/gl.json')
    expect(text.charCodeAt(0)).toBe('['.charCodeAt(0)) // no BOM
    expect(issues.map((i) => [i.check_name, i.severity, i.location])).toEqual([
      ['broken', 'major', { path: 'checks/all.check.json', lines: { begin: 1 } }],
      ['soft', 'minor', { path: 'checks/all.check.json', lines: { begin: 1 } }],
    ])
    for (const i of issues) {
      expect(i.description).toBe('exit code 1, expected 0')
      expect(i.fingerprint).toMatch(/^[0-9a-f]{64}$/)
    }
    // no absolute path anywhere in the file, not even the project's temp folder
    expect(text).not.toContain(dir)
    expect(issues.every((i) => !i.location.path.startsWith('/') && !i.location.path.startsWith('./'))).toBe(true)
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['.keep', 'gl.json'])
  })

  it('two runs give the same fingerprints (nothing from times or output in them); fixing a check removes its issue', async () => {
    const dir = project({ 'checks/all.check.json': CHECKS })
    await nbs(['check', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    const first = read(dir).issues
    await new Promise((res) => setTimeout(res, 20))
    await nbs(['check', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    const second = read(dir).issues
    expect(second.map((i) => i.fingerprint)).toEqual(first.map((i) => i.fingerprint))
    expect(new Set(first.map((i) => i.fingerprint)).size).toBe(2)
    // the warning fixed, the failure still there: GitLab sees one resolved, none new
    const fixed = project({ 'checks/all.check.json': JSON.stringify(JSON.parse(CHECKS).map((c: { id: string }) => (c.id === 'soft' ? { ...c, command: ['true'] } : c))) })
    await nbs(['check', '--reporter', 'gitlab:gl.json'], { cwd: fixed })
    expect(read(fixed).issues.map((i) => i.fingerprint)).toEqual([first[0]!.fingerprint])
  })

  it('a passed run writes []', async () => {
    const dir = project({ 'checks/a.check.json': JSON.stringify([{ id: 'fine', command: ['true'] }]) })
    const r = await nbs(['check', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(read(dir).text).toBe('[]\n')
  })

  it('a Nix error position becomes location.path and lines.begin; an absolute position falls back to the check file', async () => {
    const dir = project({
      'checks/eval.check.ts': `import { defineCheck } from 'nbs'\nexport default [
        defineCheck({ id: 'flake-eval', phase: 'pre-build', run(ctx) { ctx.fail("undefined variable 'webRootPackage'", { file: './hosts/web.nix', line: 6, column: 15 }) } }),
        defineCheck({ id: 'store-path', phase: 'pre-build', run(ctx) { ctx.fail('boom', { file: '/nix/store/0000000000000000000000000000000a-source/hosts/db.nix', line: 3 }) } }),
      ]\n`,
    })
    const r = await nbs(['check', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    const { text, issues } = read(dir)
    expect(issues.map((i) => [i.check_name, i.location.path, i.location.lines.begin])).toEqual([
      ['flake-eval', 'hosts/web.nix', 6],
      ['store-path', 'checks/eval.check.ts', 1],
    ])
    expect(text).not.toContain('/nix/store')
  })

  it('a secret in a failed check’s message does not reach the report (the scheduler redacts every report)', async () => {
    const password = randomBytes(12).toString('hex')
    const dir = project({
      'checks/api.check.mjs': `export default { id: 'api', run: () => ({ status: 'failed', message: 'login failed for postgresql://app:${password}@db.internal/app' }) }\n`,
    })
    const r = await nbs(['check', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    const { text, issues } = read(dir)
    expect(text).not.toContain(password)
    expect(issues[0]!.description).toContain('[REDACTED:')
    expect(issues[0]!.description).toContain('db.internal')
  })

  it('fleet run: check_name is `host: check`, one issue per host, and each host keeps its own fingerprint across runs', async () => {
    // hosts without a target: pre-build checks run here once per host; no ssh involved
    const dir = project(
      {
        'checks/all.check.json': JSON.stringify([
          { id: 'lint', phase: 'pre-build', command: ['false'] },
          { id: 'fine', phase: 'pre-build', command: ['true'] },
        ]),
      },
      { flake: './no-flake-here', hosts: { web1: {}, web2: {} } },
    )
    const r = await nbs(['check', '--on', '*', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    const first = read(dir).issues
    expect(first.map((i) => [i.check_name, i.severity, i.location.path])).toEqual([
      ['web1: lint', 'major', 'checks/all.check.json'],
      ['web2: lint', 'major', 'checks/all.check.json'],
    ])
    expect(first[0]!.fingerprint).not.toBe(first[1]!.fingerprint)
    await nbs(['check', '--on', '*', '--reporter', 'gitlab:gl.json'], { cwd: dir })
    expect(read(dir).issues.map((i) => i.fingerprint)).toEqual(first.map((i) => i.fingerprint))
  })

  it('gitlab without a path (command line or config) exits 3 with one line naming a path to give', async () => {
    const dir = project({ 'checks/a.check.json': CHECKS })
    const r = await nbs(['check', '--reporter', 'gitlab'], { cwd: dir })
    expect(r.exitCode).toBe(3)
    expect(r.stderr.trim().split('\n')).toEqual(['nbs check: --reporter gitlab: the gitlab reporter writes a file, not stdout; give it a path, e.g. gitlab:gl-code-quality-report.json'])
    const fromConfig = project({ 'checks/a.check.json': CHECKS }, { reporters: ['gitlab'] })
    const c = await nbs(['check'], { cwd: fromConfig })
    expect(c.exitCode).toBe(3)
    expect(c.stderr.trim().split('\n')).toHaveLength(1)
    expect(c.stderr.trim()).toMatch(/^nbs check: nbs\.config\.json: reporters: gitlab: the gitlab reporter writes a file, not stdout; give it a path/)
  })
})
