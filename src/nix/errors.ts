/**
 * Structured errors from Nix's stderr, plain text or internal-json, across the formats users run:
 * ≤ 2.3 one-liners, 2.4–2.12 message-first, ≥ 2.13 traces-first, and both build-failure wordings
 * (≤ 2.28 `builder for … failed`, ≥ 2.29 `Cannot build … Reason:`). See reference/nix.md §5.
 */
import { classifyMessage, nixPosition, splitNixLog, stripAnsi, type NixLogChunk, type NixRecord } from './internal-json.js'

/**
 * `unsupported`: this machine cannot build it (another platform, a missing system feature, local
 * builds disabled, no builder): a configuration problem, not a failed build.
 */
export type NixErrorKind = 'eval' | 'assertion' | 'missing-option' | 'build' | 'dependency' | 'hash-mismatch' | 'unsupported' | 'other'

export interface NixError {
  /** the Nix error itself: its first meaningful line, ANSI stripped, without `error:` */
  message: string
  kind: NixErrorKind
  /** where Nix points; for `missing-option`, the file that defines the undeclared option */
  file?: string
  line?: number
  column?: number
  /** Nix's code frame (`12|   foo` + caret line), common indentation removed */
  codeFrame?: string
  /** `… while evaluating …` frames as Nix printed them, with ` at file:line:col` when known */
  traces?: string[]
  drv?: string
  /** every derivation a `--keep-going` summary (`build of 'a.drv^out', 'b.drv^out' failed`) names, outputs cut */
  drvs?: string[]
  /** the builder's exit code (not Nix's own) */
  exitCode?: number
  /** why a derivation failed: `builder failed with exit code 3`, `1 dependency failed`, `platform mismatch`… */
  reason?: string
  /** builder output Nix quoted (`last N log lines:`; omitted by Nix in internal-json mode) */
  logTail?: string[]
  /** the whole error block, ANSI stripped */
  raw: string
}

const TRACE = /^\s*… (.*)$/
// `at file:line:col:`; the column is left out when Nix does not know it (`at file:12:`)
const POS = /^\s*at (.+?):(\d+)(?::(\d+))?:?\s*$/
const FRAME = /^\s*\d*\s*\|/
// ≤ 2.3 put the position at the end of the message line.
const INLINE_POS = /^(.*\S) at ((?:\/|«)\S*):(\d+):(\d+)$/
const EVAL_HINTS =
  /undefined variable|attribute '.*' missing|does not provide attribute|cannot coerce|while a .* was expected|infinite recursion|syntax error|called (?:with unexpected|without required) argument|assertion .* failed|cached failure of attribute|is not a function|while evaluating/

/** Every error Nix reported, in order. Traces, warnings and info lines are not errors. */
export function extractNixErrors(input: string | NixRecord[]): NixError[] {
  const chunks: NixLogChunk[] =
    typeof input === 'string' ? splitNixLog(input) : input.map((record) => ({ kind: 'record' as const, record }))
  const errors: NixError[] = []
  for (const chunk of chunks) {
    if (chunk.kind === 'text') {
      for (const block of errorBlocks(stripAnsi(chunk.text))) errors.push(parseErrorBlock(block))
    } else if (chunk.record.action === 'msg' && typeof chunk.record.msg === 'string') {
      if (classifyMessage(chunk.record.msg) === 'error') errors.push(fromRecord(chunk.record, chunk.record.msg))
    }
  }
  return errors
}

/** An `error:` line and the indented (or blank) lines under it. */
function errorBlocks(text: string): string[] {
  const blocks: string[] = []
  let current: string[] | undefined
  for (const line of text.split('\n')) {
    if (/^error:/.test(line)) {
      if (current) blocks.push(current.join('\n'))
      current = [line]
    } else if (current && (line.trim() === '' || /^\s/.test(line))) current.push(line)
    else if (current) {
      blocks.push(current.join('\n'))
      current = undefined
    }
  }
  if (current) blocks.push(current.join('\n'))
  return blocks.map((b) => b.replace(/\s+$/, ''))
}

