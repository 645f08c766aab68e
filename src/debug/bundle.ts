import { open } from 'node:fs/promises'
import type { BuildErrorDetail, BuildRecord } from '../records/schema.js'
import { readNixVersion } from '../build/snapshot.js'
import { unreadableReason } from '../records/store.js'
import { createStatusReport, type StatusOptions, type StatusReport } from '../status/report.js'
import { parseNixLine, stripAnsi } from '../nix/internal-json.js'
import { VERSION } from '../version.js'
import { describeRedactions, redactValue, type Redaction } from '../redact/engine.js'

/** What `nbs debug` hands to a person or an LLM: everything needed to diagnose, secrets redacted. */
export interface DebugBundle {
  generatedAt: string
  nbsVersion: string
  nixVersion: string | null
  status: StatusReport
  lastBuild: BuildRecord | null
  errors: BuildErrorDetail[]
  /** the last lines of last-build.log */
  buildLogTail: string[]
  /** why the last build's log is not in the bundle (permission denied: …, or it is gone) */
  buildLogNote?: string
  failedUnits: { unit: string; description: string; journal: string[] }[]
  redactions: { total: number; kinds: Redaction[]; summary: string }
}

const LOG_LINES = 200
const TAIL_BYTES = 1 << 20

/** The last `lines` lines of a file, reading at most its last MiB (build logs can be huge); [] when it cannot be opened. */
export async function tailFile(path: string, lines = LOG_LINES): Promise<string[]> {
  return (await tailFileResult(path, lines)).lines
}

/** tailFile, and why the file could not be read (`unreadableReason`, naming the fix for a refusal). */
export async function tailFileResult(path: string, lines = LOG_LINES, group?: string): Promise<{ lines: string[]; note?: string }> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (e) {
    return { lines: [], note: unreadableReason(path, e, group) }
  }
  try {
    const { size } = await handle.stat()
    const start = Math.max(0, size - TAIL_BYTES)
    const buf = Buffer.alloc(size - start)
    await handle.read(buf, 0, buf.length, start)
    const all = buf.toString('utf8').split('\n')
    if (start > 0) all.shift() // a partial first line
    if (all.at(-1) === '') all.pop()
    return { lines: all.slice(-lines) }
  } finally {
    await handle.close()
  }
}

/**
 * The log as a person read it: last-build.log also keeps Nix's raw `@nix` records, whose JSON
 * escaping would hide secrets from redaction and clutter the bundle. Build output lines (result
 * 101/107) and messages are decoded; other records are dropped; plain lines stay.
 */
export function readableLog(lines: readonly string[]): string[] {
  const out: string[] = []
  for (const line of lines) {
    if (!line.startsWith('@nix ')) {
      out.push(line)
      continue
    }
    const r = parseNixLine(line)
    if (!r) out.push(line)
    else if (r.action === 'result' && (r.type === 101 || r.type === 107) && typeof r.fields?.[0] === 'string') out.push(stripAnsi(r.fields[0]))
    else if (r.action === 'msg' && typeof r.msg === 'string') out.push(...stripAnsi(r.msg).split('\n'))
  }
  return out
}

/** Collects the bundle (the status probes run concurrently) and redacts it before anyone sees it. */
export async function collectDebugBundle(opts: StatusOptions & { logLines?: number }): Promise<DebugBundle> {
  const [status, nixVersion] = await Promise.all([createStatusReport(opts), readNixVersion(opts.exec)])
  const last = status.lastBuild
  const tail = last ? await tailFileResult(last.buildLogPath, 20 * (opts.logLines ?? LOG_LINES), opts.logGroup) : { lines: [] }
  const raw = {
    generatedAt: new Date().toISOString(),
    nbsVersion: VERSION,
    nixVersion,
    status,
    lastBuild: last,
    errors: last?.errorDetails ?? [],
    buildLogTail: readableLog(tail.lines).slice(-(opts.logLines ?? LOG_LINES)),
    ...(tail.note && { buildLogNote: tail.note }),
    failedUnits: status.failedUnitDetails,
  }
  const { value, redactions, total } = redactValue(raw)
  return { ...value, redactions: { total, kinds: redactions, summary: describeRedactions(redactions) } }
}

