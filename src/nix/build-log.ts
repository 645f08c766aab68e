/**
 * Streaming parser for Nix's `--log-format internal-json` output as `nbs build` sees it: chunk by
 * chunk through one StreamSplitter path (stream(); write() is the same with no passthrough), or a
 * decoded line at a time (line()), never the whole log. It tracks the activity tree, build/download
 * counters, the last lines of each build (Nix leaves the log tail out of errors in JSON mode,
 * reference/nix.md §1.9) and the errors, from `@nix` records and from plain-text error blocks alike.
 *
 * Speed: build log lines (result 101) are the bulk of a stream, so the common records are read
 * in place in the chunk's latin1 string, without JSON.parse, when they have Nix's own shape (keys
 * sorted alphabetically); anything else goes through parseNixLine, which accepts any key order.
 * Memory: what is kept (ids, phases, log tails) is copied out of the chunk (unpinned()), and only
 * live activities, running builds and the last 64 stopped ones are kept.
 */
import { BuildTracker, latin1ToUtf8, type ActivityInfo, type BuildLogEvent, type BuildProgress, type BuildState } from './build-progress.js'
import { extractNixErrors, parseErrorBlock, type NixError } from './errors.js'
import { classifyMessage, parseNixLine, stripAnsi, stripSyslogPriority, unpinned, type MessageClass, type NixRecord } from './internal-json.js'
import { StreamSplitter } from './stream.js'

export type { ActivityInfo, BuildLogEvent, BuildProgress, Counter } from './build-progress.js'

export interface BuildLogParserOptions {
  /** lines kept per build (Nix itself quotes 10, 25 since 2.20); default 25 */
  tailLines?: number
  onEvent?: (e: BuildLogEvent) => void
  /** write() only: receives the plain (non-`@nix`) lines, decoded, without a syslog priority */
  onPlain?: (line: string) => void
}

/** What a stream() splitter hands on besides the records it parses. */
export interface ParsedStreamHandlers {
  /** bytes that are not records, at once and in order (see StreamSplitter) */
  pass?: (bytes: Buffer) => void
  /** a plain (non-`@nix`) line, decoded, without a syslog priority */
  text?: (line: string) => void
  /** a record the parser took, as its bytes without newline and syslog priority (for nom) */
  record?: (bytes: Buffer) => void
}

const MAX_ERRORS = 500
const MAX_BLOCK_LINES = 400 // plain error block: first and last 200 lines (≥ 2.13 puts the message last)
const HOT = 64 // ids of running builds, compared in place before a Map lookup (more than any max-jobs)

const P_RESULT = '@nix {"action":"result","fields":['
const P_STOP = '@nix {"action":"stop","id":'
const P_MSG = '@nix {"action":"msg",'
const FIELDS_AT = P_RESULT.length
const codes = (s: string) => Array.from(s, (c) => c.charCodeAt(0))
const C_STOP = codes(P_STOP)
const C_MSG = codes(P_MSG)
const C_TYPE = codes(',"type":')
const C_ID = codes('],"id":')
const C_SID = codes(',"sid":"')

// charCodeAt loops rather than startsWith/lastIndexOf/slice: on a line inside a big chunk string
// they allocate nothing and were 1.5–2× faster in a micro-benchmark on 1M generated lines.

/** Whether s[at…] starts with the code units c. */
function has(s: string, at: number, c: number[]): boolean {
  for (let k = 0; k < c.length; k++) if (s.charCodeAt(at + k) !== c[k]) return false
  return true
}

/** Whether s[at, at + c.length) equals c, compared from the end (ids differ in their last digits). */
function hasBack(s: string, at: number, c: number[]): boolean {
  for (let k = c.length - 1; k >= 0; k--) if (s.charCodeAt(at + k) !== c[k]) return false
  return true
}