/** Nix ≥ 2.4 records carry the position as fields: more reliable than the rendered text. */
function fromRecord(record: NixRecord, msg: string): NixError {
  const error = parseErrorBlock(stripAnsi(msg).replace(/\s+$/, ''))
  const pos = nixPosition(record)
  if (pos && error.kind !== 'missing-option') {
    error.file = pos.file
    error.line = pos.line
    if (pos.column !== undefined) error.column = pos.column
    else delete error.column
  }
  if (Array.isArray(record.trace) && record.trace.length) {
    error.traces = record.trace.map((t) => {
      const text = stripAnsi(t.raw_msg ?? '').trim()
      const at = nixPosition(t)
      return at ? `${text} at ${at.file}:${at.line}${at.column !== undefined ? `:${at.column}` : ''}` : text
    })
  }
  return error
}

/** Parses one ANSI-stripped error block (starting with `error:`). */
export function parseErrorBlock(block: string): NixError {
  // Continuation lines are indented to align under the text after `error: ` (7 columns).
  const raw = block.split('\n')
  const body = [(raw[0] ?? '').replace(/^error:\s?/, ''), ...raw.slice(1).map((l) => l.replace(/^ {1,7}/, ''))]

  // ≥ 2.13 prints the traces first and the error itself last, as an inner `error:` line.
  let start = 0
  let sawTrace = false
  body.forEach((l, i) => {
    if (TRACE.test(l)) sawTrace = true
    else if (sawTrace && /^error:/.test(l)) start = i
  })
  if (start > 0) body[start] = (body[start] ?? '').replace(/^error:\s?/, '')
  let first = start
  while (first < body.length - 1 && (body[first] ?? '').trim() === '') first++

  const error: NixError = { message: (body[first] ?? '').trim(), kind: 'other', raw: block }
  const tail = body.slice(start)
  findPosition(error, tail.slice(first - start))
  const traces = findTraces(body)
  if (traces.length) error.traces = traces
  classify(error, tail.join('\n'), traces.length > 0)
  const log = findLogTail(tail)
  if (log.length) error.logTail = log
  return error
}

/** The message's own `at file:line:col:` and code frame: the first one before any trace. */
function findPosition(error: NixError, lines: string[]): void {
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i] ?? ''
    if (TRACE.test(l)) break
    const m = POS.exec(l)
    if (!m) continue
    error.file = m[1]
    error.line = Number(m[2])
    if (m[3] !== undefined) error.column = Number(m[3])
    let j = i + 1
    while (j < lines.length && (lines[j] ?? '').trim() === '') j++
    const frame: string[] = []
    while (j < lines.length && FRAME.test(lines[j] ?? '')) frame.push(lines[j++] ?? '')
    if (frame.length) error.codeFrame = dedent(frame)
    return
  }
  const inline = INLINE_POS.exec(error.message)
  if (inline) {
    error.message = inline[1] ?? error.message
    error.file = inline[2]
    error.line = Number(inline[3])
    error.column = Number(inline[4])
  }
}

function findTraces(lines: string[]): string[] {
  const traces: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = TRACE.exec(lines[i] ?? '')
    if (!m) continue
    let text = (m[1] ?? '').trim()
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j] ?? ''
      if (TRACE.test(l) || /^error:/.test(l)) break
      const pos = POS.exec(l)
      if (pos) {
        text += ` at ${pos[1]}:${pos[2]}${pos[3] !== undefined ? `:${pos[3]}` : ''}`
        break
      }
    }
    traces.push(text)
  }
  return traces
}

