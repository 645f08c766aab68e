/**
 * The published shape, not the work tree: `npm pack` this repository, install the tarball globally
 * into a scratch prefix (as `npm install -g nixos-build-status` would), then use that `nbs` in a
 * fresh project under the system's temp folder — no node_modules anywhere up its tree, and a PATH
 * with node and nix but not this repository's node_modules/.bin. The project has a TypeScript
 * config, TypeScript checks importing from 'nixos-build-status' and from the alias 'nbs', a JSON
 * check and a local plugin; the built-in checks come from the installed package and run against an
 * input-less flake with real Nix.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { REPO_ROOT } from '../helpers/project.js'
import { NIX_ENV } from '../helpers/nix.js'
import { needs } from '../helpers/real.js'

const NAME = 'nixos-build-status'
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** What the tarball holds, by top-level entry: what running nbs (and a library user) needs. */
const TOP_LEVEL = ['LICENSE', 'README.md', 'checks', 'dist', 'package.json', 'schemas']

/** npm's own settings from the `npm test` that runs us (npm_config_*) must not steer the install. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^npm_/i.test(k) && k !== 'NODE_PATH' && k !== 'INIT_CWD') env[k] = v
  return { ...env, ...extra }
}

let scratch = ''
let tarball = ''
let tarFiles: string[] = []
let packInfo: { size: number; unpackedSize: number; entryCount: number } | undefined
let prefix = ''
let bin = ''
let installed = ''
let env: Record<string, string> = {}

/** `nbs` as a user runs it: the installed one, by name on PATH, never rejecting. */
const nbs = (args: string[], cwd: string) => execa(bin, args, { cwd, env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 120_000 })

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, 'project-'))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

const CONFIG = `import { defineConfig } from 'nixos-build-status'

const host: string = 'demo'
export default defineConfig({
  flake: './flake',
  host,
  nixOptions: { substituters: '' },
  plugins: [['./team-plugin.ts', { greeting: 'hello' }]],
})
`
const TYPED_CHECK = `import { defineCheck, z } from 'nixos-build-status'

export default defineCheck({
  id: 'typed',
  phase: 'pre-build',
  options: z.object({ n: z.number().default(2) }),
  run(ctx) {
    const n: number = ctx.options.n
    return { message: 'n=' + n }
  },
})
`
// the alias and the npm name are one library: one instance of defineCheck, not two copies
const ALIAS_CHECK = `import { defineCheck as viaAlias } from 'nbs'
import { defineCheck } from 'nixos-build-status'

export default viaAlias({
  id: 'alias',
  phase: 'pre-build',
  run: () => {
    if (viaAlias !== defineCheck) throw new Error('two copies of the library')
    return { message: 'one library' }
  },
})
`
const PLUGIN = `import { defineCheck, definePlugin, z } from 'nixos-build-status'

export default definePlugin({
  name: 'team',
  options: z.object({ greeting: z.string() }),
  checks: [defineCheck({ id: 'greets', phase: 'pre-build', run: (ctx) => ({ message: (ctx.pluginOptions as { greeting: string }).greeting }) })],
  reporters: { count: ({ sink }) => ({ onRunEnd: (report) => sink.write(report.summary.passed + '/' + report.summary.total + '\\n') }) },
})
`

