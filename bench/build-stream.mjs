// `nbs build` on long builds, measured through the real CLI (dist/cli.js), never the parser alone:
// (a) speed: generated internal-json streams (bench/gen-nix-log.mjs: parallel builds, phases, log
//     lines, short-lived download activities, a failed build at the end) replayed by a nixos-rebuild
//     STAND-IN that writes the stream to stderr, where the real tool's Nix writes it; `nbs build os
//     build --tool nixos-rebuild` reads it as it would a real build (split, parsed, displayed, logged,
//     recorded). Against `jq -c 'select(.action=="msg")'` on the same 1M records (without `@nix `).
//     Target: ≥ 3× faster than jq. Wall time, round-robin, median.
// (b) memory: peak RSS (VmHWM) of the nbs process on 1M and 4M lines: ≤ 150 MB, and flat.
// (c) a real build: Nix builds a derivation that prints 200,000 lines (test/fixtures/build-flakes/
//     loud, a fresh copy each time so Nix really builds, offline) through the nixos-rebuild test
//     double, under `nbs build` and bare with the same argv piped through `cat` (any reader pays
//     the pipe). Target: nbs ≤ 1.10 × bare + 0.3 s (Node start-up, snapshots, fsync).
//
//   npm run build && node bench/build-stream.mjs      (NBS_BENCH_RUNS=N, default 5; NBS_BENCH_REAL=0 skips (c), NBS_BENCH_STREAMS=0 (a) and (b))
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { CLI, isMain, measure, median, NODE, printResult, REPO, requireBuild, row } from './lib.mjs'

const RUNS = Number(process.env.NBS_BENCH_RUNS ?? 5)
const LINES = 1_000_000
const BIG = 4_000_000
const SPEEDUP = 3
const MAX_RSS_MB = 150
const MAX_GROWTH_MB = 20
const REAL_RATIO = 1.1
const REAL_FIXED_MS = 300
const NIX_CONFIG = 'experimental-features = nix-command flakes\nsubstituters ='

/** Stream shapes replayed through nbs (all end with a failed build). */
const SHAPES = {
  typical: [],
  'parallel (16 jobs)': ['--jobs', '16'],
  'downloads (40,000 short-lived)': ['--fetches', '40000'],
}

// Replays the stream like nixos-rebuild's Nix: records on stderr, then the failure's exit code.
const STAND_IN = `#!/bin/sh
# STAND-IN for nixos-rebuild (bench only): replays $NBS_BENCH_STREAM on stderr and fails as it does.
for a in "$@"; do case $a in --help | --version) echo "nixos-rebuild (bench stand-in)"; exit 0 ;; esac; done
cat "$NBS_BENCH_STREAM" >&2
exit 1
`
// Loaded into the nbs process: its peak RSS (VmHWM from /proc, kB) and CPU time (ms) at exit.
const PEAK = `import { readFileSync, writeFileSync } from 'node:fs'
process.on('exit', () => {
  const hwm = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  const { user, system } = process.cpuUsage()
  if (process.env.NBS_BENCH_PEAK && hwm) writeFileSync(process.env.NBS_BENCH_PEAK, \`\${hwm[1]} \${(user + system) / 1000}\`)
})
`

