// (c) `nbs build` against the same build run bare, on a build whose builder prints 200,000 log lines
// (test/fixtures/build-flakes/loud). Real Nix builds it through the nixos-rebuild and nh test doubles
// (test/doubles). Every sample builds a fresh copy of the flake (new nonce), so Nix really builds.
// The baseline is the tool run with exactly the argv nbs gives it (internal-json, -v), its output
// to /dev/null: nbs's cost is everything above that (parsing 200k records, the display, writing
// last-build.log, the records, generation snapshots, its own start-up). Target: ≤ 1.10× the bare
// wall time. For information: the bare tool with its output read through a pipe (`| cat`: what any
// reader, a terminal included, pays for Nix's one write per record) and with its default output.
import { cpSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, loadavg, cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { spawnSync } from 'node:child_process'
import { CLI, isMain, measure, NODE, printResult, REPO, requireBuild, row } from './lib.mjs'

const RUNS = Number(process.env.NBS_BENCH_RUNS ?? 7)
const MAX_RATIO = 1.1
const NIX_LOG = ['-v', '--log-format', 'internal-json']

export function bench() {
  requireBuild()
  const work = mkdtempSync(join(tmpdir(), 'nbs-bench-build-'))
  const devnull = openSync('/dev/null', 'w')
  const env = {
    ...process.env,
    PATH: `${join(REPO, 'test/doubles')}:${process.env.PATH}`,
    NIX_CONFIG: 'experimental-features = nix-command flakes\nsubstituters =',
    NBS_LOG_DIR: join(work, 'logs'),
  }
  let n = 0
  /** A fresh copy of the loud flake: new nonce, new derivation, a real build. */
  const fresh = () => {
    const dir = join(work, `loud-${++n}`)
    cpSync(join(REPO, 'test/fixtures/build-flakes/loud'), dir, { recursive: true })
    writeFileSync(join(dir, 'nonce'), `${process.pid}-${n}-${Date.now()}`)
    return `path:${dir}`
  }
  /** Wall time of one run, output to /dev/null (not timed: making the fresh flake). */
  const time = (file, args) => {
    const t0 = performance.now()
    const r = spawnSync(file, args, { cwd: work, env, stdio: ['ignore', devnull, devnull] })
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status ?? r.signal}`)
    return ms
  }
  try {
    const load = loadavg()[0].toFixed(2)
    const m = measure(RUNS, {
      bareRebuild: () => time('nixos-rebuild', ['build', '--flake', `${fresh()}#demo`, ...NIX_LOG]),
      nbsRebuild: () => time(NODE, [CLI, 'build', 'os', 'build', '--tool', 'nixos-rebuild', '--flake', fresh(), '--host', 'demo']),
      bareNh: () => time('nh', ['os', 'build', fresh(), '--hostname', 'demo', '--no-nom', '--', ...NIX_LOG]),
      nbsNh: () => time(NODE, [CLI, 'build', 'os', 'build', '--tool', 'nh', '--flake', fresh(), '--host', 'demo']),
      piped: () => time('sh', ['-c', 'nixos-rebuild "$@" 2>&1 | cat >/dev/null', 'sh', 'build', '--flake', `${fresh()}#demo`, ...NIX_LOG]),
      plain: () => time('nixos-rebuild', ['build', '--flake', `${fresh()}#demo`]),
    })
    const nix = spawnSync('nix', ['--version'], { encoding: 'utf8' }).stdout.trim()
    return {
      title: `nbs build vs the bare build, 200,000 log lines (median of ${RUNS}, round-robin)`,
      rows: [
        row('nbs build os build, nixos-rebuild double', m.nbsRebuild.median, m.bareRebuild.median, { kind: 'ratio', max: MAX_RATIO, showDiff: true }),
        row('nbs build os build, nh double', m.nbsNh.median, m.bareNh.median, { kind: 'ratio', max: MAX_RATIO, showDiff: true }),
        row('nbs vs bare nixos-rebuild read through a pipe (info)', m.nbsRebuild.median, m.piped.median, { showDiff: true }),
        row('bare nixos-rebuild, default plain output (info)', m.plain.median, m.bareRebuild.median, { showDiff: true }),
      ],
      notes: [
        `baseline: the same tool and argv nbs runs (-v --log-format internal-json), output to /dev/null; ${nix}; node ${process.version}; ${cpus().length} CPUs; load average ${load} → ${loadavg()[0].toFixed(2)}`,
        `min/max ms: nbs ${m.nbsRebuild.min.toFixed(0)}/${m.nbsRebuild.max.toFixed(0)} vs bare ${m.bareRebuild.min.toFixed(0)}/${m.bareRebuild.max.toFixed(0)} (nixos-rebuild); nbs ${m.nbsNh.min.toFixed(0)}/${m.nbsNh.max.toFixed(0)} vs bare ${m.bareNh.min.toFixed(0)}/${m.bareNh.max.toFixed(0)} (nh)`,
      ],
    }
  } finally {
    closeSync(devnull)
    rmSync(work, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) printResult(bench())