/** Start of the run of ASCII digits ending just before `end` (end itself when none). */
function digitsBack(s: string, end: number, min: number): number {
  let p = end
  while (p > min) {
    const c = s.charCodeAt(p - 1)
    if (c < 48 || c > 57) break
    p--
  }
  return p
}

/**
 * Where a `,"sid":"…"` ending just before `end` starts (Determinate Nix ≥ 3.20 adds it to every
 * record, sorted between `id` and `type`), else `end`: the fast paths read its records too.
 */
function sidBefore(s: string, end: number, min: number): number {
  if (s.charCodeAt(end - 1) !== 34 /* " */) return end
  const at = s.lastIndexOf('"', end - 2) - (C_SID.length - 1)
  return at >= min && has(s, at, C_SID) ? at : end
}

/** Decimal value of s[from, to) (ASCII digits, at most 15 of them), or -1. */
function num(s: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    n = n * 10 + c
  }
  return n
}

export class BuildLogParser {
  private readonly onEvent: ((e: BuildLogEvent) => void) | undefined
  private readonly onPlain: ((line: string) => void) | undefined
  private readonly tracker: BuildTracker
  private readonly errs: NixError[] = []
  private block: string[] | undefined
  private blockError: NixError | undefined
  private readonly hotIds: string[] = []
  private readonly hotCodes: number[][] = []
  private readonly hotBuilds: BuildState[] = []
  /** builds whose tail got lines from the current chunk string, copied at its end */
  private readonly touched: BuildState[] = []
  private escSrc: string | undefined
  private escPos = -1
  /** the current line holds UTF-8 bytes as latin1 characters, decoded only where kept */
  private latin1 = false
  private own: StreamSplitter | undefined
  /** counts, for reports and for tests of the bounds */
  readonly stats = {
    lines: 0,
    records: 0,
    plain: 0,
    messages: { error: 0, trace: 0, warning: 0, info: 0 } as Record<MessageClass, number>,
    droppedErrors: 0,
  }

  constructor(opts: BuildLogParserOptions = {}) {
    this.onEvent = opts.onEvent
    this.onPlain = opts.onPlain
    this.tracker = new BuildTracker(Math.max(0, opts.tailLines ?? 25), (e) => this.onEvent?.(e))
  }

  /**
   * A splitter for one output stream of a running Nix (or a tool around it): records are parsed
   * here straight from the chunk's bytes (no string per line), everything else goes to `h`. This
   * is the parser's one path for bytes: `nbs build` (both streams of the tool) and write() use it.
   */
  stream(h: ParsedStreamHandlers = {}): StreamSplitter {
    const { pass, text, record } = h
    return new StreamSplitter({
      pass: pass ?? (() => {}),
      record: (s, a, z, encoded) => {
        this.latin1 = encoded
        const ok = this.lineAt(s, a, z, false)
        this.latin1 = false
        if (ok && record) record(Buffer.from(s.slice(s.charCodeAt(a) === 60 ? a + 3 : a, z), 'latin1'))
        return ok
      },
      text: (line) => {
        if (!this.line(line)) text?.(stripSyslogPriority(line))
      },
      chunkEnd: () => this.chunkEnd(),
    })
  }

  /** Raw bytes (a child's stderr chunks), split and parsed by stream(); plain lines go to `onPlain`. */
  write(chunk: Uint8Array): void {
    this.own ??= this.stream({ text: this.onPlain })
    this.own.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
  }

  /** One decoded line WITHOUT its newline. True when it was an `@nix` record (consumed), false for plain text. */
  line(text: string): boolean {
    const ok = this.lineAt(text, 0, text.length, true)
    this.chunkEnd()
    return ok
  }

  /** End of stream: the last unterminated line (write()) and a pending plain-text error block. */
  end(): void {
    this.own?.end()
    this.closeBlock()
  }

  private chunkEnd(): void {
    this.escSrc = undefined
    for (const b of this.touched) b.tail.seal()
    this.touched.length = 0
  }

