// (a) Does nbs run a dependency graph at its critical path?
// 40 checks of `sleep 0.2` in 5 dependent levels of 8: check i of level k needs checks i and i+1 (mod 8)
// of level k-1, so the critical path is 5 × 0.2 s = 1.0 s. All 40 sit in ONE phase (the default last
// phase, health): nbs phases only order the queue and are not barriers, so the needs alone order the run.
// --concurrency 8: the default is CPUs × 2 (4 on a 2-CPU machine), and a level 8 wide needs 8 slots.
import { join } from 'node:path'
import { isMain, makeProject, measure, median, printResult, readReport, requireBuild, row, timeNbs } from './lib.mjs'

const LEVELS = 5
const WIDTH = 8
const SLEEP_S = 0.2
const RUNS = 5
const CONCURRENCY = 8
const TARGET = 1.25

export function bench() {
  requireBuild()
  const id = (k, i) => `l${k}-c${i}`
  const checks = []
  for (let k = 1; k <= LEVELS; k++) {
    for (let i = 0; i < WIDTH; i++) {
      const needs = k === 1 ? undefined : [id(k - 1, i), id(k - 1, (i + 1) % WIDTH)]
      checks.push({ id: id(k, i), command: ['sleep', String(SLEEP_S)], ...(needs && { needs }) })
    }
  }
  const criticalPath = LEVELS * SLEEP_S * 1000
  const dag = makeProject(checks)
  const empty = makeProject([])
  try {
    const reportFile = join(dag.dir, 'report.json')
    const args = (p) => ['check', '--config', p.configFile, '--concurrency', String(CONCURRENCY), '--reporter', `json:${reportFile}`]
    const m = measure(RUNS, {
      dag: () => {
        const { ms } = timeNbs(args(dag), dag.dir)
        const report = readReport(reportFile)
        if (report.summary.passed !== checks.length) throw new Error(`expected ${checks.length} passed checks, got ${JSON.stringify(report.summary)}`)
        return { ms, value: report.durationMs }
      },
      empty: () => timeNbs(args(empty), empty.dir),
    })
    return {
      title: `DAG critical path: ${LEVELS}×${WIDTH} checks of sleep ${SLEEP_S}, one phase, --concurrency ${CONCURRENCY} (median of ${RUNS})`,
      rows: [
        row(`DAG ${LEVELS}×${WIDTH} wall time vs critical path`, m.dag.median, criticalPath, { kind: 'ratio', max: TARGET }),
        row('DAG in-process run time (json report durationMs)', median(m.dag.values), criticalPath),
        row('DAG wall minus empty run', m.dag.median - m.empty.median, criticalPath),
        row('nbs start-up share: empty run (0 checks)', m.empty.median, undefined),
      ],
      notes: [
        `wall = node start-up + config + discovery of ${checks.length} JSON files + the run; the empty run (same config, 0 checks) is ${((m.empty.median / m.dag.median) * 100).toFixed(0)}% of it`,
        `wall samples: ${m.dag.samples.map((x) => x.toFixed(0)).join(', ')} ms`,
      ],
    }
  } finally {
    dag.cleanup()
    empty.cleanup()
  }
}

if (isMain(import.meta.url)) printResult(bench())
