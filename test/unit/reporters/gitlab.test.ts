import Ajv from 'ajv'
import { describe, expect, it } from 'vitest'
import { codeQualityIssues, fingerprintOf, markdownText, renderCodeQuality, type CodeQualityIssue } from '../../../src/reporters/gitlab.js'
import type { CheckResult, RunReport } from '../../../src/report/types.js'
import { check, fixtures, fleetReport, report } from '../../helpers/report-fixtures.js'

/**
 * GitLab's acceptance rules for one Code Quality entry, written out from gitlabhq:
 * - `app/validators/json_schemas/codeclimate.json` (draft-07), which `CodequalityReports#valid_degradation?`
 *   applies to every entry: an object; `description`, `fingerprint`, `severity` strings and a
 *   `location` object required; `location.path` a string; `location.lines.begin` and
 *   `location.positions.begin.line` integers; other properties allowed;
 * - `doc/ci/testing/code_quality.md` ("Implement a custom tool"): `check_name` a string, `severity`
 *   one of info/minor/major/critical/blocker, `location.path` relative to the repository root,
 *   `location.lines.begin` (or `positions.begin.line`) the line — here required, since nbs always
 *   writes one and the parser builds a link from path and line (`code_climate.rb#web_url`).
 */
const gitlabSchema = {
  type: 'object',
  required: ['description', 'fingerprint', 'severity', 'location'],
  properties: {
    description: { type: 'string' },
    fingerprint: { type: 'string' },
    severity: { type: 'string' },
    location: {
      type: 'object',
      properties: {
        path: { type: 'string' },
        lines: { type: 'object', properties: { begin: { type: 'integer' } } },
        positions: { type: 'object', properties: { begin: { type: 'object', properties: { line: { type: 'integer' } } } } },
      },
    },
  },
  additionalProperties: true,
}
const documented = {
  type: 'object',
  required: ['description', 'check_name', 'fingerprint', 'severity', 'location'],
  properties: {
    check_name: { type: 'string', minLength: 1 },
    description: { type: 'string', minLength: 1 },
    severity: { enum: ['info', 'minor', 'major', 'critical', 'blocker'] },
    location: {
      type: 'object',
      required: ['path', 'lines'],
      properties: {
        // relative, no leading `./` or `/`, never leaving the tree
        path: { type: 'string', minLength: 1, not: { pattern: '^(/|\\./|\\.\\./)|/\\.\\./|^\\.\\.$' } },
        lines: { type: 'object', required: ['begin'], properties: { begin: { type: 'integer', minimum: 1 } } },
      },
    },
  },
}
const ajv = new Ajv({ allErrors: true, strict: false })
const validGitlab = ajv.compile(gitlabSchema)
const validDocumented = ajv.compile(documented)

/**
 * What GitLab keeps of a report file: `CodeClimate#parse_all` takes entries in order and stops at
 * the first that fails the schema; `CodequalityReports#add_degradation` keys them by fingerprint.
 */
function gitlabParse(text: string): { kept: Record<string, unknown>[]; byFingerprint: Map<string, unknown> } {
  expect(text.charCodeAt(0)).not.toBe(0xfeff) // "does not allow a byte order mark"
  const root = JSON.parse(text) as unknown[]
  expect(Array.isArray(root)).toBe(true)
  const kept: Record<string, unknown>[] = []
  for (const entry of root) {
    if (!validGitlab(entry)) break
    kept.push(entry as Record<string, unknown>)
  }
  return { kept, byFingerprint: new Map(kept.map((e) => [e.fingerprint as string, e])) }
}

/** Every entry passes both rule sets, GitLab keeps all of them, and none collapses into another. */
function expectAcceptedByGitlab(r: RunReport): CodeQualityIssue[] {
  const text = renderCodeQuality(r)
  const issues = JSON.parse(text) as CodeQualityIssue[]
  for (const issue of issues) {
    expect(validGitlab(issue), JSON.stringify(validGitlab.errors)).toBe(true)
    expect(validDocumented(issue), JSON.stringify(validDocumented.errors)).toBe(true)
    expect(issue.fingerprint).toMatch(/^[0-9a-f]{64}$/)
  }
  const { kept, byFingerprint } = gitlabParse(text)
  expect(kept).toHaveLength(issues.length)
  expect(byFingerprint.size).toBe(issues.length)
  return issues
}

const broken = (overrides: Partial<CheckResult> & { id: string }) => check({ status: 'failed', kind: 'CheckFailed', message: 'it broke', ...overrides })

