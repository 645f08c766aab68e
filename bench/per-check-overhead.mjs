// (c) Per-check overhead: 200 trivial declarative checks (`true`, one JSON file each, no needs) run by
// nbs with --concurrency 4, against bench/spawn-baseline.mjs spawning the same 200 `true` processes with
// child_process.spawn, 4 at once (and 1 at once, for information). Both sides are timed from outside
// as whole node processes, interleaved, median of 5:
//   total      includes node start-up (both), and for nbs config loading + discovery of 200 files;
//   per check  (total − the same program's empty run) / 200: nbs minus an nbs run with 0 checks,
//              the baseline minus `node -e 0`. Discovery of the 200 files stays in the nbs figure.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMain, makeProject, measure, median, NODE, printResult, readReport, requireBuild, row, timeNbs, timeRun } from './lib.mjs'

const N = 200
const CONCURRENCY = 4
const RUNS = 5
const TARGET = 1.5
const BASELINE = fileURLToPath(new URL('spawn-baseline.mjs', import.meta.url))

export function bench() {
  requireBuild()
  const checks = Array.from({ length: N }, (_, i) => ({ id: `trivial-${String(i).padStart(3, '0')}`, command: ['true'] }))
  const project = makeProject(checks)
  const empty = makeProject([])
  try {
    const reportFile = join(project.dir, 'report.json')
    const args = (p) => ['check', '--config', p.configFile, '--concurrency', String(CONCURRENCY), '--reporter', `json:${reportFile}`]
    const spawnLoop = (concurrency, how = []) => () => {
      const { ms, stdout } = timeRun(NODE, [BASELINE, ...how, String(N), String(concurrency)])
      return { ms, value: JSON.parse(stdout).ms }
    }
    const m = measure(RUNS, {
      nbs: () => {
        const { ms } = timeNbs(args(project), project.dir)
        const report = readReport(reportFile)
        if (report.summary.passed !== N) throw new Error(`expected ${N} passed checks, got ${JSON.stringify(report.summary)}`)
        return { ms, value: report.durationMs }
      },
      nbsEmpty: () => timeNbs(args(empty), empty.dir),
      spawn: spawnLoop(CONCURRENCY),
      execa: spawnLoop(CONCURRENCY, ['--execa']),
      sequential: spawnLoop(1),
      node: () => timeRun(NODE, ['-e', '0']),
    })
    const perCheck = (total, emptyRun) => (total - emptyRun) / N
    return {
      title: `Per-check overhead: ${N} × true, --concurrency ${CONCURRENCY} (median of ${RUNS})`,
      rows: [
        row(`per check vs the same ${N} spawns through execa: (total − empty run) / ${N}`, perCheck(m.nbs.median, m.nbsEmpty.median), perCheck(m.execa.median, m.node.median), { kind: 'ratio', max: TARGET }),
        row(`per check vs raw child_process.spawn (info: includes execa's own cost)`, perCheck(m.nbs.median, m.nbsEmpty.median), perCheck(m.spawn.median, m.node.median)),
        row(`execa loop vs raw spawn loop (info: execa's cost alone)`, m.execa.median, m.spawn.median),
        row(`${N} checks total wall (incl. node start-up, config, discovery) vs raw spawn`, m.nbs.median, m.spawn.median),
        row(`${N} checks in-process (nbs report durationMs vs spawn loop)`, median(m.nbs.values), median(m.spawn.values)),
        row(`${N} checks total vs sequential spawn (concurrency 1)`, m.nbs.median, m.sequential.median),
        row('empty run: nbs 0 checks vs node -e 0', m.nbsEmpty.median, m.node.median, { showDiff: true }),
      ],
      notes: [
        `total per check: nbs ${(m.nbs.median / N).toFixed(2)} ms, spawn baseline ${(m.spawn.median / N).toFixed(2)} ms (start-up spread over ${N})`,
        'baselines = node bench/spawn-baseline.mjs [--execa] (piped stdout/stderr; no config, discovery or reporting); nbs runs every child through execa by design, so the execa loop isolates what nbs adds per check',
        `nbs total samples: ${m.nbs.samples.map((x) => x.toFixed(0)).join(', ')} ms`,
      ],
    }
  } finally {
    project.cleanup()
    empty.cleanup()
  }
}

if (isMain(import.meta.url)) printResult(bench())