/** `Reason:`s (≥ 2.30, reference/nix.md §5.2, §9) that say this machine cannot build it. */
const UNSUPPORTED_REASON = /^(required system or feature not available|platform mismatch|missing system features|local builds are disabled)/
// ≤ 2.29 and Lix: `a 'aarch64-linux' with features {} is required to build '…drv', but I am a 'x86_64-linux' with features {…}`
const WRONG_PLATFORM = /^a '[^']+'(?: system)?(?: with (?:the )?features? .*?)? is required to build '([^']+)'/m
// max-jobs = 0 without builders (`unable` ≤ 2.20 and Lix, `Unable` later, over several indented
// lines in 2.21–2.29), and ≥ 2.24 a store that cannot build (`--store` not local, no builder)
const NO_BUILDER = /([Uu]nable to (?:start any build|build with a primary store that isn't a local store);[\s\S]*?)(?:\n\s*\n|\n\s*For more information|\n\s*https?:|$)/

function classify(error: NixError, text: string, hasTraces: boolean): void {
  let m: RegExpExecArray | null
  if ((m = /hash mismatch in fixed-output derivation '([^']+)'/.exec(text))) {
    Object.assign(error, { kind: 'hash-mismatch', drv: m[1] })
    const [spec, got] = [/specified:\s*(\S+)/.exec(text)?.[1], /got:\s*(\S+)/.exec(text)?.[1]]
    if (spec && got) error.reason = `specified ${spec}, got ${got}`
  } else if ((m = /Cannot build '([^']+)'\.?\s*\n\s*Reason: (.+?)\.?\s*$/m.exec(text))) {
    const reason = m[2] ?? ''
    const kind = UNSUPPORTED_REASON.test(reason) ? 'unsupported' : /dependenc(?:y|ies) failed/.test(reason) ? 'dependency' : 'build'
    Object.assign(error, { kind, drv: m[1], reason })
  } else if ((m = /builder for '([^']+)' (failed with exit code (\d+)|failed due to signal [^;\n]*|died abnormally)/.exec(text))) {
    Object.assign(error, { kind: 'build', drv: m[1], reason: `builder ${m[2]}` })
  } else if ((m = WRONG_PLATFORM.exec(text))) {
    Object.assign(error, { kind: 'unsupported', drv: m[1] })
  } else if ((m = NO_BUILDER.exec(text))) {
    Object.assign(error, { kind: 'unsupported', message: (m[1] ?? '').replace(/\s+/g, ' ').trim() })
  } else if ((m = /(\d+) dependencies of derivation '([^']+)' failed to build/.exec(text))) {
    Object.assign(error, { kind: 'dependency', drv: m[2], reason: `${m[1]} ${m[1] === '1' ? 'dependency' : 'dependencies'} failed` })
  } else if ((m = /^Failed assertions:\s*\n\s*- (.*)$/m.exec(text))) {
    Object.assign(error, { kind: 'assertion', message: (m[1] ?? '').trim() })
  } else if (/The option `[^']+' does not exist/.test(error.message)) {
    error.kind = 'missing-option'
    error.message = error.message.replace(/\s*Definition values:\s*$/, '')
    const def = /^\s*- In `([^']+)'/m.exec(text)
    if (def) Object.assign(error, { file: def[1], line: undefined, column: undefined, codeFrame: undefined })
  } else if ((m = /build of ('[^']+'(?:, '[^']+')*)(?: on '[^']*')? failed/.exec(text))) {
    // `--keep-going` summary: bare paths from the store (2.8 nix-store), installables from the
    // `nix build` CLI (2.23+, Lix): `drv^out`, `drv^*`, `drv^out,dev`, legacy `drv!out`
    const drvs = [...(m[1] ?? '').matchAll(/'([^']+)'/g)].map((q) => (q[1] ?? '').replace(/(\.drv)[!^].*$/, '$1'))
    Object.assign(error, { kind: 'build', drv: drvs[0], drvs })
  } else if (error.file !== undefined || hasTraces || EVAL_HINTS.test(error.message)) {
    error.kind = 'eval'
  }
  const code = error.reason && /exit code (\d+)/.exec(error.reason)
  if (code) error.exitCode = Number(code[1])
  error.message = error.message.replace(/;$/, '')
  for (const key of ['file', 'line', 'column', 'codeFrame'] as const) if (error[key] === undefined) delete error[key]
}

function findLogTail(lines: string[]): string[] {
  const at = lines.findIndex((l) => /^\s*[Ll]ast \d+ log lines:\s*$/.test(l))
  if (at < 0) return []
  const out: string[] = []
  for (const l of lines.slice(at + 1)) {
    const m = /^\s*> ?(.*)$/.exec(l)
    if (!m) break
    out.push(m[1] ?? '')
  }
  return out
}

function dedent(lines: string[]): string {
  const indent = Math.min(...lines.map((l) => /^ */.exec(l)?.[0].length ?? 0))
  return lines.map((l) => l.slice(indent).trimEnd()).join('\n')
}