needs('npm', 'nix').describe('the npm package, packed and installed globally', () => {
  beforeAll(async () => {
    scratch = realpathSync(mkdtempSync(join(tmpdir(), 'nbs-package-')))
    // --ignore-scripts: `prepare` would rebuild dist/ under the other test files that run it; the
    // suite builds before it runs
    const pack = await execa('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: REPO_ROOT, env: cleanEnv(), extendEnv: false })
    const [packed] = JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; entryCount: number }[]
    packInfo = packed
    tarball = join(scratch, packed!.filename)
    tarFiles = (await execa('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean)
    prefix = join(scratch, 'prefix')
    // dependencies from the cache `npm ci` filled (the registry only for what it lacks)
    await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], {
      cwd: scratch,
      env: cleanEnv(),
      extendEnv: false,
      timeout: 180_000,
    })
    bin = join(prefix, 'bin', 'nbs')
    installed = join(prefix, 'lib', 'node_modules', NAME)
    const nixDir = (process.env.PATH ?? '').split(delimiter).find((d) => d && !d.includes('node_modules') && existsSync(join(d, 'nix')))
    const path = [join(prefix, 'bin'), dirname(process.execPath), nixDir!, '/usr/sbin', '/usr/bin', '/sbin', '/bin']
    env = { PATH: [...new Set(path)].join(delimiter), HOME: process.env.HOME ?? scratch, NO_COLOR: '1', ...NIX_ENV }
  }, 240_000)
  afterAll(async () => {
    if (!scratch) return
    rmSync(scratch, { recursive: true, force: true })
    // `npm exec --package <tarball>` installed it into npm's npx folder: remove that install (ours
    // only: the one whose package.json names this run's tarball), or every run leaves ~16 MB behind
    const cache = (await execa('npm', ['config', 'get', 'cache'], { env: cleanEnv(), extendEnv: false, reject: false })).stdout.trim()
    const npx = join(cache, '_npx')
    for (const entry of existsSync(npx) ? readdirSync(npx) : []) {
      try {
        if (readFileSync(join(npx, entry, 'package.json'), 'utf8').includes(scratch)) rmSync(join(npx, entry), { recursive: true, force: true })
      } catch {
        // not an install (or gone meanwhile)
      }
    }
  })

  it("the README's size and file count of the package are those of the tarball (within 5%)", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
    const m = /about (\d+) KB packed \(([\d.]+) MB unpacked, (\d+) files/.exec(readme)
    expect(m, 'README: "about N KB packed (X MB unpacked, F files"').not.toBeNull()
    const near = (said: number, real: number) => expect(Math.abs(said - real) / real, `README says ${said}, the tarball has ${real}`).toBeLessThan(0.05)
    near(Number(m![1]) * 1000, packInfo!.size)
    near(Number(m![2]) * 1e6, packInfo!.unpackedSize)
    near(Number(m![3]), packInfo!.entryCount)
  })

  it('the tarball holds what running needs and nothing else', () => {
    const files = tarFiles.map((f) => f.replace(/^package\//, ''))
    expect([...new Set(files.map((f) => f.split('/')[0]))].sort()).toEqual(TOP_LEVEL)
    // so no test/, bench/, examples/, plugins/ (examples to copy), nix/ or src/; and nothing test-shaped deeper down
    expect(files.filter((f) => /(^|\/)(test|tests|__tests__|bench|fixtures|node_modules)\/|\.test\.[cm]?[jt]s$/.test(f))).toEqual([])
    expect(files.filter((f) => /\.(map|tsbuildinfo)$/.test(f))).toEqual([])
    // the CLI is one bundled file; tsc's copies of its modules and the build-only schema writer stay out
    expect(files.filter((f) => f.startsWith('dist/cli/') || f.startsWith('dist/schemas/'))).toEqual(['dist/cli/index.js'])
    expect(files).toEqual(expect.arrayContaining(['dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'checks/flake-eval.check.ts', 'schemas/check.schema.json', 'schemas/config.schema.json']))
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string> }
    expect(pkg.name).toBe(NAME)
    expect(pkg.bin).toEqual({ nbs: 'dist/cli.js' })
  })

  it('installs the command `nbs`, which answers --version with nbs/<version>', async () => {
    expect(realpathSync(bin)).toBe(join(realpathSync(installed), 'dist', 'cli.js'))
    const r = await nbs(['--version'], scratch)
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe(`nbs/${version}`)
    // what `npx nixos-build-status …` runs: the package's only bin, whatever its name
    const npx = await execa('npm', ['exec', '--yes', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--package', tarball, '--', 'nbs', '--version'], {
      cwd: scratch,
      env: cleanEnv(),
      extendEnv: false,
      timeout: 180_000,
      reject: false,
    })
    expect(npx.stdout.trim()).toBe(`nbs/${version}`)
  }, 200_000)

  it('in a project with no node_modules: list, check (exit 0 and 1) and report files', async () => {
    const dir = project({
      'nbs.config.ts': CONFIG,
      'flake/flake.nix': readFileSync(join(REPO_ROOT, 'examples/demo/flake.nix'), 'utf8'),
      'checks/typed.check.ts': TYPED_CHECK,
      'checks/alias.check.ts': ALIAS_CHECK,
      'checks/kernel.check.json': JSON.stringify({
        $schema: join(installed, 'schemas/check.schema.json'),
        id: 'kernel',
        phase: 'pre-build',
        command: ['uname', '-s'],
        expect: { stdout: { contains: 'Linux' } },
      }),
      'team-plugin.ts': PLUGIN,
      'out/.keep': '',
    })
    for (let d = dir; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules')), `${d}/node_modules`).toBe(false)
    expect(existsSync(join(installed, 'schemas/check.schema.json'))).toBe(true)

    const list = await nbs(['list', '--json'], dir)
    expect(list.stderr).toBe('')
    expect(list.exitCode).toBe(0)
    const listed = (JSON.parse(list.stdout) as { checks: { id: string; source: string }[] }).checks
    expect(listed.map((c) => c.id).sort()).toEqual(
      ['alias', 'build', 'dry-build', 'failed-units', 'flake-eval', 'generation-sync', 'journal-errors', 'kernel', 'team/greets', 'typed'].sort(),
    )
    expect(listed.find((c) => c.id === 'flake-eval')!.source).toBe('nbs:checks/flake-eval.check.ts')

    const ok = await nbs(['check', '--reporter', 'junit:out/report.xml', '--reporter', 'json:out/report.json', '--reporter', 'team/count:out/count.txt'], dir)
    expect(ok.stderr).toBe('')
    expect(ok.exitCode).toBe(0)
    const report = JSON.parse(readFileSync(join(dir, 'out/report.json'), 'utf8')) as { tool: unknown; phases: { checks: { id: string; status: string; message?: string }[] }[] }
    expect(report.tool).toEqual({ name: 'nbs', version })
    const byId = Object.fromEntries(report.phases.flatMap((p) => p.checks).map((c) => [c.id, c]))
    expect(byId).toMatchObject({
      typed: { status: 'passed', message: 'n=2' },
      alias: { status: 'passed', message: 'one library' },
      kernel: { status: 'passed' },
      'team/greets': { status: 'passed', message: 'hello' },
      // the built-ins, loaded from the installed package, with the real Nix
      'flake-eval': { status: 'passed', message: expect.stringMatching(/^\/nix\/store\/\w{32}-nixos-system-demo-24\.05\.nbs\.drv$/) },
      'dry-build': { status: 'passed' },
    })
    const junit = readFileSync(join(dir, 'out/report.xml'), 'utf8')
    expect(junit).toMatch(/^<\?xml/)
    expect(junit).toContain('name="alias"')
    expect(readFileSync(join(dir, 'out/count.txt'), 'utf8')).toMatch(/^(\d+)\/\d+\n$/)

    writeFileSync(join(dir, 'checks/broken.check.json'), JSON.stringify({ id: 'broken', phase: 'pre-build', command: ['false'] }))
    const failed = await nbs(['check', '--reporter', 'json:out/failed.json'], dir)
    expect(failed.exitCode).toBe(1)
    const failedReport = JSON.parse(readFileSync(join(dir, 'out/failed.json'), 'utf8')) as { status: string; phases: { checks: { id: string; status: string }[] }[] }
    expect(failedReport.status).toBe('failed')
    expect(failedReport.phases.flatMap((p) => p.checks).find((c) => c.id === 'broken')).toMatchObject({ status: 'failed' })
  }, 180_000)

  it('an invalid TypeScript config: exit 3 and one line naming the file and field', async () => {
    const dir = project({ 'nbs.config.ts': `import { defineConfig } from 'nixos-build-status'\nexport default defineConfig({ concurrency: 'lots' } as never)\n` })
    const r = await nbs(['check'], dir)
    expect(r.exitCode).toBe(3)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('nbs.config.ts')
    expect(r.stderr).toContain('concurrency')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })
})
