import { describe, expect, it } from 'vitest'
import { BoundedCapture } from '../../../src/runner/capture.js'

/** Deterministic pseudo-random bytes (printable ASCII) so failures are reproducible. */
function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = 33 + (x % 90)
  }
  return b
}

describe('BoundedCapture', () => {
  it('keeps everything when it fits', () => {
    const c = new BoundedCapture({ headBytes: 8, tailBytes: 8 })
    c.write(Buffer.from('hello '))
    c.write(Buffer.from('world!'))
    expect(c.result()).toEqual({ text: 'hello world!', bytes: 12, truncated: false })
  })

  it('keeps head and tail exactly, across many chunk sizes and ring wraps', () => {
    const data = bytes(100_000)
    for (const [head, tail] of [[100, 37], [1, 1], [0, 500], [500, 0], [4096, 4096]] as const) {
      const c = new BoundedCapture({ headBytes: head, tailBytes: tail })
      let x = 7
      for (let at = 0; at < data.length; ) {
        x = (x * 69069 + 1) >>> 0
        const n = 1 + (x % 3000)
        c.write(data.subarray(at, at + n))
        at += n
      }
      const dropped = data.length - head - tail
      const r = c.result()
      expect(r.bytes).toBe(data.length)
      expect(r.truncated).toBe(true)
      const expected = `${data.subarray(0, head).toString()}\n…[truncated ${dropped} bytes]…\n${data.subarray(data.length - tail).toString()}`
      expect(r.text).toBe(expected)
    }
  })

  it('takes only the end of a chunk larger than the tail', () => {
    const c = new BoundedCapture({ headBytes: 3, tailBytes: 4 })
    c.write(Buffer.from('abcdefghijklmnop'))
    expect(c.result()).toEqual({ text: 'abc\n…[truncated 9 bytes]…\nmnop', bytes: 16, truncated: true })
  })

  it('does not split multi-byte characters at the cuts', () => {
    const c = new BoundedCapture({ headBytes: 10, tailBytes: 10 })
    c.write(Buffer.from('€'.repeat(1000))) // 3 bytes each: 10 is mid-character at both ends
    const r = c.result()
    expect(r.bytes).toBe(3000)
    expect(r.text).toBe(`€€€\n…[truncated ${3000 - 18} bytes]…\n€€€`)
    expect(r.text).not.toContain('\uFFFD')
  })

  it('does not throw on invalid or 4-byte UTF-8 at the cuts', () => {
    const c = new BoundedCapture({ headBytes: 5, tailBytes: 5 })
    c.write(Buffer.from('😀😀😀'))
    c.write(Buffer.from([0xff, 0xfe, 0x80, 0x80]))
    c.write(Buffer.from('x😀'))
    const r = c.result()
    expect(r.truncated).toBe(true)
    expect(r.text.startsWith('😀')).toBe(true)
    expect(r.text.endsWith('😀')).toBe(true)
  })

  it('holds at most head + tail however much is written', () => {
    const c = new BoundedCapture({ headBytes: 1024, tailBytes: 1024 })
    const chunk = bytes(65536)
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 3000; i++) c.write(chunk) // ~196 MB
    const grown = process.memoryUsage().arrayBuffers - before
    expect(grown).toBeLessThan(16 * 1024 * 1024)
    const r = c.result()
    expect(r.bytes).toBe(3000 * 65536)
    expect(r.text.length).toBeLessThan(2048 + 64)
  })

  it('defaults to 512 KiB head and tail', () => {
    const c = new BoundedCapture()
    expect([c.headBytes, c.tailBytes]).toEqual([512 * 1024, 512 * 1024])
  })
})