describe('gitlab reporter: GitLab accepts every entry', () => {
  it.each(Object.keys(fixtures) as (keyof typeof fixtures)[])('fixture %s: valid under GitLab’s schema and documented fields, nothing dropped or collapsed', (name) => {
    expectAcceptedByGitlab(fixtures[name])
  })

  it('the rules are real: entries GitLab would reject fail them (so the test can fail)', () => {
    expect(validGitlab({ description: 'x', fingerprint: 'f', severity: 'major', location: { path: 'a', lines: { begin: '6' } } })).toBe(false)
    expect(validGitlab({ description: 'x', severity: 'major', location: { path: 'a' } })).toBe(false)
    expect(validDocumented({ description: 'x', check_name: 'c', fingerprint: 'f', severity: 'error', location: { path: 'a', lines: { begin: 1 } } })).toBe(false)
    expect(validDocumented({ description: 'x', check_name: 'c', fingerprint: 'f', severity: 'major', location: { path: '/abs/a.nix', lines: { begin: 1 } } })).toBe(false)
    expect(validDocumented({ description: 'x', check_name: 'c', fingerprint: 'f', severity: 'major', location: { path: './a.nix', lines: { begin: 1 } } })).toBe(false)
    // one bad entry loses every entry after it
    expect(gitlabParse(JSON.stringify([{ description: 'x', fingerprint: 'a', severity: 'major', location: {} }, { description: 1 }, { description: 'y', fingerprint: 'b', severity: 'major', location: {} }])).kept).toHaveLength(1)
  })

  it('hostile ids, hosts and messages still give valid entries: one-line, well-formed, capped descriptions', () => {
    const hostile = ['\u001b[31mred\u001b[0m', 'nul\0byte', 'lone \ud800', 'line\nbreak\r\nmore', '"quoted" \\ back', 'x'.repeat(5000), '', '   ']
    const r = fleetReport('*', [{ name: 'evil\nhost', target: 'this machine', checks: hostile.map((h, i) => broken({ id: `${h}#${i}`, message: h })) }])
    const issues = expectAcceptedByGitlab(r)
    expect(issues).toHaveLength(hostile.length)
    for (const i of issues) {
      expect(i.description).not.toMatch(/[\u0000-\u001f\u007f]/)
      expect(Buffer.byteLength(i.description)).toBeLessThanOrEqual(1024)
      expect(i.check_name).not.toContain('\n')
      expect(i.check_name.startsWith('evil host: ')).toBe(true)
    }
    expect(issues[0]!.description).toBe('red')
    expect(issues[2]!.description).toBe('lone \ufffd')
    expect(issues[3]!.description).toBe('line') // the first line only
    expect(issues[5]!.description).toContain('…[truncated ')
    expect(issues[6]!.description).toBe('check failed') // never empty
    expect(renderCodeQuality(r)).not.toContain('\\ud800')
  })
})

describe('gitlab reporter: what each issue says', () => {
  it('one issue per failed or errored check, errors before tolerated warnings; passed and skipped checks have none', () => {
    const r = report({
      lint: [broken({ id: 'deadnix', severity: 'warning', message: '3 unused bindings' }), check({ id: 'statix', status: 'skipped' })],
      build: [check({ id: 'ok' }), broken({ id: 'toplevel', status: 'errored', kind: 'Timeout', message: 'timed out after 300s' })],
      health: [broken({ id: 'nginx', message: 'nginx.service is failed' })],
    })
    expect(codeQualityIssues(r).map((i) => [i.check_name, i.severity, i.description])).toEqual([
      ['toplevel', 'major', 'timed out after 300s'],
      ['nginx', 'major', 'nginx.service is failed'],
      ['deadnix', 'minor', '3 unused bindings'],
    ])
  })

  it('severity: major when the check fails the run, minor for a warning the run tolerates, major again under --fail-on warning', () => {
    const warn = broken({ id: 'deadnix', severity: 'warning' })
    expect(codeQualityIssues(report({ lint: [warn] }))[0]!.severity).toBe('minor')
    expect(codeQualityIssues(report({ lint: [warn] }, { failOn: 'warning' }))[0]!.severity).toBe('major')
    expect(codeQualityIssues(report({ lint: [broken({ id: 'x', status: 'errored' })] }))[0]!.severity).toBe('major')
  })

  it('a passed run (or one with only skips) writes an empty array', () => {
    expect(renderCodeQuality(fixtures.passed)).toBe('[]\n')
    expect(renderCodeQuality(fixtures.skipped)).toBe('[]\n')
    expect(renderCodeQuality(fixtures.zero)).toBe('[]\n')
  })

  it('fleet runs: check_name is `host: check`, and the same check on two hosts is two issues', () => {
    const issues = codeQualityIssues(fixtures.fleet)
    expect(issues.map((i) => i.check_name)).toEqual(['web2: failed-units', 'db1: reachable'])
    const r = fleetReport('web*', [
      { name: 'web1', target: 'this machine', checks: [broken({ id: 'nginx' })] },
      { name: 'web2', target: 'this machine', checks: [broken({ id: 'nginx' })] },
    ])
    const two = expectAcceptedByGitlab(r)
    expect(two.map((i) => i.check_name)).toEqual(['web1: nginx', 'web2: nginx'])
    expect(two[0]!.fingerprint).not.toBe(two[1]!.fingerprint)
  })

  it('content.body is the description as literal Markdown (no links, images, mentions or HTML)', () => {
    const [issue] = codeQualityIssues(report({ x: [broken({ id: 'x', message: '![img](http://e.x/p.png) <b>@root</b> #1 `code` *em*' })] }))
    expect(issue!.content.body).toBe('\\!\\[img\\](http\\://e.x/p.png) \\<b\\>\\@root\\</b\\> \\#1 \\`code\\` \\*em\\*')
    expect(markdownText('a, b. c-d')).toBe('a, b. c-d')
  })
})

