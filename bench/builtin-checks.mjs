// The five built-in checks together on the demo flake (examples/demo), against the slowest of them.
// dry-build needs flake-eval's result, so the slowest path through the run is flake-eval + dry-build;
// everything else runs beside it. Target: the run takes at most that path + 10 %. Figures are the
// in-process durations from the JSON report (median of 5), so node start-up is not in them.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMain, median, printResult, readReport, REPO, requireBuild, row, timeNbs } from './lib.mjs'

const RUNS = 5
const TARGET = 1.1

export function bench() {
  requireBuild()
  if (spawnSync('nix', ['--version']).status !== 0) return { title: 'Built-in checks on the demo: skipped, nix is not on PATH', rows: [] }
  const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-builtin-'))
  try {
    const configFile = join(dir, 'nbs.config.json')
    writeFileSync(configFile, JSON.stringify({ include: [], flake: join(REPO, 'examples/demo'), host: 'demo', nixOptions: { substituters: '' } }))
    const reportFile = join(dir, 'report.json')
    const runs = []
    for (let i = -1; i < RUNS; i++) {
      timeNbs(['check', '--config', configFile, '--reporter', `json:${reportFile}`], dir)
      if (i < 0) continue // warm-up: Nix's first evaluation of the flake
      const report = readReport(reportFile)
      const d = Object.fromEntries(report.phases.flatMap((p) => p.checks).map((c) => [c.id, c.durationMs]))
      runs.push({ total: report.durationMs, chain: d['flake-eval'] + d['dry-build'], slowest: Math.max(...Object.values(d)), d })
    }
    const m = (f) => median(runs.map(f))
    const ids = Object.keys(runs[0].d)
    return {
      title: `Built-in checks together on the demo flake (median of ${RUNS}, in-process)`,
      rows: [
        row('five checks together vs the slowest path (flake-eval + dry-build)', m((r) => r.total), m((r) => r.chain), { kind: 'ratio', max: TARGET }),
        row('five checks together vs the slowest single check (info)', m((r) => r.total), m((r) => r.slowest)),
        ...ids.map((id) => row(`  ${id} alone (info)`, m((r) => r.d[id]), undefined)),
      ],
      notes: ['checks that cannot apply here (no systemd as PID 1, not NixOS) are skipped in a few ms; on a NixOS machine they run beside flake-eval'],
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) printResult(bench())