const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`
const sh = (cmd) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stdout.trim()

/** nproc, CPU model, RAM: the machine the figures are from. */
export function machine() {
  const model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? '?'
  return `${sh('nproc') || cpus().length} CPUs (${model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${sh('nix --version') || 'no nix'}`
}

export function bench() {
  requireBuild()
  const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-stream-'))
  try {
    const load = loadavg()[0].toFixed(2)
    const streams = process.env.NBS_BENCH_STREAMS === '0' ? { rows: [], notes: [] } : streamRows(dir)
    const real = process.env.NBS_BENCH_REAL === '0' ? undefined : realRows(dir)
    return {
      title: `nbs build on long builds: generated streams (${LINES / 1e6}M/${BIG / 1e6}M lines) and a real 200,000-line build (median of ${RUNS}, round-robin)`,
      rows: [...streams.rows, ...(real?.rows ?? [])],
      notes: [`machine: ${machine()}; load average ${load} → ${loadavg()[0].toFixed(2)}`, ...streams.notes, ...(real?.notes ?? [])],
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** (a) and (b): generated streams through `nbs build` and the stand-in. */
function streamRows(dir) {
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'nixos-rebuild'), STAND_IN)
  chmodSync(join(bin, 'nixos-rebuild'), 0o755)
  const peakHook = join(dir, 'peak.mjs')
  writeFileSync(peakHook, PEAK)
  const gen = (lines, out, ...flags) => {
    const r = spawnSync(NODE, [join(REPO, 'bench/gen-nix-log.mjs'), '--lines', String(lines), '--fail', '--out', out, ...flags])
    if (r.status !== 0) throw new Error(`gen-nix-log failed: ${r.stderr}`)
    return out
  }
  const files = Object.fromEntries(Object.entries(SHAPES).map(([name, flags], i) => [name, gen(LINES, join(dir, `1m-${i}.log`), ...flags)]))
  const json = gen(LINES, join(dir, '1m.json'), '--no-prefix')
  const big = gen(BIG, join(dir, '4m.log'))
  const empty = join(dir, 'empty.log')
  writeFileSync(empty, '')

  let n = 0
  /** One `nbs build` of the stream: { ms: wall, value: [peak RSS kB, CPU ms] }; checks it reported what the stream says. */
  const nbs = (stream) => {
    const run = join(dir, `run-${++n}`)
    for (const d of ['logs', 'root']) mkdirSync(join(run, d), { recursive: true })
    const peakFile = join(run, 'peak')
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      NBS_LOG_DIR: join(run, 'logs'),
      NBS_BENCH_STREAM: stream,
      NIX_CONFIG,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${peakHook}`,
      NBS_BENCH_PEAK: peakFile,
    }
    const t0 = performance.now()
    const r = spawnSync(NODE, [CLI, 'build', 'os', 'build', '--tool', 'nixos-rebuild', '--flake', `path:${run}`, '--host', 'demo', '--root', join(run, 'root')], {
      cwd: run,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    })
    const ms = performance.now() - t0
    // what the user must see: the failed build, its exit code and the log tail Nix leaves out
    if (stream !== empty && (r.status !== 1 || !/failed with exit code 2/.test(r.stderr) || !/> make: \*\*\* \[Makefile:1342: check\] Error 2/.test(r.stderr))) {
      throw new Error(`nbs build did not report the stream's failure (exit ${r.status ?? r.signal}):\n${r.stderr.slice(-2000)}`)
    }
    const value = readFileSync(peakFile, 'utf8').split(' ').map(Number)
    rmSync(run, { recursive: true, force: true, maxRetries: 2 })
    return { ms, value }
  }
  const peakOf = (stream) => nbs(stream).value[0]
  const cpuOf = (name) => median(m[name].values.map((v) => v[1]))

  const hasJq = spawnSync('jq', ['--version']).status === 0
  // jq's CPU time from GNU time when there is one
  const gnuTime = spawnSync('/usr/bin/time', ['-f', '%U', 'true'], { encoding: 'utf8' }).status === 0
  const jq = () => {
    const argv = ['jq', '-c', 'select(.action=="msg")', json]
    const t0 = performance.now()
    const r = gnuTime
      ? spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 })
      : spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 })
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`jq exited ${r.status}: ${r.stderr}`)
    const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr)
    return { ms, ...(cpu && { value: [0, (Number(cpu[1]) + Number(cpu[2])) * 1000] }) }
  }
  const m = measure(RUNS, {
    ...Object.fromEntries(Object.entries(files).map(([name, f]) => [name, () => nbs(f)])),
    ...(hasJq && { jq }),
    empty: () => nbs(empty),
  })
  const jqMs = m.jq?.median
  // two samples each, the higher counts
  const peak1 = Math.max(peakOf(files.typical), peakOf(files.typical))
  const peak4 = Math.max(peakOf(big), peakOf(big))
  const peakShapes = Object.entries(files)
    .slice(1)
    .map(([name, f]) => [name, peakOf(f)])
  const peakEmpty = peakOf(empty)
  const mbRow = (figure, kb, baseline, max) => ({ figure, nbs: mb(kb), baseline, ratio: '—', target: `≤ ${max} MB`, ok: kb / 1024 <= max ? 'ok' : 'MISSED' })
  const [first, ...others] = Object.keys(files)
  return {
    rows: [
      row(`nbs build, ${LINES / 1e6}M lines, ${first} vs jq select(.action=="msg")`, m[first].median, jqMs ?? 'jq missing', { kind: 'ratio', max: 1 / SPEEDUP }),
      ...others.map((name) => row(`  same, ${name}`, m[name].median, jqMs ?? 'jq missing', { kind: 'ratio', max: 1 / SPEEDUP })),
      row('  nbs build of an empty stream (fixed cost; info)', m.empty.median, undefined),
      row(`  CPU time (user+sys) of the nbs process, ${first}, vs jq's (info: steadier on a busy machine)`, cpuOf(first), m.jq?.values.length ? cpuOf('jq') : '—'),
      mbRow(`peak RSS of nbs, ${LINES / 1e6}M lines`, peak1, `empty stream: ${mb(peakEmpty)}`, MAX_RSS_MB),
      ...peakShapes.map(([name, kb]) => mbRow(`  same, ${name}`, kb, '—', MAX_RSS_MB)),
      mbRow(`peak RSS of nbs, ${BIG / 1e6}M lines`, peak4, `empty stream: ${mb(peakEmpty)}`, MAX_RSS_MB),
      mbRow(`RSS growth ${LINES / 1e6}M → ${BIG / 1e6}M lines`, Math.max(0, peak4 - peak1), '—', MAX_GROWTH_MB),
    ],
    notes: [
      `streams: ${(statSync(files.typical).size / 1e6).toFixed(0)} MB (1M) and ${(statSync(big).size / 1e6).toFixed(0)} MB (4M); jq reads ${(statSync(json).size / 1e6).toFixed(0)} MB, the same records without \`@nix \``,
      `wall samples (ms): ${Object.keys(files)
        .map((k) => `${k} ${m[k].samples.map((x) => x.toFixed(0)).join('/')}`)
        .join('; ')}${jqMs ? `; jq ${m.jq.samples.map((x) => x.toFixed(0)).join('/')}` : ''}`,
      `peak RSS is VmHWM of the nbs process itself (read from /proc at exit); the stand-in is \`cat stream >&2\`, nbs's output goes to /dev/null (stdout) and a pipe (stderr)`,
    ],
  }
}