describe('gitlab reporter: location', () => {
  const loc = (r: Partial<CheckResult>) => codeQualityIssues(report({ x: [broken({ id: 'c', ...r })] }))[0]!.location

  it('the Nix error position when it is a repository path (Nix ≥ 2.20 `file:line:col` too), without `./`', () => {
    expect(loc({ details: { file: 'hosts/web.nix', line: 6, column: 15 } })).toEqual({ path: 'hosts/web.nix', lines: { begin: 6 } })
    expect(loc({ details: { file: './hosts/web.nix', line: 6 } })).toEqual({ path: 'hosts/web.nix', lines: { begin: 6 } })
    expect(loc({ details: { errors: [{ file: 'modules/a.nix:12:3' }] } })).toEqual({ path: 'modules/a.nix', lines: { begin: 12 } })
  })

  it('else the check’s own file at line 1: an absolute path, a store path or a path leaving the tree is never written', () => {
    const source = { source: 'checks/web.check.ts' }
    for (const file of ['/nix/store/abc-source/hosts/web.nix', '/etc/nixos/flake.nix', '../outside.nix', 'a/../../b.nix', 'bad\nname.nix']) {
      expect(loc({ ...source, details: { file, line: 6 } }), file).toEqual({ path: 'checks/web.check.ts', lines: { begin: 1 } })
    }
    expect(loc({ source: './checks/web.check.ts' })).toEqual({ path: 'checks/web.check.ts', lines: { begin: 1 } })
  })

  it('a check with no file in the repository (built-in, the reachable step, a plugin outside the project) points at flake.nix line 1', () => {
    for (const source of ['nbs:checks/flake-eval.check.ts', 'nbs:reachable', '/usr/lib/node_modules/nbs-plugin-x/index.js']) {
      expect(loc({ source }), source).toEqual({ path: 'flake.nix', lines: { begin: 1 } })
    }
  })
})

describe('gitlab reporter: fingerprints', () => {
  const fp = (r: Partial<CheckResult>, opts: Parameters<typeof report>[1] = {}) => codeQualityIssues(report({ x: [broken({ id: 'nginx', ...r })] }, opts))[0]!.fingerprint

  it('sha256 of host, check id and path: the same problem keeps its fingerprint whatever the time, output, message, line or severity', () => {
    const base = fp({ details: { file: 'hosts/web.nix', line: 6 } })
    expect(base).toBe(fingerprintOf('testhost', 'nginx', 'hosts/web.nix'))
    expect(fp({ details: { file: 'hosts/web.nix', line: 60, column: 2 }, startedAt: '2030-01-01T00:00:00.000Z', durationMs: 9999, message: 'other text', stdout: { text: 'x', bytes: 1, truncated: false } })).toBe(base)
    expect(fp({ details: { file: 'hosts/web.nix', line: 6 }, status: 'errored', severity: 'warning' })).toBe(base)
    expect(fp({ details: { file: 'hosts/web.nix', line: 6 } }, { failOn: 'warning', overrides: { startedAt: '2031-01-01T00:00:00Z', durationMs: 1 } })).toBe(base)
  })

  it('differs by host, check id and file', () => {
    const base = fingerprintOf('web1', 'nginx', 'hosts/web.nix')
    expect(new Set([base, fingerprintOf('web2', 'nginx', 'hosts/web.nix'), fingerprintOf('web1', 'sshd', 'hosts/web.nix'), fingerprintOf('web1', 'nginx', 'hosts/db.nix')]).size).toBe(4)
    // no ambiguity from joining: ("a:b", "c") is not ("a", "b:c")
    expect(fingerprintOf('a:b', 'c', 'p')).not.toBe(fingerprintOf('a', 'b:c', 'p'))
  })

  it('a duplicated check id stays two issues (GitLab keeps one per fingerprint), each stable by its order', () => {
    const r = report({ build: [broken({ id: 'toplevel' }), broken({ id: 'toplevel' })] })
    const issues = expectAcceptedByGitlab(r)
    expect(issues).toHaveLength(2)
    expect(issues.map((i) => i.fingerprint)).toEqual(codeQualityIssues(r).map((i) => i.fingerprint))
  })
})
