// Shared helpers for the nbs benchmarks: temp projects, child-process timing, medians, tables.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'

export const REPO = fileURLToPath(new URL('..', import.meta.url))
export const CLI = join(REPO, 'dist', 'cli.js')
export const NODE = process.execPath

/** The benchmarks time the built CLI; they never build it themselves. */
export function requireBuild() {
  if (!existsSync(CLI)) {
    console.error(`bench: ${CLI} is missing: run npm run build first`)
    process.exit(1)
  }
}

/** True when the module at `url` is the script node was started with (not imported). */
export const isMain = (url) => process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href

/**
 * A temp project: nbs.config.json (no built-ins, only checks/**\/*.check.json) and one
 * checks/<id>.check.json per check. Call cleanup() when done.
 */
export function makeProject(checks, config = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-'))
  mkdirSync(join(dir, 'checks'))
  const configFile = join(dir, 'nbs.config.json')
  writeFileSync(configFile, JSON.stringify({ include: ['checks/**/*.check.json'], builtins: false, ...config }, null, 2))
  for (const c of checks) writeFileSync(join(dir, 'checks', `${c.id}.check.json`), JSON.stringify(c, null, 2))
  return { dir, configFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Runs a command to completion and returns its wall time in ms; throws if it fails. */
export function timeRun(cmd, args, opts = {}) {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  const ms = performance.now() - t0
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stderr}${r.stdout}`.trim())
  return { ms, stdout: r.stdout }
}

/** `node dist/cli.js ...args` in `cwd`. */
export const timeNbs = (args, cwd = REPO) => timeRun(NODE, [CLI, ...args], { cwd })

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Times several programs round-robin (a, b, c, a, b, c, ...) so load drift on a busy machine hits them
 * alike, after one unmeasured warm-up round. fns: { name: () => ms | { ms, value? } }.
 * Returns { name: { median, min, max, samples, values } }; values are the fns' `value`s (e.g. from a report).
 */
export function measure(runs, fns, warmup = 1) {
  const acc = Object.fromEntries(Object.keys(fns).map((k) => [k, { samples: [], values: [] }]))
  for (let i = -warmup; i < runs; i++) {
    for (const [k, fn] of Object.entries(fns)) {
      const r = fn()
      if (i < 0) continue
      acc[k].samples.push(typeof r === 'number' ? r : r.ms)
      if (r?.value !== undefined) acc[k].values.push(r.value)
    }
  }
  return Object.fromEntries(
    Object.entries(acc).map(([k, { samples, values }]) => [k, { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples, values }]),
  )
}

/** `nbs check --reporter json:FILE` report of the last run in a project, to check that it really passed. */
export function readReport(file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}

export const ms = (x) => (x === undefined ? '—' : `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} ms`)

/**
 * A result row. kind 'ratio': ok when nbs/baseline ≤ max; kind 'diff': ok when nbs−baseline ≤ max ms;
 * kind 'max': ok when nbs itself ≤ max ms (the baseline is shown beside it); kind 'info': no target. nbs/baseline are ms numbers (or preformatted strings); showDiff adds nbs−baseline.
 */
export function row(figure, nbs, baseline, { kind = 'info', max, showDiff = kind === 'diff' } = {}) {
  const num = typeof nbs === 'number' && typeof baseline === 'number'
  const ratio = num ? nbs / baseline : undefined
  const diff = num ? nbs - baseline : undefined
  let target = '—'
  let ok = '—'
  if (kind === 'ratio') {
    target = `≤ ${+max.toFixed(3)}×`
    ok = ratio <= max ? 'ok' : 'MISSED'
  } else if (kind === 'diff') {
    target = `≤ +${max} ms`
    ok = diff <= max ? 'ok' : 'MISSED'
  } else if (kind === 'max') {
    target = `≤ ${max} ms`
    ok = nbs <= max ? 'ok' : 'MISSED'
  }
  const ratioText = !num ? '—' : showDiff ? `${ratio.toFixed(2)}× (${diff >= 0 ? '+' : ''}${diff.toFixed(0)} ms)` : `${ratio.toFixed(2)}×`
  return {
    figure,
    nbs: typeof nbs === 'number' ? ms(nbs) : nbs,
    baseline: typeof baseline === 'number' ? ms(baseline) : (baseline ?? '—'),
    ratio: ratioText,
    target,
    ok,
  }
}

const COLUMNS = ['figure', 'nbs', 'baseline', 'ratio', 'target', 'ok']

/** A markdown table of rows (readable as plain text too). */
export function table(rows) {
  const widths = COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)))
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(COLUMNS.map((c) => r[c])))].join('\n')
}

/** What a bench script prints when run on its own. */
export function printResult({ title, rows, notes = [] }) {
  console.log(`\n## ${title}\n`)
  console.log(table(rows))
  if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`)
  const missed = rows.filter((r) => r.ok === 'MISSED').map((r) => r.figure)
  console.log(missed.length ? `\nMISSED: ${missed.join('; ')}` : '\nall targets met')
}
