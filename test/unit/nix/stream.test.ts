import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StreamSplitter } from '../../../src/nix/stream.js'

/** The record line as the splitter hands it: a range of a latin1 string. */
const line = (s: string, from: number, to: number) => Buffer.from(s.slice(from, to), 'latin1').toString()

/** Feeds `chunks` and records what each handler saw, in order. */
function split(chunks: (string | Buffer)[], accept: (line: string) => boolean = () => true) {
  const events: string[] = []
  const passed: Buffer[] = []
  const records: string[] = []
  const texts: string[] = []
  const s = new StreamSplitter({
    pass: (b) => {
      passed.push(Buffer.from(b))
      events.push(`pass:${b.toString()}`)
    },
    record: (str, from, to) => {
      const l = line(str, from, to)
      if (!accept(l)) return false
      records.push(l)
      events.push(`record:${l}`)
      return true
    },
    text: (l) => void texts.push(l),
  })
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c)
  s.end()
  return { events, passed: Buffer.concat(passed).toString(), records, texts }
}

describe('StreamSplitter', () => {
  it('takes @nix lines out and passes everything else through in order', () => {
    const r = split(['> Building\n@nix {"action":"stop","id":1}\nactivating...\n'])
    expect(r.events).toEqual(['pass:> Building\n', 'record:@nix {"action":"stop","id":1}', 'pass:activating...\n'])
    expect(r.texts).toEqual(['> Building', 'activating...'])
  })

  it('passes a prompt without a newline at once, before the rest of its line exists', () => {
    const events: string[] = []
    const s = new StreamSplitter({ pass: (b) => void events.push(b.toString()), record: () => true, text: () => {} })
    s.push(Buffer.from('[sudo] password for alice: '))
    expect(events).toEqual(['[sudo] password for alice: '])
    s.push(Buffer.from('\n'))
    expect(events).toEqual(['[sudo] password for alice: ', '\n'])
  })

  it('holds only what could still be the prefix, and releases it when it is not', () => {
    const events: string[] = []
    const s = new StreamSplitter({ pass: (b) => void events.push(b.toString()), record: () => true, text: () => {} })
    s.push(Buffer.from('ok\n@ni'))
    expect(events).toEqual(['ok\n']) // "@ni" might start a record
    s.push(Buffer.from('ce to meet you\n'))
    expect(events.join('')).toBe('ok\n@nice to meet you\n')
  })

  it('reassembles a record split across chunks, and strips a CR', () => {
    const r = split(['@', 'nix {"a"', ':1}\r', '\nplain'])
    expect(r.records).toEqual(['@nix {"a":1}'])
    expect(r.passed).toBe('plain')
    expect(r.texts).toEqual(['plain'])
  })

  it('passes a refused record line through untouched (malformed JSON is text)', () => {
    const r = split(['@nix {broken\n', '@nix {broken too\n'], () => false)
    expect(r.passed).toBe('@nix {broken\n@nix {broken too\n')
    expect(r.texts).toEqual(['@nix {broken', '@nix {broken too'])
  })

  it('`@nix ` in the middle of a line is not a record; an unfinished record at the end is passed', () => {
    expect(split(['say @nix {"x":1}\n']).passed).toBe('say @nix {"x":1}\n')
    expect(split(['@nix {"unterminated"']).passed).toBe('@nix {"unterminated"')
  })

  it('keeps bytes exact: multi-byte characters split across chunks survive', () => {
    const bytes = Buffer.from('€ ✓ ünïcödé\n@nix {"msg":"✓"}\n')
    const r = split([bytes.subarray(0, 1), bytes.subarray(1, 5), bytes.subarray(5, 22), bytes.subarray(22)])
    expect(r.passed).toBe('€ ✓ ünïcödé\n')
    expect(r.records).toEqual(['@nix {"msg":"✓"}'])
  })

  it('a record under systemd: the <0>…<7> syslog priority Nix ≤ 2.26 and Lix write before it (IN_SYSTEMD=1)', () => {
    const r = split(['<3>@nix {"action":"stop","id":1}\n<3>building\n<', '5', '>@n', 'ix {"a":1}\n<8>@nix {"b":2}\n<3@nix {"c":3}\n'])
    expect(r.records).toEqual(['<3>@nix {"action":"stop","id":1}', '<5>@nix {"a":1}'])
    expect(r.passed).toBe('<3>building\n<8>@nix {"b":2}\n<3@nix {"c":3}\n')
    expect(r.texts).toEqual(['<3>building', '<8>@nix {"b":2}', '<3@nix {"c":3}'])
  })

  it('for any chunking, passed bytes + record lines = the input, in the same order', () => {
    const line = fc.oneof(
      fc.string({ maxLength: 20 }).map((s) => s.replace(/\n/g, ' ')),
      fc.string({ maxLength: 20 }).map((s) => `@nix ${s.replace(/\n/g, ' ')}`),
      fc.string({ maxLength: 20 }).map((s) => `<3>@nix ${s.replace(/\n/g, ' ')}`),
      fc.constantFrom('@', '@n', '@nix', '@nix ', '@nixx', '[sudo] password: ', '<', '<3', '<3>', '<3>@ni', '<9>@nix x', '<<3>@nix y'),
    )
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), (lines, trailingNewline, sizes) => {
        const input = lines.join('\n') + (trailingNewline && lines.length ? '\n' : '')
        const buf = Buffer.from(input)
        const chunks: Buffer[] = []
        for (let i = 0, k = 0; i < buf.length; k++) {
          const n = sizes[k % sizes.length]!
          chunks.push(buf.subarray(i, i + n))
          i += n
        }
        const out: string[] = []
        const s = new StreamSplitter({ pass: (b) => void out.push(b.toString('latin1')), record: (str, from, to) => (out.push(`${str.slice(from, to)}\n`), true), text: () => {} })
        for (const c of chunks) s.push(c)
        s.end()
        // records always end their line; only a record with no newline at the end of input differs
        expect(Buffer.from(out.join(''), 'latin1').toString()).toBe(input)
      }),
      { numRuns: 500 },
    )
  })

  it('a plain line with no end (a progress bar drawing with CRs): passed on as it comes, at most 64 KiB kept for parsing', () => {
    let passed = 0
    const texts: string[] = []
    const s = new StreamSplitter({ pass: (b) => void (passed += b.length), record: () => true, text: (l) => void texts.push(l) })
    const piece = Buffer.from('\r[####      ] 40%'.repeat(4096))
    for (let i = 0; i < 100; i++) {
      s.push(piece)
      expect(passed).toBe(piece.length * (i + 1))
    }
    s.push(Buffer.from('\n'))
    s.end()
    expect(texts).toHaveLength(1)
    expect(texts[0]!.length).toBeLessThanOrEqual(64 * 1024)
    expect(texts[0]!.length).toBeGreaterThan(60_000)
  })

  it('a "record" growing past 16 MiB without a newline is released as text, not held', () => {
    let passed = 0
    const records: string[] = []
    const s = new StreamSplitter({ pass: (b) => void (passed += b.length), record: (str, a, z) => (records.push(str.slice(a, a + 20)), true), text: () => {} })
    const mib = Buffer.alloc(1 << 20, 'x')
    s.push(Buffer.from('@nix {"action":"msg","msg":"'))
    for (let i = 0; i < 17; i++) s.push(mib)
    expect(passed).toBeGreaterThan(16 << 20)
    s.push(Buffer.from('"}\n@nix {"action":"stop","id":1}\n'))
    s.end()
    expect(records).toEqual(['@nix {"action":"stop'])
  })
})
