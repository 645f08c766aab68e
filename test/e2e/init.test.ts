/**
 * `nbs init` end to end: the built CLI on copies of fixture flakes, real Nix offline for the host
 * names, and then the generated config and example check used by `nbs list` and `nbs check`
 * exactly as `nbs init` told the user to run them.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fixtureFlakeDir, NIX_ENV } from '../helpers/nix.js'
import { CLI, nbs } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const tmp = mkdtempSync(join(tmpdir(), 'nbs-init-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let seq = 0
/** a fresh copy of a fixture flake, outside any git repository */
const copyFlake = (name: string, extra: Record<string, string> = {}) => {
  const dir = join(tmp, `${name}-${++seq}`)
  cpSync(fixtureFlakeDir(name), dir, { recursive: true })
  for (const [file, content] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), content)
  }
  return dir
}
const realNix = spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix'
const withNix = { ...NIX_ENV, PATH: `${dirname(process.execPath)}:${dirname(realNix)}:/usr/bin:/bin`, GITLAB_CI: '' }
/** every file under dir with its size and mtime: "nothing changed" is a comparison of two of these */
const snapshot = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((f) => {
      const s = statSync(join(dir, f))
      return `${f} ${s.isDirectory() ? 'dir' : s.size} ${s.mtimeMs}`
    })
/** the commands nbs init printed under "Next", as argv */
const nextCommands = (stdout: string) =>
  stdout
    .split('\n')
    .slice(stdout.split('\n').findIndex((l) => l.startsWith('Next')) + 1)
    .filter((l) => l.trim())
    .map((l) => l.split('#')[0]!.trim().split(/\s+/))

/** the inventory fixture with only one nixosConfiguration: the good fixture's demo */
const oneHostFlake = (extra: Record<string, string> = {}) => {
  const dir = copyFlake('good', extra)
  const flake = readFileSync(join(dir, 'flake.nix'), 'utf8')
  writeFileSync(join(dir, 'flake.nix'), flake.replace(/^.*nixosConfigurations\."demo\.example".*$/m, ''))
  return dir
}