  /** A decoded record (any key order), for callers that parse lines themselves. */
  record(r: NixRecord): void {
    this.stats.records++
    const id = typeof r.id === 'string' ? r.id : typeof r.id === 'number' ? String(r.id) : undefined
    const t = this.tracker
    switch (r.action) {
      case 'start':
        if (id !== undefined && typeof r.type === 'number') t.start(id, r.type, r.parent === undefined ? '0' : String(r.parent), r.text ?? '', r.fields ?? [])
        break
      case 'stop':
        if (id !== undefined) this.stop(id)
        break
      case 'result': {
        if (id === undefined || typeof r.type !== 'number') break
        const f: unknown[] = Array.isArray(r.fields) ? r.fields : []
        const n = (i: number) => (typeof f[i] === 'number' ? (f[i] as number) : 0)
        if (r.type === 101 || r.type === 107) this.logLine(t.buildOf(id), String(f[0] ?? ''), false)
        else if (r.type === 104 && typeof f[0] === 'string') t.phase(id, f[0])
        else if (r.type === 105) t.progress(id, n(0), n(1), n(2), n(3))
        else if (r.type === 106) t.setExpected(id, n(0), n(1))
        break
      }
      case 'msg':
        this.message(r)
        break
      // setPhase (builder input only), Determinate's 110 payloads, anything newer: ignored
    }
  }

  get progress(): BuildProgress {
    return this.tracker.progressSnapshot()
  }

  /** Errors so far, newest last, including a plain-text error block still being read. */
  errors(): NixError[] {
    if (!this.block) return [...this.errs]
    this.blockError ??= this.withTail(parseErrorBlock(this.block.join('\n').replace(/\s+$/, '')))
    return [...this.errs, this.blockError]
  }

  /** The last lines (ANSI stripped) of a running or recently stopped build. */
  tail(drv: string): string[] {
    return this.tracker.tail(drv).map((l) => (l.includes('\u001b') ? stripAnsi(l) : l))
  }

  /** A live activity (stopped ones are dropped). */
  activity(id: string): ActivityInfo | undefined {
    return this.tracker.activity(id)
  }

  /** Sizes of the bounded state. */
  get sizes(): { activities: number; running: number; recent: number; failedDrvs: number; errors: number; hotIds: number } {
    return { ...this.tracker.sizes, errors: this.errs.length, hotIds: this.hotIds.length }
  }

  // ── fast paths: Nix's exact shapes; false falls back to parseNixLine ──

  /** Chunks are read as latin1 (StreamSplitter): UTF-8 is decoded only for the strings kept. */
  private decode(s: string): string {
    return this.latin1 ? latin1ToUtf8(s) : s
  }

  /** The line s[a, z): fast paths first, then parseNixLine, else plain text (when `plainOk`). */
  private lineAt(s: string, a: number, z: number, plainOk: boolean): boolean {
    // `<N>@nix `: the syslog priority of Nix ≤ 2.26 and Lix under systemd
    if (s.charCodeAt(a) === 60 && s.charCodeAt(a + 2) === 62 && s.charCodeAt(a + 3) === 64 && s.charCodeAt(a + 1) >= 48 && s.charCodeAt(a + 1) <= 55) a += 3
    const fast = s.charCodeAt(a) === 64 /* @ */ && s.charCodeAt(a + 4) === 32 && s.charCodeAt(a + 1) === 110 && s.charCodeAt(a + 2) === 105 && s.charCodeAt(a + 3) === 120
    if (fast) {
      const c = s.charCodeAt(a + 16) // r(esult), s(top|tart), m(sg)
      if (c === 114 ? this.fastResult(s, a, z) : c === 115 ? this.fastStop(s, a, z) : c === 109 && this.fastMsg(s, a, z)) {
        this.stats.lines++
        return true
      }
    }
    const text = a === 0 && z === s.length ? s : s.slice(a, z)
    const record = fast || text.includes('@nix ') ? parseNixLine(this.decode(text)) : undefined
    if (record) {
      this.stats.lines++
      this.record(record)
      return true
    }
    if (!plainOk) return false
    this.stats.lines++
    this.plain(text)
    return false
  }