const fence = (lines: string[] | string) => ['```', ...(Array.isArray(lines) ? lines : [lines]).map((l) => l.replace(/^```/, '`\u200b``')), '```']

/** Markdown with one section per concern, in the order a person reads a failure. */
export function renderDebugMarkdown(b: DebugBundle): string {
  const s = b.status
  const out = [
    `# nbs debug bundle: ${s.hostname}`,
    '',
    `Generated ${b.generatedAt} by nbs ${b.nbsVersion}; Nix ${b.nixVersion ?? 'not found'}. Overall status: **${s.overallStatus}**.`,
    `Redaction: ${b.redactions.summary}.`,
    '',
    '## Machine',
    '',
    `- NixOS generation: ${s.generation.generation ?? 'none'} (running ${s.generation.running ?? s.generation.currentSystem ?? 'unknown'}, newest ${s.generation.newest ?? '—'}), ${s.generation.state}: ${s.generation.message}`,
    `- Flake revision: ${s.revision.status}: ${s.revision.message}`,
    `- Commit: ${s.commit ?? 'unknown'}${s.commitDirty ? ' (dirty)' : ''}; nixpkgs: ${s.nixpkgsRev ?? 'unknown'}; NixOS ${s.nixosVersion ?? 'unknown'}`,
    `- Home Manager: ${s.homeManager?.generation ?? 'none'}; reboot needed: ${s.rebootNeeded.needed ? `yes (${s.rebootNeeded.differs.join(', ')})` : 'no'}`,
    `- systemd: ${s.systemState ?? 'not PID 1'}; failed units: ${s.failedUnits.join(', ') || 'none'}; journal errors since boot: ${s.journalErrors}`,
    '',
    '## Last build',
    '',
  ]
  const b0 = b.lastBuild
  if (!b0) out.push('No build recorded (`nbs build` records every rebuild).')
  else {
    out.push(`- \`${b0.command}\` (${b0.tool}), ${b0.success ? 'succeeded' : `failed with exit code ${b0.exitCode}`}${b0.interrupted ? ', interrupted' : ''}`)
    out.push(`- ${b0.buildStart} → ${b0.buildEnd} (${b0.buildDuration} s); generation ${b0.preGeneration.generation ?? '?'} → ${b0.postGeneration.generation ?? '?'}; flake ${b0.flakePath}`)
  }
  if (b.errors.length) {
    out.push('', '## Errors', '')
    for (const e of b.errors) {
      const where = [e.drv, e.file ? `${e.file}:${e.line ?? '?'}:${e.column ?? '?'}` : undefined, e.exitCode === undefined ? undefined : `exit code ${e.exitCode}`].filter(Boolean).join(', ')
      out.push(`### ${e.kind}: ${e.message.split('\n')[0]}`, '', ...(where ? [where, ''] : []))
      if (e.codeFrame) out.push(...fence(e.codeFrame), '')
      if (e.logTail?.length) out.push('Last log lines of the failed build:', '', ...fence(e.logTail), '')
    }
  }
  if (b.buildLogTail.length) out.push('', `## Build log (last ${b.buildLogTail.length} lines)`, '', ...fence(b.buildLogTail))
  else if (b.buildLogNote) out.push('', '## Build log', '', `Not included: ${b.buildLogNote}`)
  if (b.failedUnits.length) {
    out.push('', '## Failed units', '')
    for (const u of b.failedUnits) out.push(`### ${u.unit}: ${u.description}`, '', ...fence(u.journal.length ? u.journal : ['(no journal lines)']), '')
  }
  if (s.journalTop.length) out.push('', '## Top journal errors', '', ...s.journalTop.map((t) => `- ${t.unit}: ${t.message}${t.count > 1 ? ` (×${t.count})` : ''}`))
  if (s.notes.length) out.push('', '## Notes', '', ...s.notes.map((n) => `- ${n}`))
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n')}\n`
}