needs('nix').describe('nbs init in a flake', () => {
  it('GitHub: writes the config with every nixosConfigurations name (none evaluated) and the example check; both load', async () => {
    const dir = copyFlake('inventory', { '.github/workflows/ci.yml': 'on: push\n' })
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toContain('wrote nbs.config.ts (5 hosts: cache, db-1, laptop, web-1, web-2; reporters for GitHub Actions)')
    expect(r.stdout).toContain('wrote checks/flake-inputs-age.check.ts (an example check)')
    expect(r.stdout).not.toContain('git add')
    expect(nextCommands(r.stdout)).toEqual([['nbs', 'list'], ['nbs', 'check'], ['nbs', 'check', '--host', 'cache']])
    const config = readFileSync(join(dir, 'nbs.config.ts'), 'utf8')
    expect(config).toContain("import { defineConfig } from 'nixos-build-status'")
    expect(config).toContain("flake: '.'")
    expect(config).toMatch(/hosts: \{\n {4}cache: \{\},\n {4}'db-1': \{\},\n {4}laptop: \{\},\n {4}'web-1': \{\},\n {4}'web-2': \{\},\n {2}\}/)
    // only deploy-rs and colmena know edge-1 and backup: not nixosConfigurations names
    expect(config).not.toContain('edge-1')
    expect(config).toContain("['pretty', 'github', 'junit:nbs-junit.xml']")
    expect(readFileSync(join(dir, 'checks/flake-inputs-age.check.ts'), 'utf8')).toContain("from 'nixos-build-status'")

    // the config is read: its hosts are the inventory's config source
    const hosts = await nbs(['hosts', '--json'], { cwd: dir, env: withNix })
    expect(hosts.exitCode, hosts.stderr).toBe(0)
    const laptop = (JSON.parse(hosts.stdout) as { name: string; seenIn: string[] }[]).find((h) => h.name === 'laptop')
    expect(laptop?.seenIn).toEqual(['config', 'nixosConfigurations'])

    const list = await nbs(['list'], { cwd: dir, env: withNix })
    expect(list.exitCode, list.stderr).toBe(0)
    expect(list.stdout).toMatch(/flake-inputs-age .*checks\/flake-inputs-age\.check\.ts/)
    expect(list.stdout).toContain('flake-eval')

    // in Actions: pretty, github's job summary, and the JUnit file
    const summary = join(tmp, `summary-${seq}.md`)
    const ci = await nbs(['check', '--only', 'flake-inputs-age'], { cwd: dir, env: { ...withNix, GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } })
    expect(ci.exitCode, ci.stdout + ci.stderr).toBe(0)
    expect(ci.stdout).toMatch(/✓ flake-inputs-age .*no flake\.lock/)
    expect(readFileSync(join(dir, 'nbs-junit.xml'), 'utf8')).toContain('name="flake-inputs-age: ')
    expect(readFileSync(summary, 'utf8')).toContain('## nbs check: ✅ passed')
  })

  it('GitLab: the three commands it prints pass, and in GitLab CI they write JUnit with file attributes and Code Quality', async () => {
    const dir = oneHostFlake({ '.gitlab-ci.yml': 'nbs:\n  script: [nbs check]\n' })
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain('wrote nbs.config.ts (1 host: demo; reporters for GitLab CI)')
    const config = readFileSync(join(dir, 'nbs.config.ts'), 'utf8')
    expect(config).toContain("host: 'demo'")
    expect(config).toContain("['junit:nbs-junit.xml', { fileAttributes: true }], 'gitlab:gl-code-quality-report.json'")
    const commands = nextCommands(r.stdout)
    expect(commands).toEqual([['nbs', 'list'], ['nbs', 'check'], ['nbs', 'check']])
    for (const [, ...args] of commands) {
      const run = await nbs(args, { cwd: dir, env: withNix })
      expect(run.exitCode, `${args.join(' ')}: ${run.stdout}${run.stderr}`).toBe(0)
    }
    // outside GitLab no report files are left in the project
    expect(existsSync(join(dir, 'nbs-junit.xml'))).toBe(false)
    const ci = await nbs(['check'], { cwd: dir, env: { ...withNix, GITLAB_CI: 'true' } })
    expect(ci.exitCode, ci.stdout + ci.stderr).toBe(0)
    expect(ci.stdout).toMatch(/✓ flake-eval/)
    expect(ci.stdout).toMatch(/✓ flake-inputs-age/)
    expect(readFileSync(join(dir, 'nbs-junit.xml'), 'utf8')).toMatch(/<testcase [^>]*name="flake-inputs-age: [^>]*file="checks\/flake-inputs-age\.check\.ts"/)
    expect(JSON.parse(readFileSync(join(dir, 'gl-code-quality-report.json'), 'utf8'))).toEqual([])
  })

  it('no CI: no reporters; the example check is real: a stale flake.lock input is a warning, a failure with --fail-on warning', async () => {
    const old = Math.floor(Date.now() / 1000) - 200 * 86400
    const fresh = Math.floor(Date.now() / 1000) - 3 * 86400
    const lock = { version: 7, root: 'root', nodes: { root: { inputs: { nixpkgs: 'nixpkgs', utils: 'utils' } }, nixpkgs: { locked: { lastModified: old, type: 'github' } }, utils: { locked: { lastModified: fresh, type: 'github' } } } }
    const dir = oneHostFlake()
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readFileSync(join(dir, 'nbs.config.ts'), 'utf8')).not.toMatch(/^\s*reporters:/m)
    writeFileSync(join(dir, 'flake.lock'), JSON.stringify(lock))
    const warn = await nbs(['check', '--only', 'flake-inputs-age'], { cwd: dir, env: withNix })
    expect(warn.exitCode, warn.stdout).toBe(0)
    expect(warn.stdout).toContain('nixpkgs (200 days) not updated for more than 90 days: run nix flake update')
    const strict = await nbs(['check', '--only', 'flake-inputs-age', '--fail-on', 'warning'], { cwd: dir, env: withNix })
    expect(strict.exitCode).toBe(1)
    writeFileSync(join(dir, 'flake.lock'), JSON.stringify({ ...lock, nodes: { ...lock.nodes, nixpkgs: { locked: { lastModified: fresh } } } }))
    const ok = await nbs(['check', '--only', 'flake-inputs-age', '--fail-on', 'warning'], { cwd: dir, env: withNix })
    expect(ok.exitCode, ok.stdout).toBe(0)
    expect(ok.stdout).toContain('2 inputs, the oldest nixpkgs (3 days)')
  })

  it('a folder named on the command line; the commands are to be run there', async () => {
    const dir = copyFlake('inventory')
    const r = await nbs(['init', dir], { cwd: tmp, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Next, in ${dir.slice(tmp.length + 1)}:`)
    expect(existsSync(join(dir, 'nbs.config.ts'))).toBe(true)
  })

  it('host names with shell syntax, quotes and control characters: a valid config, a quoted command, nothing raw on the terminal', async () => {
    const dir = join(tmp, `odd-${++seq}`)
    mkdirSync(dir)
    const pwned = join(tmp, `pwned-${seq}`)
    // an ESC through JSON: Nix strings have no escape for it
    writeFileSync(
      join(dir, 'flake.nix'),
      `{ outputs = { self }: { nixosConfigurations = builtins.listToAttrs (map (name: { inherit name; value = {}; }) [ "$(touch ${pwned})" "it's \\"q\\" \\\${x}" (builtins.fromJSON "\\"z\\\\u001b[31mred\\"") ]); }; }\n`,
    )
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).not.toContain('\x1b')
    expect(r.stdout).toContain('3 hosts: ')
    // the CI command, pasted into a shell (nbs replaced by printf): the host is one literal word
    const ci = r.stdout.split('\n').find((l) => l.includes('--host'))!.split('  #')[0]!.trim()
    const pasted = spawnSync('sh', ['-c', ci.replace(/^nbs check --host /, "printf '%s' ")], { encoding: 'utf8' })
    expect(pasted.stdout).toBe(`$(touch ${pwned})`)
    expect(existsSync(pwned)).toBe(false)
    // the config carries every name exactly
    const hosts = await nbs(['hosts', '--json'], { cwd: dir, env: withNix })
    expect(hosts.exitCode, hosts.stderr).toBe(0)
    const config = (JSON.parse(hosts.stdout) as { name: string; seenIn: string[] }[]).filter((h) => h.seenIn.includes('config')).map((h) => h.name)
    expect(config.sort()).toEqual([`$(touch ${pwned})`, 'z\x1b[31mred', 'it\'s "q" ${x}'].sort())
  })

  needs('git').it('a new git repository where flake.nix is not added yet: stderr says git add, not a store path', async () => {
    const dir = copyFlake('inventory')
    expect(spawnSync('git', ['init', '-q', dir]).status).toBe(0)
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toBe("nbs init: flake.nix is not tracked by git, and Nix reads only the files git tracks: git add flake.nix (and the files it imports); nbs.config.ts lists no hosts: add them under hosts (nbs hosts lists the flake's once Nix reads it)")
    // what it says works: once added, Nix reads the hosts
    expect(spawnSync('git', ['-C', dir, 'add', 'flake.nix', 'hosts'], { encoding: 'utf8' }).status).toBe(0)
    const hosts = await nbs(['hosts'], { cwd: dir, env: withNix })
    expect(hosts.exitCode, hosts.stderr).toBe(0)
    expect(hosts.stdout).toContain('web-1')
  })

  needs('git').it('in a git repository: says to git add what it wrote, since CI checks out commits only', async () => {
    const dir = copyFlake('inventory')
    const git = (...args: string[]) => expect(spawnSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args]).status).toBe(0)
    git('init', '-q')
    git('add', '-A')
    git('commit', '-qm', 'flake')
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    const line = r.stdout.split('\n').find((l) => l.startsWith('not in git yet: '))
    expect(line).toBe('not in git yet: git add nbs.config.ts checks/flake-inputs-age.check.ts   # CI sees committed files only')
    // the command as printed leaves nothing of nbs init untracked
    expect(spawnSync('sh', ['-c', line!.replace('not in git yet: ', '')], { cwd: dir }).status).toBe(0)
    expect(spawnSync('git', ['-C', dir, 'status', '--porcelain'], { encoding: 'utf8' }).stdout).toBe('A  checks/flake-inputs-age.check.ts\nA  nbs.config.ts\n')
  })

  it('a fleet of 40: numbered hosts in number order in the file, the first eight on the terminal', async () => {
    const dir = join(tmp, `fleet-${++seq}`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'flake.nix'), '{ outputs = { self }: { nixosConfigurations = builtins.listToAttrs (builtins.genList (i: { name = "web-${toString (i + 1)}"; value = {}; }) 40); }; }\n')
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe('wrote nbs.config.ts (40 hosts: web-1, web-2, web-3, web-4, web-5, web-6, web-7, web-8, … (32 more in the file))')
    const keys = [...readFileSync(join(dir, 'nbs.config.ts'), 'utf8').matchAll(/^ {4}'(web-\d+)': \{\},$/gm)].map((m) => m[1])
    expect(keys).toEqual(Array.from({ length: 40 }, (_, i) => `web-${i + 1}`))
    expect(nextCommands(r.stdout)[2]).toEqual(['nbs', 'check', '--host', 'web-1'])
  })

  it('an evaluation error: the config is still written, with no hosts, and stderr says why', async () => {
    const dir = copyFlake('undefined-variable')
    const r = await nbs(['init'], { cwd: dir, env: withNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/^nbs init: nix could not read nixosConfigurations: .*undefined variable.*; nbs\.config\.ts lists no hosts/)
    expect(r.stdout).toContain('wrote nbs.config.ts (no hosts)')
    expect(readFileSync(join(dir, 'nbs.config.ts'), 'utf8')).toContain('// no hosts listed: nix could not read nixosConfigurations')
    const list = await nbs(['list'], { cwd: dir, env: withNix })
    expect(list.exitCode, list.stderr).toBe(0)
  })
})

describe('nbs init refuses', () => {
  // nbs runs from process.execPath; its children find nothing on this PATH, nix included
  const emptyBin = join(tmp, 'empty-bin')
  mkdirSync(emptyBin, { recursive: true })
  const noNix = { PATH: emptyBin, GITLAB_CI: '' }

  it('without Nix: writes the config with no hosts and says so on stderr', async () => {
    const dir = copyFlake('inventory')
    const r = await nbs(['init'], { cwd: dir, env: noNix })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toBe('nbs init: nix is not on PATH, so the hosts of nixosConfigurations were not read; nbs.config.ts lists no hosts: add them under hosts (nbs hosts lists the flake\'s once Nix reads it)')
    expect(readFileSync(join(dir, 'nbs.config.ts'), 'utf8')).toContain("// hosts: { web1: { targetHost: 'root@web1.example.org', tags: ['web'] } },")
  })

  needs('root').it('a root-owned flake (/etc/nixos) run by a user: exit 3 at once, one line, before any evaluation, nothing written', async () => {
    const dir = copyFlake('inventory')
    // an evaluation that would block until nbs init's 2-minute timeout: a FIFO nobody writes to
    const fifo = join(tmp, `fifo-${seq}`)
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    writeFileSync(join(dir, 'flake.nix'), `{ outputs = { self }: { nixosConfigurations = builtins.seq (builtins.readFile ${fifo}) { a = {}; }; }; }\n`)
    chmodSync(tmp, 0o755)
    const before = snapshot(dir)
    const start = Date.now()
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'init'], {
      cwd: dir,
      env: { ...withNix, HOME: tmp },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(Date.now() - start).toBeLessThan(10_000)
    expect(r.status).toBe(3)
    expect(r.stderr).toBe(`nbs init: cannot write in ${dir} (permission denied for nobody): run nbs init as its owner (sudo nbs init for a root-owned /etc/nixos); nothing written\n`)
    expect(r.stdout).toBe('')
    expect(snapshot(dir)).toEqual(before)
  })

  needs('root').it("sudo nbs init in a user's flake: what it writes is the flake owner's, not root's", async () => {
    const dir = copyFlake('inventory')
    spawnSync('chown', ['-R', '65534:65534', dir])
    const r = await nbs(['init'], { cwd: dir, env: noNix })
    expect(r.exitCode, r.stderr).toBe(0)
    for (const f of ['nbs.config.ts', 'checks', 'checks/flake-inputs-age.check.ts']) {
      const st = statSync(join(dir, f))
      expect([f, st.uid, st.gid]).toEqual([f, 65534, 65534])
    }
  })

  for (const existing of ['nbs.config.json', 'nbs.config.mjs', 'checks/flake-inputs-age.check.ts']) {
    it(`to overwrite ${existing}: exit 3, one line, nothing written`, async () => {
      const dir = copyFlake('inventory', { [existing]: '{}\n' })
      const before = snapshot(dir)
      const r = await nbs(['init'], { cwd: dir, env: noNix })
      expect(r.exitCode).toBe(3)
      expect(r.stderr).toBe(`nbs init: ${join(dir, existing)} exists already; nothing written (nbs init only starts a project: edit that file instead)`)
      expect(r.stdout).toBe('')
      expect(snapshot(dir)).toEqual(before)
    })
  }

  it('a second run: exit 3, the first run\'s files unchanged', async () => {
    const dir = copyFlake('inventory')
    expect((await nbs(['init'], { cwd: dir, env: noNix })).exitCode).toBe(0)
    const before = snapshot(dir)
    const r = await nbs(['init'], { cwd: dir, env: noNix })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('nbs.config.ts exists already; nothing written')
    expect(snapshot(dir)).toEqual(before)
  })

  it('a folder without flake.nix: exit 3, one line, nothing written', async () => {
    const dir = join(tmp, `plain-${++seq}`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'configuration.nix'), '{ }\n')
    const r = await nbs(['init'], { cwd: dir, env: noNix })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toBe(`nbs init: ${dir} has no flake.nix: run nbs init in your flake's folder (nix flake init makes a flake)`)
    expect(readdirSync(dir)).toEqual(['configuration.nix'])
    const missing = await nbs(['init', join(tmp, 'nowhere')], { cwd: tmp, env: noNix })
    expect(missing.exitCode).toBe(3)
    expect(missing.stderr).toMatch(/^nbs init: .*nowhere is not a folder/)
  })
})
