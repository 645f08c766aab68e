/**
 * Splits one output stream of Nix (or of a tool running Nix) into its `@nix` records and everything
 * else. Everything else is handed on at once, byte for byte, partial lines included: a
 * `[sudo] password for alice: ` prompt has no newline and must appear the moment it is written.
 * Only a line that starts with `@nix ` is held back until its newline, then given to `record`
 * (which may refuse it, and then the bytes are passed on after all). Plain lines are also given,
 * whole and decoded, to `text`. Under systemd (IN_SYSTEMD=1) Nix ≤ 2.26 and Lix write
 * `<3>@nix `: the `<0>`…`<7>` syslog priority before the prefix makes a record too.
 *
 * Speed: a chunk is read once as latin1 (one char per byte, the cheapest decoding) and records are
 * handed on as ranges of that string, never as a string per line: a build log is a million of them.
 */
import { isAscii } from 'node:buffer'

const NL = 10
/** `<N>@nix ` */
const MAX_PREFIX = 8
/** A plain line kept for `text` is cut here (it is passed on whole regardless). */
const MAX_TEXT_LINE = 64 * 1024
/** A record line longer than this is not a record anyone sends: it is passed on as text. */
const MAX_RECORD_LINE = 16 * 1024 * 1024

export interface StreamSplitterHandlers {
  /** bytes for the user, in order, as soon as they are known not to be part of a record */
  pass(bytes: Buffer): void
  /**
   * The record line s[from, to) (no newline, no CR). `s` holds bytes as latin1 chars; `encoded`
   * says it may hold multi-byte UTF-8 sequences, which whoever keeps a piece must decode
   * (`Buffer.from(piece, 'latin1')` gives the exact bytes back). False = not a record after all:
   * the bytes are then passed on and the line given to `text`.
   */
  record(s: string, from: number, to: number, encoded: boolean): boolean
  /** one plain line without its newline (a trailing partial line arrives at `end`) */
  text(line: string): void
  /** the string of the last record() is done with: copy what is kept of it (a slice pins it all) */
  chunkEnd?(): void
}

/** 1: s[i, end) starts with `@nix ` or `<N>@nix `; 0: it does not; -1: too short to tell yet. */
function prefixAt(s: string, i: number, end: number): 1 | 0 | -1 {
  let k = i
  if (s.charCodeAt(k) === 60 /* < */) {
    if (end - i < 2) return -1
    const c = s.charCodeAt(k + 1)
    if (c < 48 || c > 55) return 0
    if (end - i < 3) return -1
    if (s.charCodeAt(k + 2) !== 62 /* > */) return 0
    k += 3
  }
  const want = '@nix '
  for (let j = 0; j < 5; j++) {
    if (k + j >= end) return -1
    if (s.charCodeAt(k + j) !== want.charCodeAt(j)) return 0
  }
  return 1
}

export class StreamSplitter {
  /** 'start': at a line start; 'held': a line that is or may be a record, waiting for its newline; 'text': inside a plain line */
  private mode: 'start' | 'held' | 'text' = 'start'
  private held: Buffer[] = []
  private heldBytes = 0
  /** the held line's prefix is complete: it is a record (unless refused), only its newline is missing */
  private heldIsRecord = false
  private textLine: Buffer[] = []
  private textBytes = 0

  constructor(private readonly h: StreamSplitterHandlers) {}

  push(chunk: Buffer): void {
    if (!chunk.length) return
    if (this.mode !== 'held') return this.scan(chunk, 0)
    const nl = chunk.indexOf(NL)
    this.hold(chunk.subarray(0, nl < 0 ? chunk.length : nl + 1))
    if (nl < 0) {
      if (!this.heldIsRecord) {
        const head = Buffer.concat(this.held, Math.min(this.heldBytes, MAX_PREFIX)).toString('latin1')
        const p = prefixAt(head, 0, head.length)
        if (p === 0) return this.releaseAsText()
        this.heldIsRecord = p === 1
      }
      if (this.heldBytes > MAX_RECORD_LINE) this.releaseAsText()
      return
    }
    // the held line is complete: read it as a chunk of its own, then the rest of this one
    const line = this.release()
    this.mode = 'start'
    this.scan(line, 0)
    this.scan(chunk, nl + 1)
  }

  /** End of stream: an unfinished line is completed as text. */
  end(): void {
    if (this.mode === 'held') this.releaseAsText()
    if (this.textBytes) this.endText()
    this.mode = 'start'
  }

  /** buf[i…] from a line start (or inside a plain line in 'text' mode). */
  private scan(buf: Buffer, i: number): void {
    const n = buf.length
    if (i >= n) return
    let passFrom = -1 // start of a run of pass-through bytes, written in one go
    if (this.mode === 'text') {
      const nl = buf.indexOf(NL, i)
      const end = nl < 0 ? n : nl
      this.keepText(buf, i, end)
      passFrom = i
      if (nl < 0) return this.h.pass(buf.subarray(i))
      this.endText()
      this.mode = 'start'
      i = nl + 1
    }
    const s = buf.toString('latin1')
    const encoded = !isAscii(buf)
    let records = false
    while (i < n) {
      const nl = s.indexOf('\n', i)
      const end = nl < 0 ? n : nl
      const p = prefixAt(s, i, end)
      if (nl < 0) {
        if (p !== 0) {
          // a record (or maybe one) without its newline yet: held; what came before goes out first
          if (passFrom >= 0) this.h.pass(buf.subarray(passFrom, i))
          passFrom = -1
          this.hold(buf.subarray(i))
          this.heldIsRecord = p === 1
          this.mode = 'held'
        } else {
          if (passFrom < 0) passFrom = i
          this.keepText(buf, i, n)
          this.mode = 'text'
        }
        break
      }
      const to = nl > i && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl
      if (p === 1) {
        if (passFrom >= 0) this.h.pass(buf.subarray(passFrom, i))
        passFrom = -1
        records = true
        if (this.h.record(s, i, to, encoded)) {
          i = nl + 1
          continue
        }
      }
      if (passFrom < 0) passFrom = i
      this.h.text(buf.toString('utf8', i, Math.min(to, i + MAX_TEXT_LINE)))
      i = nl + 1
    }
    if (passFrom >= 0 && passFrom < n) this.h.pass(buf.subarray(passFrom))
    if (records) this.h.chunkEnd?.()
  }

  private hold(b: Buffer): void {
    this.held.push(Buffer.from(b)) // copy: the chunk's memory is reused by the stream
    this.heldBytes += b.length
  }

  private release(): Buffer {
    const all = Buffer.concat(this.held, this.heldBytes)
    this.held = []
    this.heldBytes = 0
    this.heldIsRecord = false
    return all
  }

  /** The held bytes are not a record after all: passed on, and the start of a plain line. */
  private releaseAsText(): void {
    const raw = this.release()
    this.h.pass(raw)
    this.keepText(raw, 0, raw.length)
    this.mode = 'text'
  }

  private keepText(b: Buffer, from: number, to: number): void {
    const n = Math.min(to - from, MAX_TEXT_LINE - this.textBytes)
    if (n <= 0) return
    this.textLine.push(Buffer.from(b.subarray(from, from + n)))
    this.textBytes += n
  }

  private endText(): void {
    let line = Buffer.concat(this.textLine, this.textBytes).toString('utf8')
    if (line.endsWith('\r')) line = line.slice(0, -1)
    this.textLine = []
    this.textBytes = 0
    this.h.text(line)
  }
}
