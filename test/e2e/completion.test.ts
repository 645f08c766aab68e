/**
 * `nbs completion`: each script sourced in its real shell, completions asked the way the shell
 * asks (bash: COMP_WORDS/COMP_CWORD and the completion function; fish: `complete -C`; zsh: the
 * completion function with stand-ins for compadd/_files, which exist only inside a widget), with
 * `nbs` on PATH as the built CLI. The project has its own checks and config hosts, and its flake
 * is the inventory fixture, whose configurations throw when evaluated: host names that complete
 * prove that none was.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { fixtureFlakeDir, NIX_ENV } from '../helpers/nix.js'
import { CLI, nbs } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const tmp = mkdtempSync(join(tmpdir(), 'nbs-completion-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

// nbs on PATH is the built CLI; nix counts its calls
const bin = join(tmp, 'bin')
mkdirSync(bin)
writeFileSync(join(bin, 'nbs'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`)
const realNix = spawnSync('sh', ['-c', 'command -v nix'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nix'
const nixCalls = join(tmp, 'nix-calls')
writeFileSync(join(bin, 'nix'), `#!/bin/sh\necho call >> '${nixCalls}'\nexec '${realNix}' "$@"\n`)
for (const f of ['nbs', 'nix']) chmodSync(join(bin, f), 0o755)
const cache = join(tmp, 'cache')
const env = { ...NIX_ENV, PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, XDG_CACHE_HOME: cache, HOME: tmp }

// the project: its flake (the inventory fixture), checks and config hosts
const project = join(tmp, 'project')
cpSync(fixtureFlakeDir('inventory'), project, { recursive: true })
writeFileSync(
  join(project, 'nbs.config.json'),
  JSON.stringify({ flake: '.', builtins: false, hosts: { 'bastion-9': { targetHost: 'root@10.0.0.9', tags: ['edge'] } } }),
)
mkdirSync(join(project, 'checks'))
writeFileSync(join(project, 'checks/disk.check.json'), JSON.stringify({ id: 'disk-space', phase: 'health', tags: ['disk'], command: ['true'] }))
writeFileSync(join(project, 'checks/kernel.check.json'), JSON.stringify({ id: 'kernel-linux', command: ['uname'] }))
// another project: another flake, named with --flake on the command line being completed
const other = join(tmp, 'other')
cpSync(fixtureFlakeDir('good'), other, { recursive: true })

const script = async (shell: string) => {
  const r = await nbs(['completion', shell], { cwd: tmp })
  expect(r.exitCode, r.stderr).toBe(0)
  const file = join(tmp, `nbs.${shell}`)
  writeFileSync(file, r.stdout)
  return file
}

/** bash: what the completion function offers for a command line whose last word is being typed */
async function bash(words: string[], cwd = project): Promise<string[]> {
  const file = await script('bash')
  const program = `source '${file}'\nCOMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()\n_nbs\nprintf '%s\\n' "\${COMPREPLY[@]}"\n`
  const r = spawnSync('bash', ['--norc', '-c', program, 'bash', ...words], { cwd, env, encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  expect(r.stderr).toBe('')
  return r.stdout.split('\n').filter(Boolean)
}

beforeEach(() => writeFileSync(nixCalls, ''))

describe('nbs completion bash', () => {
  it('commands, without the hidden one', async () => {
    expect(await bash(['nbs', ''])).toEqual(['check', 'list', 'build', 'history', 'status', 'debug', 'hosts', 'init', 'completion'])
    expect(await bash(['nbs', 'h'])).toEqual(['history', 'hosts'])
    const help = await nbs(['--help'], { cwd: tmp })
    expect(help.stdout).not.toContain('__complete')
  })

  it("check's flags are exactly those of nbs check --help", async () => {
    const help = await nbs(['check', '--help'], { cwd: tmp })
    const documented = [...help.stdout.matchAll(/^\s+(?:(-\w), )?(--[\w-]+)/gm)].flatMap((m) => [m[1], m[2]]).filter((f): f is string => !!f)
    expect(documented).toContain('--only')
    expect((await bash(['nbs', 'check', '-'])).sort()).toEqual([...new Set(documented)].sort())
    expect(await bash(['nbs', 'check', '--s'])).toEqual(['--skip'])
    expect(await bash(['nbs', 'list', '--'])).toEqual(['--config', '--json', '--debug', '--help'])
  })

  it('check ids for --only and --skip, phases and tags from the project, with no Nix', async () => {
    expect((await bash(['nbs', 'check', '--only', ''])).sort()).toEqual(['disk-space', 'kernel-linux'])
    expect(await bash(['nbs', 'check', '--skip', 'd'])).toEqual(['disk-space'])
    expect((await bash(['nbs', 'check', '--only', 'kernel-linux,'])).sort()).toEqual(['kernel-linux,disk-space', 'kernel-linux,kernel-linux'])
    expect(await bash(['nbs', 'check', '--tag', ''])).toEqual(['disk'])
    expect(await bash(['nbs', 'check', '--phase', 'p'])).toEqual(['pre-build', 'post-build'])
    expect(readFileSync(nixCalls, 'utf8')).toBe('')
  })

  needs('nix').it('host names for --host and --on: the config\'s and nixosConfigurations\', one cached nix eval', async () => {
    const all = ['bastion-9', 'cache', 'db-1', 'laptop', 'web-1', 'web-2', '@edge']
    expect(await bash(['nbs', 'check', '--on', ''])).toEqual(all)
    expect(await bash(['nbs', 'check', '--host', 'web'])).toEqual(['web-1', 'web-2'])
    expect(await bash(['nbs', 'status', '--on', 'db-1,w'])).toEqual(['db-1,web-1', 'db-1,web-2'])
    expect(await bash(['nbs', 'hosts', '--on', '@'])).toEqual(['@edge'])
    // one evaluation of names (never a configuration: those throw), reused by the next TABs
    expect(readFileSync(nixCalls, 'utf8').trim().split('\n')).toHaveLength(1)
    // --flake on the line being completed names another flake
    expect(await bash(['nbs', 'check', '--flake', other, '--host', ''])).toEqual(['bastion-9', 'demo', 'demo.example', '@edge'])
  })

  needs('nix').it('a flake\'s host names with shell syntax are inserted quoted: the line run with them runs nothing', async () => {
    const evil = join(tmp, 'evil')
    const pwned = join(tmp, 'pwned')
    mkdirSync(evil, { recursive: true })
    writeFileSync(join(evil, 'flake.nix'), `{ outputs = { self }: { nixosConfigurations = { "$(touch ${pwned})" = {}; "a b" = {}; "it's" = {}; ok = {}; }; }; }\n`)
    const offered = await bash(['nbs', 'check', '--flake', evil, '--host', ''])
    expect(offered).toEqual([`\\$\\(touch\\ ${pwned}\\)`, 'a\\ b', 'bastion-9', "it\\'s", 'ok', '@edge'])
    // what bash puts on the line, run as the user would run it: each name is one literal word
    const run = spawnSync('bash', ['--norc', '-c', `printf '%s\\n' ${offered.join(' ')}`], { encoding: 'utf8' })
    expect(run.stdout.split('\n')).toEqual([`$(touch ${pwned})`, 'a b', 'bastion-9', "it's", 'ok', '@edge', ''])
    expect(existsSync(pwned)).toBe(false)
    // typed with a backslash, as the user would type it, it still completes
    expect(await bash(['nbs', 'check', '--flake', evil, '--host', 'a\\ '])).toEqual(['a\\ b'])
  })

  needs('nix', 'root').it('the host-name cache is private: a cache file another user planted, or could rewrite, is not offered', async () => {
    const flake = join(tmp, 'planted')
    cpSync(fixtureFlakeDir('good'), flake, { recursive: true })
    const line = ['nbs', 'check', '--flake', flake, '--host', '']
    expect(await bash(line)).toEqual(['bastion-9', 'demo', 'demo.example', '@edge'])
    const dir = join(cache, 'nbs', 'complete')
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    // the entry of this flake, rewritten with a name of the attacker's choosing
    const file = readdirSync(dir).map((f) => join(dir, f)).find((f) => readFileSync(f, 'utf8').includes(flake))!
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { names: string[] }
    const plant = (mode: number, uid: number) => {
      rmSync(file)
      writeFileSync(file, JSON.stringify({ ...entry, names: ['$(planted)'] }), { mode })
      chmodSync(file, mode)
      chownSync(file, uid, uid)
    }
    plant(0o600, 65534) // another user's file
    expect(await bash(line)).toEqual(['bastion-9', 'demo', 'demo.example', '@edge'])
    plant(0o666, 0) // ours, but anyone may rewrite it
    expect(await bash(line)).toEqual(['bastion-9', 'demo', 'demo.example', '@edge'])
    plant(0o600, 0) // ours alone: used
    chmodSync(dir, 0o777) // in a folder anyone may write to: not used
    expect(await bash(line)).toEqual(['bastion-9', 'demo', 'demo.example', '@edge'])
    chmodSync(dir, 0o700)
    expect(await bash(line)).toEqual(['\\$\\(planted\\)', 'bastion-9', '@edge'])
  })

  needs('nix').it('a flake Nix cannot list in time (inputs offline): TAB waits once, then completes the config\'s hosts at once', async () => {
    const flake = join(tmp, 'stuck')
    mkdirSync(flake)
    // reading a FIFO nobody writes to blocks, as a fetch from an unreachable host does
    const fifo = join(tmp, 'never')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    writeFileSync(join(flake, 'flake.nix'), `{ outputs = { self }: { nixosConfigurations = builtins.seq (builtins.readFile ${fifo}) { a = {}; }; }; }\n`)
    const line = ['nbs', 'check', '--flake', flake, '--host', '']
    let start = Date.now()
    expect(await bash(line)).toEqual(['bastion-9', '@edge'])
    expect(Date.now() - start).toBeLessThan(9_000)
    expect(readFileSync(nixCalls, 'utf8').trim().split('\n')).toHaveLength(1)
    writeFileSync(nixCalls, '')
    start = Date.now()
    expect(await bash(line)).toEqual(['bastion-9', '@edge'])
    expect(Date.now() - start).toBeLessThan(3_000)
    expect(readFileSync(nixCalls, 'utf8')).toBe('')
  }, 30_000)

  it('fixed values and files', async () => {
    expect(await bash(['nbs', 'check', '--reporter', 't'])).toEqual(['tap', 'tap14'])
    expect(await bash(['nbs', 'check', '--fail-on', ''])).toEqual(['error', 'warning'])
    expect(await bash(['nbs', 'build', ''])).toEqual(['os', 'home'])
    expect(await bash(['nbs', 'build', '--json', 'os', 'd'])).toEqual(['dry-build'])
    expect(await bash(['nbs', 'completion', ''])).toEqual(['bash', 'zsh', 'fish'])
    expect(await bash(['nbs', 'check', '--config', 'nbs.config.j'])).toEqual(['nbs.config.json'])
    // after a flag's value, flags again; after --, nothing
    expect(await bash(['nbs', 'check', '--only', 'disk-space', '--b'])).toEqual(['--bail'])
    expect(await bash(['nbs', 'build', 'os', 'switch', '--', ''])).toEqual([])
  })

  it('an unknown shell: exit 3, one line', async () => {
    const r = await nbs(['completion', 'tcsh'], { cwd: tmp })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toBe('nbs completion: unknown shell "tcsh": expected bash, zsh, fish')
    expect(r.stdout).toBe('')
  })
})

needs('fish').describe('nbs completion fish', () => {
  const fish = async (line: string) => {
    const file = await script('fish')
    const r = spawnSync('fish', ['--no-config', '-c', `source '${file}'; complete -C '${line}'`], { cwd: project, env, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0])
  }
  it('commands, flags, check ids', async () => {
    expect(await fish('nbs ')).toEqual(expect.arrayContaining(['check', 'list', 'init', 'completion']))
    expect(await fish('nbs ')).not.toContain('__complete')
    expect(await fish('nbs check --sk')).toEqual(['--skip'])
    expect((await fish('nbs check --only ')).sort()).toEqual(['disk-space', 'kernel-linux'])
    expect(await fish('nbs build os dr')).toEqual(['dry-build'])
  })
  needs('nix').it('host names for --on, also after a comma', async () => {
    expect(await fish('nbs check --on ')).toEqual(['@edge', 'bastion-9', 'cache', 'db-1', 'laptop', 'web-1', 'web-2'])
    expect(await fish('nbs check --on cache,web-')).toEqual(['cache,web-1', 'cache,web-2'])
  })
})

needs('zsh').describe('nbs completion zsh', () => {
  // compadd and _files are zsh builtins/functions of a completion widget: these print what they get
  const stubs = `compdef() { :; }
compadd() {
  local -a items; local arr=
  while (( $# )); do
    case $1 in
      -a) arr=$2; shift 2 ;;
      -d|-P|-S|-J|-X) shift 2 ;;
      --) shift; items+=("$@"); break ;;
      -*) shift ;;
      *) items+=("$1"); shift ;;
    esac
  done
  [[ -n $arr ]] && items+=("\${(@P)arr}")
  local i; for i in $items; do [[ $i == "$PREFIX"* ]] && print -r -- "$IPREFIX$i"; done
  return 0
}
_files() { print -r -- "<files $*>"; }
`
  const zsh = async (words: string[]) => {
    const file = await script('zsh')
    const program = `${stubs}source '${file}'\nwords=("$@"); CURRENT=$#; PREFIX=\${words[CURRENT]}; IPREFIX=\n_nbs\n`
    const r = spawnSync('zsh', ['-f', '-c', program, 'zsh', ...words], { cwd: project, env, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    return r.stdout.split('\n').filter(Boolean)
  }
  it('the script parses; commands, flags, check ids, files', async () => {
    expect(spawnSync('zsh', ['-n', await script('zsh')]).status).toBe(0)
    expect(await zsh(['nbs', 'h'])).toEqual(['history', 'hosts'])
    expect(await zsh(['nbs', 'check', '--o'])).toEqual(['--only', '--on'])
    expect((await zsh(['nbs', 'check', '--only', ''])).sort()).toEqual(['disk-space', 'kernel-linux'])
    expect(await zsh(['nbs', 'check', '--skip=d'])).toEqual(['--skip=disk-space'])
    expect(await zsh(['nbs', 'check', '--root', ''])).toEqual(['<files -/>'])
  })
  needs('nix').it('host names after a comma', async () => {
    expect(await zsh(['nbs', 'check', '--on', 'cache,db'])).toEqual(['cache,db-1'])
  })
})
