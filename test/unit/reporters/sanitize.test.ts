import { describe, expect, it } from 'vitest'
import {
  UNNAMED_CHECK,
  displayName,
  neutralizeMarkers,
  oneLineMessage,
  sanitizeOutput,
  sanitizeText,
  singleLine,
  toWellFormed,
  truncateMiddle,
} from '../../../src/reporters/sanitize.js'

describe('toWellFormed', () => {
  it('replaces lone surrogates and keeps pairs', () => {
    expect(toWellFormed('a\uD800b\uDC00c😀')).toBe('a\uFFFDb\uFFFDc😀')
    expect(toWellFormed('\uDBFF')).toBe('\uFFFD')
  })
})

describe('sanitizeText', () => {
  it('strips ANSI/VT sequences', () => {
    expect(sanitizeText('\x1b[31mred\x1b[0m \x1b]0;title\x07ok')).toBe('red ok')
  })
  it('normalises CRLF and CR to LF and keeps TAB/LF', () => {
    expect(sanitizeText('a\r\nb\rc\nd\te')).toBe('a\nb\nc\nd\te')
  })
  it('maps remaining C0 to Control Pictures and DEL to ␡', () => {
    expect(sanitizeText('\x00\x07\x08\x0b\x0c\x1b\x1f\x7f')).toBe('␀␇␈␋␌␛␟␡')
  })
  it('maps C1, U+FFFE/U+FFFF and U+FDD0–U+FDEF to U+FFFD', () => {
    expect(sanitizeText('\x80\x85\x9b\x9f\uFFFE\uFFFF\uFDD0\uFDEF\u{1FFFE}')).toBe('\uFFFD'.repeat(9))
  })
  it('leaves ordinary text, emoji and U+FFFD alone', () => {
    const s = 'héllo wörld 😀 \uFFFD <&"> ]]> # \\'
    expect(sanitizeText(s)).toBe(s)
  })
  it('replaces lone surrogates', () => {
    expect(sanitizeText('x\uD800')).toBe('x\uFFFD')
  })
})

describe('singleLine', () => {
  it('turns every line break and TAB into a space', () => {
    expect(singleLine('a\nb\r\nc\rd\te\u2028f\u2029g\u0085h')).toBe('a b  c d e f g h')
  })
  it('still maps controls and shows bidi overrides', () => {
    expect(singleLine('\x1b[1mx\x00\u202Eevil')).toBe('x␀<U+202E>evil')
  })
})

describe('displayName', () => {
  it('substitutes empty and whitespace-only names', () => {
    expect(displayName('')).toBe(UNNAMED_CHECK)
    expect(displayName(' \t\n ')).toBe(UNNAMED_CHECK)
    expect(displayName(undefined, 'fallback')).toBe('fallback')
    expect(displayName('  x  ')).toBe('x')
  })
})

describe('truncateMiddle', () => {
  it('returns short text unchanged', () => {
    expect(truncateMiddle('abc', 3)).toBe('abc')
  })
  it('keeps head and tail within the byte budget and says how much was dropped', () => {
    const text = `HEAD${'x'.repeat(10_000)}TAIL`
    const out = truncateMiddle(text, 200)
    expect(out.startsWith('HEAD')).toBe(true)
    expect(out.endsWith('TAIL')).toBe(true)
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(200)
    const dropped = Number(/…\[truncated (\d+) bytes\]…/.exec(out)?.[1])
    const kept = Buffer.byteLength(out) - Buffer.byteLength(`…[truncated ${dropped} bytes]…`)
    expect(kept + dropped).toBe(Buffer.byteLength(text))
  })
  it('never splits a multi-byte character', () => {
    for (const max of [40, 41, 42, 43, 44, 45]) {
      const out = truncateMiddle('é😀'.repeat(100), max)
      expect(out).not.toContain('\uFFFD')
      expect(Buffer.byteLength(out)).toBeLessThanOrEqual(max)
    }
  })
})

describe('neutralizeMarkers', () => {
  it('breaks GitLab/Jenkins attachment and property markers', () => {
    const out = neutralizeMarkers('see [[ATTACHMENT|/etc/shadow]] and [[property|a=b]]')
    expect(out).not.toMatch(/\[\[(ATTACHMENT|PROPERTY)\|/i)
    expect(out).toContain('/etc/shadow')
  })
})

describe('sanitizeOutput / oneLineMessage', () => {
  it('sanitises, neutralises and caps output', () => {
    const out = sanitizeOutput(`\x1b[31m[[ATTACHMENT|x]]\x00${'y'.repeat(5000)}`, 1000)
    expect(out).toMatch(/^\[ \[ATTACHMENT\|x\]\]␀y+…\[truncated \d+ bytes\]…y+$/)
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(1000)
  })
  it('takes the first non-empty line, single-line and capped', () => {
    expect(oneLineMessage('\n  \nfirst\tline\nsecond')).toBe('first line')
    expect(oneLineMessage(undefined)).toBe('')
    expect(Buffer.byteLength(oneLineMessage('z'.repeat(5000)))).toBeLessThanOrEqual(1024)
  })
})