  private fastStop(s: string, a: number, z: number): boolean {
    const at = a + C_STOP.length
    if (s.charCodeAt(z - 1) !== 125 /* } */ || !has(s, a, C_STOP)) return false
    const end = sidBefore(s, z - 1, at)
    if (end - at > 21 || digitsBack(s, end, at) !== at || end === at) return false
    this.stats.records++
    this.stop(s.slice(at, end))
    return true
  }

  private fastMsg(s: string, a: number, z: number): boolean {
    if (!has(s, a, C_MSG)) return false
    // msg records carry no ids: plain JSON.parse, no big-number rewrite
    let r: unknown
    try {
      r = JSON.parse(this.decode(s.slice(a + 5, z)))
    } catch {
      return false
    }
    if (typeof r !== 'object' || r === null || (r as NixRecord).action !== 'msg') return false
    this.stats.records++
    this.message(r as NixRecord)
    return true
  }

  /** Next backslash at or after `from` in s, remembered per chunk (a fresh search could scan far). */
  private escAt(s: string, from: number): number {
    if (this.escSrc !== s || (this.escPos >= 0 && this.escPos < from)) {
      this.escSrc = s
      this.escPos = s.indexOf('\\', from)
    }
    return this.escPos < 0 ? Infinity : this.escPos
  }

  /** `@nix {"action":"result","fields":[…],"id":N,"type":T}` for T = 101, 104–107. */
  private fastResult(s: string, a: number, z: number): boolean {
    if (z - a < FIELDS_AT + 20 || s.charCodeAt(z - 1) !== 125 || s.substring(a, a + FIELDS_AT) !== P_RESULT) return false
    // every ResultType has 3 digits: `,"type":NNN}`
    const type = num(s, z - 4, z - 1)
    if (type < 101 || type > 107 || type === 102 || type === 103 || !has(s, z - 12, C_TYPE)) return false
    const idEnd = sidBefore(s, z - 12, a + FIELDS_AT)
    const idAt = digitsBack(s, idEnd, Math.max(a, idEnd - 21))
    const i = idAt - 7 // the `]` closing fields
    const f = a + FIELDS_AT
    if (idAt === idEnd || idEnd - idAt > 20 || i < f || !has(s, i, C_ID)) return false
    if (type === 105 || type === 106) {
      const v = [0, 0, 0, 0]
      let k = 0
      for (let from = f, j = f; j <= i; j++) {
        if (j < i && s.charCodeAt(j) !== 44 /* , */) continue
        const x = num(s, from, j)
        if (x < 0 || k === 4) return false
        v[k++] = x
        from = j + 1
      }
      this.stats.records++
      const id = s.slice(idAt, idEnd)
      if (type === 105) this.tracker.progress(id, v[0]!, v[1]!, v[2]!, v[3]!)
      else if (k === 2) this.tracker.setExpected(id, v[0]!, v[1]!)
      return true
    }
    // one JSON string: a build log line (101, 107) or a phase (104)
    if (s.charCodeAt(f) !== 34 || s.charCodeAt(i - 1) !== 34 || i - 1 <= f) return false
    let value: string | undefined
    let raw = this.latin1
    if (this.escAt(s, f) > i) {
      if (s.indexOf('"', f + 1) !== i - 1) return false
    } else {
      try {
        const v: unknown = JSON.parse(this.decode(s.slice(f, i)))
        if (typeof v !== 'string') return false
        value = v
        raw = false
      } catch {
        return false
      }
    }
    this.stats.records++
    if (type === 104) {
      this.tracker.phase(s.slice(idAt, idEnd), value ?? unpinned(this.decode(s.slice(f + 1, i - 1))))
      return true
    }
    // the build: one of the running ones, compared in place (no slice, no hashing); a miss (a
    // build's first line, or an activity under it) costs a slice and a Map lookup
    const len = idEnd - idAt
    let b: BuildState | undefined
    for (let k = 0; k < this.hotIds.length; k++) {
      const h = this.hotIds[k]!
      if (h.length === len && hasBack(s, idAt, this.hotCodes[k]!)) {
        b = this.hotBuilds[k]
        break
      }
    }
    if (!b) {
      const id = unpinned(s.slice(idAt, idEnd))
      b = this.tracker.buildOf(id)
      if (b) {
        this.hotIds.push(id)
        this.hotCodes.push(codes(id))
        this.hotBuilds.push(b)
        if (this.hotIds.length > HOT) {
          this.hotIds.shift()
          this.hotCodes.shift()
          this.hotBuilds.shift()
        }
      }
    }
    if (b) this.logLine(b, value ?? s.slice(f + 1, i - 1), raw)
    return true
  }

