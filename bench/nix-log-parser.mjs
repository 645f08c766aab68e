// The `nbs build` log parser (src/nix/build-log.ts) on generated internal-json streams
// (bench/gen-nix-log.mjs, with a build failure at the end):
// (a) speed: 1M lines through BuildLogParser.write() in a child node process (wall time: node
//     start-up and reading the file with fs.createReadStream in 256 KiB chunks included) against
//     `jq -c 'select(.action=="msg")'` on the same records without the `@nix ` prefix (a second
//     file from the same seed, so jq does no sed work and reads identical JSON); output to a pipe in
//     both. Target: ≥ 3× faster than jq. 64 KiB (pipe-sized) reads and line() are shown as info.
// (b) memory: peak RSS (process.resourceUsage().maxRSS) of that child on 1M and 4M lines: ≤ 150 MB
//     and flat as the input grows. Baseline: a child that only reads the file the same way.
// The parser is bundled from src with esbuild into the temp dir (no `npm run build` needed).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildSync } from 'esbuild'
import { isMain, measure, median, NODE, printResult, REPO, row, timeRun } from './lib.mjs'

const RUNS = 5
const LINES = 1_000_000
const BIG = 4_000_000
const SPEEDUP = 3
const MAX_RSS_MB = 150
const MAX_GROWTH_MB = 20
const CHUNK = 256 * 1024 // fs.createReadStream highWaterMark for the target rows
const PIPE_CHUNK = 64 * 1024 // what a read from a child's pipe gives (info row)

// The measured child: streams the file into the parser, checks the result, reports time and RSS.
const CHILD = `
import { createReadStream } from 'node:fs'
import { BuildLogParser } from './build-log.mjs'
const [file, mode, chunkArg] = process.argv.slice(2)
const highWaterMark = Number(chunkArg)
let events = 0
let plain = 0
const t0 = performance.now()
if (mode === 'read') {
  for await (const chunk of createReadStream(file, { highWaterMark })) events += chunk.length & 1
} else {
  const p = new BuildLogParser({ onEvent: () => events++, onPlain: () => plain++ })
  if (mode === 'write') {
    for await (const chunk of createReadStream(file, { highWaterMark })) p.write(chunk)
  } else {
    // line(): strings, split on the utf8-decoded stream (what a readline-style caller does)
    let rest = ''
    for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark })) {
      const s = rest + chunk
      let i = 0
      for (let j = s.indexOf('\\n'); j >= 0; j = s.indexOf('\\n', i)) {
        if (!p.line(s.slice(i, j))) plain++
        i = j + 1
      }
      rest = s.slice(i)
    }
    if (rest) p.line(rest)
  }
  p.end()
  const [build, dep] = p.errors()
  if (build?.kind !== 'build' || build.exitCode !== 2 || build.logTail?.length !== 25 || dep?.kind !== 'dependency' || plain !== 0)
    throw new Error('wrong parse: ' + JSON.stringify({ errors: p.errors(), plain, stats: p.stats }))
}
console.log(JSON.stringify({ ms: performance.now() - t0, rssMB: process.resourceUsage().maxRSS / 1024, events }))
`

const mb = (x) => `${x.toFixed(0)} MB`

export function bench() {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-log-'))
  try {
    buildSync({ entryPoints: [join(REPO, 'src/nix/build-log.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: join(dir, 'build-log.mjs'), logLevel: 'warning' })
    const child = join(dir, 'child.mjs')
    writeFileSync(child, CHILD)
    const gen = (lines, out, ...flags) => timeRun(NODE, [join(REPO, 'bench/gen-nix-log.mjs'), '--lines', String(lines), '--fail', '--out', out, ...flags])
    const [log, json, big] = [join(dir, '1m.log'), join(dir, '1m.json'), join(dir, '4m.log')]
    gen(LINES, log)
    gen(LINES, json, '--no-prefix')
    gen(BIG, big)
    const run = (file, mode, chunk = CHUNK) => {
      const r = timeRun(NODE, [child, file, mode, String(chunk)])
      return { ms: r.ms, value: JSON.parse(r.stdout) }
    }
    const hasJq = spawnSync('jq', ['--version']).status === 0
    const m = measure(RUNS, {
      write: () => run(log, 'write'),
      pipe: () => run(log, 'write', PIPE_CHUNK),
      ...(hasJq && { jq: () => timeRun('jq', ['-c', 'select(.action=="msg")', json]) }),
    })
    const lineApi = measure(1, { line: () => run(log, 'line') })
    const rss = (file, mode, chunk) => run(file, mode, chunk).value.rssMB
    const rss1 = Math.max(rss(log, 'write'), rss(log, 'write'))
    const rss4 = Math.max(rss(big, 'write'), rss(big, 'write'))
    const rssPipe = rss(log, 'write', PIPE_CHUNK)
    const read1 = rss(log, 'read')
    const read4 = rss(big, 'read')
    const jq = m.jq?.median
    const mbRow = (figure, value, baseline, max) => ({ figure, nbs: mb(value), baseline, ratio: '—', target: `≤ ${max} MB`, ok: value <= max ? 'ok' : 'MISSED' })
    return {
      title: `Nix log parser: ${LINES / 1e6}M / ${BIG / 1e6}M generated internal-json lines (median of ${RUNS})`,
      rows: [
        row(`parse ${LINES / 1e6}M lines: write() vs jq select(.action=="msg")`, m.write.median, jq ?? 'jq missing', { kind: 'ratio', max: +(1 / SPEEDUP).toFixed(2) }),
        row(`  same, ${PIPE_CHUNK / 1024} KiB reads (pipe-sized; info)`, m.pipe.median, jq ?? '—'),
        row(`  same, line() on utf8-decoded strings (info)`, lineApi.line.median, jq ?? '—'),
        row(`  in-process parse time, write() (info)`, median(m.write.values.map((v) => v.ms)), undefined),
        mbRow(`peak RSS, ${LINES / 1e6}M lines`, rss1, `read only: ${mb(read1)}`, MAX_RSS_MB),
        mbRow(`  same, ${PIPE_CHUNK / 1024} KiB reads`, rssPipe, '—', MAX_RSS_MB),
        mbRow(`peak RSS, ${BIG / 1e6}M lines`, rss4, `read only: ${mb(read4)}`, MAX_RSS_MB),
        mbRow(`RSS growth ${LINES / 1e6}M → ${BIG / 1e6}M lines`, Math.max(0, rss4 - rss1), '—', MAX_GROWTH_MB),
      ],
      notes: [
        `inputs: ${(statSync(log).size / 1e6).toFixed(0)} MB (1M) and ${(statSync(big).size / 1e6).toFixed(0)} MB (4M); jq reads ${(statSync(json).size / 1e6).toFixed(0)} MB, the same records without \`@nix \``,
        `wall samples: parser ${m.write.samples.map((x) => x.toFixed(0)).join(', ')} ms; ${PIPE_CHUNK / 1024} KiB reads ${m.pipe.samples.map((x) => x.toFixed(0)).join(', ')} ms${jq ? `; jq ${m.jq.samples.map((x) => x.toFixed(0)).join(', ')} ms` : ''}`,
        `ratio target ≤ ${(1 / SPEEDUP).toFixed(2)}× = at least ${SPEEDUP}× faster than jq; the child reads ${CHUNK / 1024} KiB chunks with fs.createReadStream (smaller reads cost node more stream overhead: the ${PIPE_CHUNK / 1024} KiB row)`,
      ],
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) printResult(bench())
