import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { appendStepSummary, commandSafeSink, createGithubReporter, escapeData, escapeProperty, neutralizeWorkflowCommands, renderAnnotations, renderSummary, STEP_SUMMARY_MAX_BYTES } from '../../../src/reporters/github.js'
import type { ReportSink } from '../../../src/reporters/types.js'
import { check, report } from '../../helpers/report-fixtures.js'
import { looksLikeCommand, parseWorkflowCommand, workflowCommands } from '../../helpers/workflow-commands.js'

const HOSTILE_ID = 'a::b,c:d%0A%e\nf'
const HOSTILE_MSG = 'line one\r\n::set-output name=x::y\n::add-mask::secret\n100% done, a:b'

describe('github: escaping', () => {
  it('escapes data and properties exactly as the toolkit does', () => {
    expect(escapeData('a%b\rc\nd:e,f')).toBe('a%25b%0Dc%0Ad:e,f')
    expect(escapeProperty('a%b\rc\nd:e,f')).toBe('a%25b%0Dc%0Ad%3Ae%2Cf')
    // `%` first: an input that already looks escaped survives a round trip
    expect(escapeData('%0A')).toBe('%250A')
  })

  it('hostile ids and messages stay one command each, and read back as written', () => {
    const r = report({ eval: [check({ id: HOSTILE_ID, status: 'failed', message: HOSTILE_MSG, details: { file: 'hosts/we,b:1.nix', line: 6, column: 15 } })] })
    const lines = renderAnnotations(r)
    expect(lines).toHaveLength(1)
    expect(lines[0]).not.toMatch(/[\r\n]/)
    const cmd = parseWorkflowCommand(lines[0]!)!
    expect(cmd.command).toBe('error')
    // the id is sanitised to one line (LF → space) before escaping, nothing else changes
    expect(cmd.properties).toEqual({ file: 'hosts/we,b:1.nix', line: '6', col: '15', title: 'a::b,c:d%0A%e f' })
    expect(cmd.data).toBe('line one\n::set-output name=x::y\n::add-mask::secret\n100% done, a:b')
  })

  it('writes the Nix position when it is a checkout file, else the check file (a store path no one can open is not written)', () => {
    const r = report({
      eval: [
        check({ id: 'no-loc', status: 'failed', message: 'boom', details: { exitCode: 1 } }),
        check({ id: 'nested', status: 'errored', message: 'x', details: { errors: [{ message: 'm' }, { message: 'n', file: '/nix/store/abc-source/hosts/web.nix', line: 6, column: 15 }] } }),
        check({ id: 'nix-2.20', status: 'failed', message: 'y', details: { file: 'hosts/web.nix:7:3' } }),
      ],
    })
    const cmds = renderAnnotations(r).map((l) => parseWorkflowCommand(l)!)
    expect(cmds.map((c) => c.properties)).toEqual([
      { file: 'checks/example.ts', title: 'no-loc' },
      { file: 'checks/example.ts', title: 'nested' },
      { file: 'hosts/web.nix', line: '7', col: '3', title: 'nix-2.20' },
    ])
  })
})

describe('github: which checks, in which order', () => {
  it('errors first, then failed warnings as ::warning; passed and skipped are not annotated', () => {
    const r = report({
      pre: [check({ id: 'w1', status: 'failed', severity: 'warning', message: 'warn 1' }), check({ id: 'ok' }), check({ id: 'skip', status: 'skipped' })],
      post: [check({ id: 'e1', status: 'failed', message: 'err 1' }), check({ id: 'w2', status: 'errored', severity: 'warning', message: 'warn 2' }), check({ id: 'e2', status: 'errored', message: 'err 2' })],
    })
    expect(renderAnnotations(r).map((l) => parseWorkflowCommand(l)).map((c) => `${c!.command} ${c!.properties.title}`)).toEqual(['error e1', 'error e2', 'warning w1', 'warning w2'])
    // --fail-on warning: a failed warning fails the run, so it is an error
    const strict = report({ pre: [check({ id: 'w1', status: 'failed', severity: 'warning', message: 'warn' })] }, { failOn: 'warning' })
    expect(parseWorkflowCommand(renderAnnotations(strict)[0]!)!.command).toBe('error')
  })

  it('past the per-kind cap, one notice says how many more', () => {
    const r = report({ eval: Array.from({ length: 7 }, (_, i) => check({ id: `c${i}`, status: 'failed', message: 'x' })) })
    const cmds = renderAnnotations(r, 5).map((l) => parseWorkflowCommand(l)!)
    expect(cmds.map((c) => c.command)).toEqual(['error', 'error', 'error', 'error', 'error', 'notice'])
    expect(cmds[5]!.data).toBe('2 more failed checks: see the step summary')
  })
})

