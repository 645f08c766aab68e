/**
 * Splits one output stream of the build into Nix's `@nix` records and everything else. Everything
 * else is handed on at once, byte for byte, partial lines included: a `[sudo] password for alice: `
 * prompt has no newline and must appear the moment it is written. Only a line that starts with
 * `@nix ` is held back until its newline, then given to `record` (which may refuse it, and then the
 * bytes are passed on after all). Plain lines are also given, whole, to `text` for error parsing.
 * Under systemd (IN_SYSTEMD=1) Nix ≤ 2.26 and Lix write `<3>@nix `: the `<0>`…`<7>` syslog
 * priority before the prefix makes a record too.
 */
const PREFIX = Buffer.from('@nix ')
/** `<N>` */
const SYSLOG_LEN = 3
const NL = 10
/** A plain line kept for parsing is cut here (it is passed on whole regardless). */
const MAX_TEXT_LINE = 64 * 1024
/** A record line longer than this is not a record anyone sends: it is passed on as text. */
const MAX_RECORD_LINE = 16 * 1024 * 1024

export interface StreamSplitterHandlers {
  /** bytes for the user, in order, as soon as they are known not to be part of a record */
  pass(bytes: Buffer): void
  /** one `@nix ` line without its newline; false = not a record after all (it is then passed) */
  record(line: string): boolean
  /** one plain line without its newline (a trailing partial line arrives at `end`) */
  text(line: string): void
}

export class StreamSplitter {
  /** 'start': at a line start (maybe inside the prefix); 'record'/'text': inside such a line */
  private mode: 'start' | 'record' | 'text' = 'start'
  private held: Buffer[] = []
  private heldBytes = 0
  private textLine: Buffer[] = []
  private textBytes = 0
  /** the line being matched starts with `<`: the prefix is `<N>@nix ` */
  private syslog = false

  constructor(private readonly h: StreamSplitterHandlers) {}

  push(chunk: Buffer): void {
    let i = 0
    let passFrom = -1 // start of a run of pass-through bytes in this chunk, written in one go
    const flushPass = (to: number) => {
      if (passFrom >= 0 && to > passFrom) this.h.pass(chunk.subarray(passFrom, to))
      passFrom = -1
    }
    while (i < chunk.length) {
      if (this.mode === 'start') {
        if (this.heldBytes === 0) this.syslog = chunk[i] === 60 /* < */
        const full = this.syslog ? SYSLOG_LEN + PREFIX.length : PREFIX.length
        const n = Math.min(full - this.heldBytes, chunk.length - i)
        if (this.startsRecord(chunk, i, n)) {
          flushPass(i)
          const nl = this.heldBytes ? -1 : chunk.indexOf(NL, i + n)
          if (nl >= 0) {
            // the common case, a whole record inside this chunk: no copies
            const from = i
            i = nl + 1
            this.recordLine(chunk.toString('utf8', from, chunk[nl - 1] === 13 ? nl - 1 : nl), chunk.subarray(from, i))
            continue
          }
          this.hold(chunk.subarray(i, i + n))
          i += n
          if (this.heldBytes === full) this.mode = 'record'
          continue
        }
        // Not a record. Held prefix bytes can only come from earlier chunks (a partial match
        // inside this chunk runs to its end), so they go out first, before anything of this chunk.
        if (this.heldBytes) {
          const earlier = this.release()
          this.h.pass(earlier)
          this.keepText(earlier)
        }
        this.mode = 'text'
      }
      const nl = chunk.indexOf(NL, i)
      const end = nl < 0 ? chunk.length : nl + 1
      if (this.mode === 'record') {
        this.hold(chunk.subarray(i, end))
        i = end
        if (nl >= 0) this.endRecord()
        else if (this.heldBytes > MAX_RECORD_LINE) this.giveUpRecord()
        continue
      }
      if (passFrom < 0) passFrom = i
      this.keepText(chunk.subarray(i, nl < 0 ? end : nl))
      i = end
      if (nl >= 0) {
        this.endText()
        this.mode = 'start'
      }
    }
    flushPass(chunk.length)
  }

  /** End of stream: an unfinished line is completed as text. */
  end(): void {
    if (this.mode === 'record' || this.heldBytes) {
      const raw = this.release()
      this.h.pass(raw)
      this.keepText(raw)
    }
    if (this.textBytes) this.endText()
    this.mode = 'start'
  }

  /** Whether chunk[i, i+n) continues the `@nix ` (or `<N>@nix `) prefix from `heldBytes` (byte checks: the hot path). */
  private startsRecord(chunk: Buffer, i: number, n: number): boolean {
    if (this.heldBytes === 0 && n === 5 && !this.syslog) {
      return chunk[i] === 64 && chunk[i + 1] === 110 && chunk[i + 2] === 105 && chunk[i + 3] === 120 && chunk[i + 4] === 32
    }
    for (let k = 0; k < n; k++) {
      const at = this.heldBytes + k
      const b = chunk[i + k]!
      if (!this.syslog ? b !== PREFIX[at] : at === 0 ? b !== 60 : at === 1 ? b < 48 || b > 55 : at === 2 ? b !== 62 : b !== PREFIX[at - SYSLOG_LEN]) return false
    }
    return true
  }

  private hold(b: Buffer): void {
    this.held.push(Buffer.from(b)) // copy: the chunk's memory is reused by the stream
    this.heldBytes += b.length
  }

  private release(): Buffer {
    const all = Buffer.concat(this.held, this.heldBytes)
    this.held = []
    this.heldBytes = 0
    return all
  }

  private endRecord(): void {
    const raw = this.release()
    this.mode = 'start'
    this.recordLine(raw.toString('utf8', 0, raw.length - (raw[raw.length - 2] === 13 ? 2 : 1)), raw)
  }

  private recordLine(line: string, raw: Buffer): void {
    if (this.h.record(line)) return
    this.h.pass(raw)
    this.h.text(line)
  }

  private giveUpRecord(): void {
    const raw = this.release()
    this.h.pass(raw)
    this.mode = 'text'
  }

  private keepText(b: Buffer): void {
    if (!b.length || this.textBytes >= MAX_TEXT_LINE) return
    const part = b.subarray(0, MAX_TEXT_LINE - this.textBytes)
    this.textLine.push(Buffer.from(part))
    this.textBytes += part.length
  }

  private endText(): void {
    let line = Buffer.concat(this.textLine, this.textBytes).toString('utf8')
    if (line.endsWith('\r')) line = line.slice(0, -1)
    this.textLine = []
    this.textBytes = 0
    this.h.text(line)
  }
}