  private logLine(b: BuildState | undefined, line: string, raw: boolean): void {
    if (!b) return
    b.lines++
    // lines are slices of the chunk string: the ones still kept are copied once, at its end
    if (b.tail.push(line, raw)) this.touched.push(b)
  }

  private stop(id: string): void {
    const k = this.hotIds.indexOf(id)
    if (k >= 0) {
      this.hotIds.splice(k, 1)
      this.hotCodes.splice(k, 1)
      this.hotBuilds.splice(k, 1)
    }
    this.tracker.stop(id)
  }

  // ── messages and errors ──

  private message(r: NixRecord): void {
    const raw = typeof r.msg === 'string' ? r.msg : ''
    const text = raw.includes('\u001b') ? stripAnsi(raw) : raw
    const level = typeof r.level === 'number' ? r.level : 3
    const kind = classifyMessage(text)
    this.stats.messages[kind]++
    this.onEvent?.({ type: 'message', level, text, kind })
    // level 0 also carries `trace:` (builtins.trace): only the text says it is an error
    if (kind === 'error' && level === 0) for (const e of extractNixErrors([r])) this.addError(e)
  }

  private addError(e: NixError): void {
    for (const drv of e.drvs ?? (e.drv ? [e.drv] : [])) this.tracker.markFailed(drv)
    this.errs.push(this.withTail(e))
    if (this.errs.length > MAX_ERRORS) {
      this.errs.shift()
      this.stats.droppedErrors++
    }
  }

  /** Nix omits the builder's last lines in JSON mode: take them from the build's ring buffer. */
  private withTail(e: NixError): NixError {
    if (e.drv && !e.logTail?.length) {
      const tail = this.tail(e.drv)
      if (tail.length) e.logTail = tail
    }
    return e
  }

  /** Plain text: Nix's own error blocks (`error:` then indented or blank lines). */
  private plain(text: string): void {
    this.stats.plain++
    let t = stripSyslogPriority(text)
    if (t.includes('\u001b')) t = stripAnsi(t)
    if (t.includes('\r')) t = t.replace(/\r/g, '')
    const block = this.block
    if (block && (t === '' || t.charCodeAt(0) === 32 || t.charCodeAt(0) === 9 || t.trim() === '')) {
      block.push(t)
      if (block.length > MAX_BLOCK_LINES) block.splice(MAX_BLOCK_LINES / 2, 1)
      this.blockError = undefined
      return
    }
    if (block) this.closeBlock()
    if (t.startsWith('error:')) this.block = [t]
  }

  private closeBlock(): void {
    if (!this.block) return
    const e = parseErrorBlock(this.block.join('\n').replace(/\s+$/, ''))
    this.block = undefined
    this.blockError = undefined
    this.stats.messages.error++
    this.addError(e)
  }
}
