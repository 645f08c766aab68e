import { definePlugin, type CheckResult, type ReporterFactory } from 'nixos-build-status'

/**
 * markdown: a summary table for a CI job page or a merge request comment.
 *   nbs check --reporter markdown/summary:nbs-summary.md
 *   cat nbs-summary.md >> "$GITHUB_STEP_SUMMARY"     # (report files are replaced atomically, never appended)
 */
const ICON: Record<CheckResult['status'], string> = { passed: '✅', failed: '❌', errored: '💥', skipped: '⏭️' }

/** Table cells: one line, no pipes or HTML, no control characters, bounded. */
function cell(text: string | undefined, max = 200): string {
  const flat = (text ?? '')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
    .replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`)
    .replace(/\s+/g, ' ')
    .trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

const summary: ReporterFactory = ({ sink }) => ({
  onRunEnd(report) {
    const s = report.summary
    const verdict = report.status === 'passed' ? '✅ passed' : report.status === 'interrupted' ? '⚠️ interrupted' : '❌ failed'
    const lines = [
      `## nbs check: ${verdict}`,
      '',
      `${s.passed} passed · ${s.failed} failed · ${s.errored} errored · ${s.skipped} skipped — ${cell(report.host)}, ${(report.durationMs / 1000).toFixed(1)} s`,
      '',
      '| | check | phase | result | time |',
      '|---|---|---|---|---|',
    ]
    for (const phase of report.phases) {
      for (const r of phase.checks) {
        const what = r.status === 'passed' ? (r.message ?? '') : `${r.status}: ${r.message ?? ''}`
        lines.push(`| ${ICON[r.status]} | \`${cell(r.id).replace(/`/g, '')}\` | ${cell(phase.name)} | ${cell(what)} | ${(r.durationMs / 1000).toFixed(2)} s |`)
      }
    }
    sink.write(`${lines.join('\n')}\n`)
  },
})

export default definePlugin({ name: 'markdown', reporters: { summary } })
