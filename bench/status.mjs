// (e) Fast status: `nbs status --json` through the built CLI on a NixOS-shaped root with 50
// generations (toplevels built by real Nix from test/fixtures/system, copied into ROOT's store with
// `nix copy`, profiles made by `nix-env -p ROOT/nix/var/nix/profiles/system --set`,
// /run/current-system and /run/booted-system links) and a git flake checkout. Target: at most
// 0.5 s (median). The floor beside it is `nbs --version` (node start-up plus the bundle), run
// interleaved, so the ratio says how much of the time is status's own work.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMain, measure, NODE, CLI, printResult, REPO, requireBuild, row, timeNbs, timeRun } from './lib.mjs'

const GENERATIONS = 50
const RUNS = 15
const TARGET_MS = 500
const NIX_ENV = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command flakes\nsubstituters =' }

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: NIX_ENV, maxBuffer: 64 << 20, ...opts })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error}):\n${r.stderr}`)
  return r.stdout.trim()
}

/** ROOT with GENERATIONS system generations, the newest running and booted; a git flake beside it. */
export function makeStatusFixture(dir) {
  const root = join(dir, 'root')
  // one nix-build for all toplevels: each salt makes a distinct toplevel sharing kernel and initrd
  const expr = `map (i: import ${join(REPO, 'test/fixtures/system/default.nix')} { salt = "bench-\${toString i}"; }) (builtins.genList (i: i + 1) ${GENERATIONS})`
  const paths = run('nix-build', ['--no-out-link', '-E', expr]).split('\n')
  if (paths.length !== GENERATIONS) throw new Error(`expected ${GENERATIONS} toplevels, got ${paths.length}`)
  mkdirSync(join(root, 'nix/var/nix/profiles'), { recursive: true })
  run('nix', ['copy', '--no-check-sigs', '--to', root, ...paths])
  for (const p of paths) run('nix-env', ['-p', join(root, 'nix/var/nix/profiles/system'), '--set', p])
  mkdirSync(join(root, 'run'), { recursive: true })
  mkdirSync(join(root, 'etc'), { recursive: true })
  writeFileSync(join(root, 'etc/NIXOS'), '')
  writeFileSync(join(root, 'etc/hostname'), 'testhost\n') // the root is the machine host `testhost` describes
  symlinkSync(paths.at(-1), join(root, 'run/current-system'))
  symlinkSync(paths.at(-1), join(root, 'run/booted-system'))
  // the flake checkout status reads (commit, dirty, nixpkgs from flake.lock): a small git repo
  const flake = join(dir, 'flake')
  mkdirSync(flake)
  // the same toplevel as the running generation, so `--eval` finds it in sync: the fixture with
  // the platform spelled out (pure evaluation has no builtins.currentSystem)
  const system = spawnSync(NODE, ['-p', 'process.arch === "arm64" ? "aarch64-linux" : "x86_64-linux"'], { encoding: 'utf8' }).stdout.trim()
  cpSync(join(REPO, 'test/fixtures/system'), join(flake, 'system'), { recursive: true })
  writeFileSync(join(flake, 'system/default.nix'), readFileSync(join(flake, 'system/default.nix'), 'utf8').replaceAll('builtins.currentSystem', JSON.stringify(system)))
  // nixpkgs is declared and locked (status reads its revision) but never used, so never fetched
  const rev = '0123abcdef0123abcdef0123abcdef0123abcdef'
  writeFileSync(join(flake, 'flake.nix'), `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/${rev}";
  outputs = { self, nixpkgs }: { nixosConfigurations.testhost.config.system.build.toplevel = import ./system { salt = "bench-${GENERATIONS}"; }; };
}\n`)
  const nixpkgs = {
    locked: { type: 'github', owner: 'NixOS', repo: 'nixpkgs', rev, lastModified: 1, narHash: 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
    original: { type: 'github', owner: 'NixOS', repo: 'nixpkgs', rev },
  }
  writeFileSync(join(flake, 'flake.lock'), `${JSON.stringify({ nodes: { nixpkgs, root: { inputs: { nixpkgs: 'nixpkgs' } } }, root: 'root', version: 7 }, null, 2)}\n`)
  const git = (...a) => run('git', ['-C', flake, '-c', 'user.name=nbs', '-c', 'user.email=nbs@localhost', '-c', 'init.defaultBranch=main', ...a])
  git('init', '-q')
  git('add', '.')
  git('commit', '-qm', 'bench')
  return { root, flake }
}

export function bench() {
  requireBuild()
  if (spawnSync('nix', ['--version']).status !== 0) return { title: 'Status: skipped, nix is not on PATH', rows: [] }
  const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-status-'))
  try {
    const { root, flake } = makeStatusFixture(dir)
    const logs = join(dir, 'logs')
    mkdirSync(logs)
    const env = { ...NIX_ENV, NBS_LOG_DIR: logs, XDG_CACHE_HOME: join(dir, 'cache') }
    const args = ['status', '--json', '--root', root, '--flake', flake, '--host', 'testhost']
    let fresh = 0
    const status = (extra = [], cache = env.XDG_CACHE_HOME) => () => {
      const { ms, stdout } = timeRun(NODE, [CLI, ...args, ...extra], { cwd: dir, env: { ...env, XDG_CACHE_HOME: cache() } })
      const report = JSON.parse(stdout)
      if (report.generation.newest !== GENERATIONS) throw new Error(`status saw ${report.generation.newest} generations, expected ${GENERATIONS}`)
      if (extra.length && report.revision.reason !== 'toplevel-match') throw new Error(`status --eval: ${JSON.stringify(report.revision)}`)
      return { ms, value: report.overallStatus }
    }
    const shared = () => env.XDG_CACHE_HOME
    // `status --help` loads the whole bundle and stops: it splits start-up from status's own work
    const m = measure(RUNS, {
      floor: () => timeNbs(['--version'], dir),
      help: () => timeNbs(['status', '--help'], dir),
      status: status([], shared),
      cached: status(['--eval'], shared),
    })
    // what one look cost before: an evaluation every time (a fresh cache folder per run)
    const cold = measure(5, { uncached: status(['--eval'], () => join(dir, `cold-${++fresh}`)) })
    return {
      title: `Status: nbs status --json on a root with ${GENERATIONS} generations (median of ${RUNS}, whole process)`,
      rows: [
        row(`nbs status --json, ${GENERATIONS} generations, vs nbs --version (median)`, m.status.median, m.floor.median, { kind: 'max', max: TARGET_MS, showDiff: true }),
        row('… fastest run (min)', m.status.min, m.floor.min, { showDiff: true }),
        row('… nbs status --help (bundle loaded, no probes) vs nbs --version (info)', m.help.median, m.floor.median, { showDiff: true }),
        row('nbs status --json --eval, answered from the cache (info)', m.cached.median, m.floor.median, { showDiff: true }),
        row('nbs status --json --eval, evaluating (fresh cache; info, median of 5)', cold.uncached.median, m.floor.median, { showDiff: true }),
      ],
      notes: [`no evaluation (the default); overall status ${m.status.values[0]}; node ${process.version}`],
    }
  } finally {
    spawnSync('chmod', ['-R', 'u+w', dir])
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) printResult(bench())