/** (c): a real Nix build of 200,000 log lines, nbs against the bare tool piped through cat. */
function realRows(dir) {
  if (spawnSync('nix', ['--version']).status !== 0) return { rows: [row('real 200,000-line build', 'nix missing', undefined)], notes: [] }
  const bin = join(dir, 'bin-real')
  mkdirSync(bin)
  const argvFile = join(dir, 'argv')
  // the test double, with the argv nbs gives it recorded, so the bare runs use exactly that
  writeFileSync(join(bin, 'nixos-rebuild'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${argvFile}'\nexec '${join(REPO, 'test/doubles/nixos-rebuild')}' "$@"\n`)
  chmodSync(join(bin, 'nixos-rebuild'), 0o755)
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NIX_CONFIG, NBS_LOG_DIR: join(dir, 'real-logs') }
  let n = 0
  const fresh = () => {
    const d = join(dir, `loud-${++n}`)
    cpSync(join(REPO, 'test/fixtures/build-flakes/loud'), d, { recursive: true })
    writeFileSync(join(d, 'nonce'), `${process.pid}-${n}-${Date.now()}`)
    return d
  }
  const time = (file, args, stdio = 'ignore') => {
    const t0 = performance.now()
    const r = spawnSync(file, args, { cwd: dir, env, stdio })
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status ?? r.signal}`)
    return ms
  }
  const nbsRun = () => time(NODE, [CLI, 'build', 'os', 'build', '--tool', 'nixos-rebuild', '--flake', `path:${fresh()}`, '--host', 'demo', '--root', join(dir, 'real-root')])
  mkdirSync(join(dir, 'real-root'))
  nbsRun() // also records the argv nbs gives the tool
  const argv = readFileSync(argvFile, 'utf8').trim().split('\n')
  const flakeAt = argv.findIndex((a) => a.startsWith('path:'))
  const bare = () => {
    const args = argv.map((a, i) => (i === flakeAt ? `path:${fresh()}#demo` : a))
    return time('sh', ['-c', 'nixos-rebuild "$@" 2>&1 | cat >/dev/null', 'sh', ...args])
  }
  const m = measure(RUNS, { nbs: nbsRun, bare })
  const limit = REAL_RATIO * m.bare.median + REAL_FIXED_MS
  return {
    rows: [
      {
        figure: 'real build, 200,000 log lines: nbs build vs bare piped through cat',
        nbs: `${m.nbs.median.toFixed(0)} ms`,
        baseline: `${m.bare.median.toFixed(0)} ms`,
        ratio: `${(m.nbs.median / m.bare.median).toFixed(2)}× (+${(m.nbs.median - m.bare.median).toFixed(0)} ms)`,
        target: `≤ ${REAL_RATIO}× + ${REAL_FIXED_MS} ms = ${limit.toFixed(0)} ms`,
        ok: m.nbs.median <= limit ? 'ok' : 'MISSED',
      },
    ],
    notes: [
      `real build: nixos-rebuild test double, argv as nbs gives it (${argv.filter((a, i) => i !== flakeAt).join(' ')}); samples nbs ${m.nbs.samples.map((x) => x.toFixed(0)).join('/')} ms, bare piped through cat ${m.bare.samples.map((x) => x.toFixed(0)).join('/')} ms`,
    ],
  }
}

if (isMain(import.meta.url)) printResult(bench())