describe('github: step summary', () => {
  it('counts and a table of failed checks; untrusted text cannot break the table or inject HTML', () => {
    const r = report({ eval: [check({ id: 'a|b<img src=x>', status: 'failed', message: 'x | y\nsecond line', details: { file: 'hosts/web.nix', line: 6, column: 15 } }), check({ id: 'fine' })] })
    const md = renderSummary(r)
    expect(md).toContain('## nbs check: ❌ failed')
    expect(md).toContain('| 2 | 1 | 1 | 0 | 0 | 0 |')
    const row = md.split('\n').find((l) => l.startsWith('| ❌'))!
    expect(row).toBe('| ❌ | a\\|b&lt;img src=x&gt; | eval | hosts/web.nix:6:15 | x \\| y |')
  })

  it('stays within the cap with a note naming what was left out', () => {
    const many = Array.from({ length: 3000 }, (_, i) => check({ id: `check-${i}`, status: 'failed', message: 'm'.repeat(400) }))
    const r = report({ eval: many })
    const md = renderSummary(r, 64 * 1024)
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(64 * 1024)
    expect(md).toMatch(/_… \d+ more failed checks not shown: the step summary is limited to 1 MiB/)
    const full = renderSummary(r)
    expect(Buffer.byteLength(full)).toBeLessThanOrEqual(STEP_SUMMARY_MAX_BYTES)
    expect(full.length).toBeGreaterThan(md.length)
  })

  it('appends to the file and counts what the step already wrote into the 1 MiB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-gh-'))
    try {
      const file = join(dir, 'summary.md')
      writeFileSync(file, `# earlier step output\n${'x'.repeat(STEP_SUMMARY_MAX_BYTES - 100_000)}\n`)
      const many = Array.from({ length: 3000 }, (_, i) => check({ id: `check-${i}`, status: 'failed', message: 'm'.repeat(400) }))
      await appendStepSummary(file, report({ eval: many }))
      const text = readFileSync(file, 'utf8')
      expect(text.startsWith('# earlier step output\n')).toBe(true)
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(STEP_SUMMARY_MAX_BYTES)
      expect(text).toContain('## nbs check: ❌ failed')
      expect(text).toMatch(/more failed checks not shown/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('github: untrusted lines never become commands', () => {
  it('neutralizes `::` and `##[` at a line start, after any leading whitespace', () => {
    const text = '::add-mask::x\n    ::set-output name=a::b\n\u00a0::error::fake\n##[set-output name=a;]b\nok :: fine\n'
    const out = neutralizeWorkflowCommands(text)
    expect(out.split('\n').filter(looksLikeCommand)).toEqual([])
    // reads the same once the zero-width space is removed
    expect(out.replaceAll('\u200B', '')).toBe(text)
  })

  it('a stdout sink guarded for GitHub neutralizes commands split across writes', () => {
    const written: string[] = []
    const raw: ReportSink = { isTTY: false, color: false, columns: 80, write: (c) => void written.push(c) }
    const safe = commandSafeSink(raw)
    safe.write('before\n    :')
    safe.write(':add-mask::secret\n:')
    safe.write(':set-output name=x::y')
    safe.flush()
    expect(written.join('').split('\n').filter(looksLikeCommand)).toEqual([])
    expect(safe.isTTY).toBe(false)
  })

  it('the reporter writes only its escaped annotation lines', async () => {
    const chunks: string[] = []
    const sink: ReportSink = { isTTY: false, color: false, columns: 80, write: (c) => void chunks.push(c) }
    const r = report({ eval: [check({ id: 'x', status: 'failed', message: HOSTILE_MSG, stdout: { text: '::add-mask::s\n', bytes: 14, truncated: false } })] })
    await createGithubReporter({})({ sink }).onRunEnd!(r)
    const cmds = workflowCommands(chunks.join(''))
    expect(cmds.map((c) => c.command)).toEqual(['error'])
  })
})
