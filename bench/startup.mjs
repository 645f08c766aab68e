// (b) Start-up: `node dist/cli.js --version` against a bare `node -e 0`, median of 20 each (interleaved,
// so drift on a busy machine hits both alike). `nbs --help` and `nbs list` on an empty project are
// printed for information: --help loads cac; list also loads config, discovery and zod.
import { isMain, makeProject, measure, NODE, printResult, requireBuild, row, timeNbs, timeRun } from './lib.mjs'

const RUNS = 20
const INFO_RUNS = 5
const TARGET_MS = 60

export function bench() {
  requireBuild()
  const empty = makeProject([])
  try {
    const m = measure(RUNS, { node: () => timeRun(NODE, ['-e', '0']), version: () => timeNbs(['--version']) })
    const info = measure(INFO_RUNS, {
      help: () => timeNbs(['--help'], empty.dir),
      list: () => timeNbs(['list', '--config', empty.configFile], empty.dir),
    })
    const node = m.node.median
    return {
      title: `Start-up (median of ${RUNS}; --help and list median of ${INFO_RUNS})`,
      rows: [
        row('start-up: nbs --version vs node -e 0', m.version.median, node, { kind: 'diff', max: TARGET_MS }),
        row('nbs --help (info)', info.help.median, node, { showDiff: true }),
        row('nbs list, empty project (info)', info.list.median, node, { showDiff: true }),
      ],
      notes: [`baseline for every row is a bare node -e 0; node ${process.version}`],
    }
  } finally {
    empty.cleanup()
  }
}

if (isMain(import.meta.url)) printResult(bench())
