/**
 * Errors point at the line in the flake (issue 13, point 2), through the built CLI and real Nix:
 * the store copy Nix reports becomes the checkout's file in pretty, JUnit (`--junit-file-attributes`
 * or the config's reporter options), GitHub annotations and the JSON report.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import type { RunReport } from '../../src/report/types.js'
import { xmllintValidate, xpath, XSDS } from '../helpers/consumers.js'
import { NIX_ENV } from '../helpers/nix.js'
import { nbs } from '../helpers/project.js'
import { needs } from '../helpers/real.js'
import { scratch } from '../helpers/scratch.js'
import { workflowCommands } from '../helpers/workflow-commands.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/flakes/eval-error-in-module', import.meta.url))
const tmp = scratch('nbs-locations-')

/** A project folder holding a copy of the fixture flake (no git around it) and an isolated config. */
function project(config: Record<string, unknown> = {}): string {
  const dir = tmp.fresh()
  cpSync(FIXTURE, dir, { recursive: true })
  writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ flake: '.', ...config }))
  return dir
}

const run = (args: string[], cwd: string, env: Record<string, string> = {}) => nbs(['check', '--only', 'flake-eval', ...args], { cwd, env: { ...NIX_ENV, ...env } })

needs('nix').describe('errors point at the line in the flake (real Nix)', () => {
  it('pretty: `file:line:col: message` and Nix\'s code frame, for a module file and for a path: input', async () => {
    const dir = project()
    const web = await run(['--host', 'web'], dir)
    expect(web.exitCode).toBe(1)
    expect(web.stdout).toContain("    hosts/web.nix:6:14: undefined variable 'webRootPackage'")
    expect(web.stdout).toMatch(/^ +6\| +PATH = \[ webRootPackage \];$/m)
    expect(web.stdout).not.toContain('/nix/store/')
    // the input's flake.nix, not the outer flake.nix of the same name
    const api = await run(['--host', 'api'], dir)
    expect(api.stdout).toContain('    lib/flake.nix:8:16: value is a string while a set was expected')
  })

  it('JUnit: no file attributes by default (valid under both XSDs); `--junit-file-attributes` adds file and line', async () => {
    const dir = project()
    await run(['--host', 'web', '--reporter', 'junit:plain.xml'], dir)
    const plain = join(dir, 'plain.xml')
    for (const xsd of [XSDS.ant, XSDS.jenkins]) expect(xmllintValidate([plain], xsd).status).toBe(0)
    expect(xpath(plain, 'count(//testcase[@file])')).toBe('0')

    const r = await run(['--host', 'web', '--reporter', 'junit:rich.xml', '--junit-file-attributes'], dir)
    expect(r.exitCode).toBe(1)
    const rich = join(dir, 'rich.xml')
    expect(xpath(rich, 'string(//testcase[failure]/@file)')).toBe('hosts/web.nix')
    expect(xpath(rich, 'string(//testcase[failure]/@line)')).toBe('6')
    // well-formed, and only the two attributes stand between it and the XSDs
    expect(spawnSync('xmllint', ['--noout', rich]).status).toBe(0)
  })

  it("the config's `[spec, options]` form; bad options are one line and exit 3", async () => {
    const dir = project({ reporters: [['junit:r.xml', { fileAttributes: true }], 'json:r.json'] })
    const r = await run(['--host', 'api'], dir)
    expect(r.exitCode).toBe(1)
    expect(xpath(join(dir, 'r.xml'), 'string(//testcase[failure]/@file)')).toBe('lib/flake.nix')
    expect(xpath(join(dir, 'r.xml'), 'string(//testcase[failure]/@line)')).toBe('8')
    // the JSON report: the checkout path, and Nix's own store path beside it
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as RunReport
    const details = report.phases.flatMap((p) => p.checks).find((c) => c.id === 'flake-eval')!.details as Record<string, unknown>
    expect(details.file).toBe('lib/flake.nix')
    expect(details.storeFile).toMatch(/^\/nix\/store\/[0-9a-z]{32}-source\/flake\.nix$/)

    const typo = project({ reporters: [['junit:r.xml', { fileAttribute: true }]] })
    const bad = await run(['--host', 'api'], typo)
    expect(bad.exitCode).toBe(3)
    expect(bad.stderr.trim().split('\n')).toHaveLength(1)
    expect(bad.stderr).toMatch(/nbs\.config\.json: reporters: junit:r\.xml: invalid options: .*fileAttribute/)
    const none = project({ reporters: [['tap:r.tap', { fileAttributes: true }]] })
    const refused = await run(['--host', 'api'], none)
    expect(refused.exitCode).toBe(3)
    expect(refused.stderr.trim()).toBe('nbs check: nbs.config.json: reporters: tap:r.tap: the tap reporter takes no options; remove fileAttributes')
  })

  it('GitHub annotations carry file, line and column', async () => {
    const dir = project()
    writeFileSync(join(dir, 'summary.md'), '')
    const r = await run(['--host', 'web'], dir, { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(dir, 'summary.md') })
    expect(workflowCommands(r.stdout).map((c) => [c.command, c.properties.file, c.properties.line, c.properties.col])).toEqual([['error', 'hosts/web.nix', '6', '14']])
  })
})

needs('nix', 'git').describe('a flake in a folder of a git repository (real Nix, real git)', () => {
  it('paths are relative to the repository root, for path: and git+file:?dir= references alike', async () => {
    const repo = tmp.fresh()
    cpSync(FIXTURE, join(repo, 'infra'), { recursive: true })
    const git = (...args: string[]) => spawnSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' })
    git('init', '-q')
    git('add', '-A')
    expect(git('commit', '-qm', 'fixture').status).toBe(0)
    writeFileSync(join(repo, 'nbs.config.json'), JSON.stringify({ builtins: true }))
    for (const flake of ['./infra', `git+file://${repo}?dir=infra`]) {
      const r = await run(['--flake', flake, '--host', 'web'], repo)
      expect(r.stdout, flake).toContain("infra/hosts/web.nix:6:14: undefined variable 'webRootPackage'")
    }
  })
})
