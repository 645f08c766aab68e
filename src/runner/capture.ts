import type { CapturedText } from '../report/types.js'

export const DEFAULT_HEAD_BYTES = 512 * 1024
export const DEFAULT_TAIL_BYTES = 512 * 1024

export interface BoundedCaptureOptions {
  headBytes?: number
  tailBytes?: number
}

/**
 * Keeps the first `headBytes` and the last `tailBytes` of a byte stream and counts the rest,
 * so a check printing gigabytes costs at most head + tail bytes of memory.
 * The tail is a ring buffer: every write copies into it, chunks are never kept or concatenated.
 */
export class BoundedCapture {
  readonly headBytes: number
  readonly tailBytes: number
  private head: Buffer = EMPTY
  private headLen = 0
  /** grows (doubling) up to tailBytes while linear, then wraps around */
  private ring: Buffer = EMPTY
  /** next write position in the ring */
  private ringPos = 0
  /** bytes currently held in the ring (≤ tailBytes) */
  private ringLen = 0
  private total = 0

  constructor(opts: BoundedCaptureOptions = {}) {
    this.headBytes = Math.max(0, Math.floor(opts.headBytes ?? DEFAULT_HEAD_BYTES))
    this.tailBytes = Math.max(0, Math.floor(opts.tailBytes ?? DEFAULT_TAIL_BYTES))
  }

  get bytes(): number {
    return this.total
  }

  write(chunk: Buffer | Uint8Array | string): void {
    let data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
    this.total += data.length
    if (this.headLen < this.headBytes) {
      const n = Math.min(this.headBytes - this.headLen, data.length)
      this.head = grow(this.head, this.headLen, this.headLen + n, this.headBytes)
      this.head.set(data.subarray(0, n), this.headLen)
      this.headLen += n
      data = data.subarray(n)
    }
    if (data.length === 0 || this.tailBytes === 0) return
    // only the last tailBytes of a large chunk can survive
    if (data.length > this.tailBytes) data = data.subarray(data.length - this.tailBytes)
    if (this.ring.length < this.tailBytes) {
      // still linear (ringPos === ringLen): grow, or stop growing and start wrapping
      this.ring = grow(this.ring, this.ringLen, this.ringLen + data.length, this.tailBytes)
    }
    const first = Math.min(data.length, this.ring.length - this.ringPos)
    this.ring.set(data.subarray(0, first), this.ringPos)
    if (first < data.length) this.ring.set(data.subarray(first), 0)
    // wrap only once the ring has reached full size; while growing, ringPos === ringLen
    this.ringPos += data.length
    if (this.ring.length === this.tailBytes && this.ringPos >= this.tailBytes) this.ringPos -= this.tailBytes
    this.ringLen = Math.min(this.tailBytes, this.ringLen + data.length)
  }

  /** The tail bytes in stream order. */
  private tail(): Buffer {
    if (this.ringLen < this.tailBytes) return this.ring.subarray(0, this.ringLen)
    return Buffer.concat([this.ring.subarray(this.ringPos), this.ring.subarray(0, this.ringPos)])
  }

  result(): CapturedText {
    const head = this.head.subarray(0, this.headLen)
    const tail = this.tail()
    const dropped = this.total - head.length - tail.length
    if (dropped <= 0) {
      return { text: Buffer.concat([head, tail]).toString('utf8'), bytes: this.total, truncated: false }
    }
    // Cut at character boundaries so the marker does not sit next to half a character.
    const h = head.subarray(0, completePrefixLength(head))
    const t = tail.subarray(continuationPrefixLength(tail))
    const droppedAll = this.total - h.length - t.length
    const text = `${h.toString('utf8')}\n…[truncated ${droppedAll} bytes]…\n${t.toString('utf8')}`
    return { text, bytes: this.total, truncated: true }
  }
}

const EMPTY = Buffer.alloc(0)

/**
 * Buffers start small and double up to `max`, so 200 quiet checks do not reserve 2 MiB each.
 * allocUnsafe is fine: only written ranges are ever read back.
 */
function grow(buf: Buffer, used: number, needed: number, max: number): Buffer {
  if (needed <= buf.length) return buf
  const size = Math.min(max, Math.max(needed, buf.length * 2, 4096))
  const next = Buffer.allocUnsafe(size)
  buf.copy(next, 0, 0, used)
  return next
}

/** Length of `buf` without a trailing, incomplete UTF-8 sequence. */
function completePrefixLength(buf: Buffer): number {
  const len = buf.length
  // a sequence is at most 4 bytes: look back at most 3 bytes for its lead byte
  for (let i = len - 1; i >= 0 && i >= len - 4; i--) {
    const b = buf[i]!
    if ((b & 0xc0) === 0x80) continue // continuation byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
    return len - i >= need ? len : i
  }
  return len // invalid UTF-8 anyway: leave it to the decoder's replacement chars
}

/** Number of leading continuation bytes (the rest of a character cut off at the start). */
function continuationPrefixLength(buf: Buffer): number {
  let i = 0
  while (i < buf.length && i < 3 && (buf[i]! & 0xc0) === 0x80) i++
  return i
}
