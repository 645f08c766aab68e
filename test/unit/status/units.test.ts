import { describe, expect, it } from 'vitest'
import { globToRegExp, journalText, lineSplitter, matchesAnyGlob } from '../../../src/status/systemd.js'
import { describeFailedUnits, parseUnitsJson, parseUnitsText } from '../../../src/status/units.js'

// The real systemctl runs in test/e2e/systemd-container.test.ts; these pin the parsers to the
// exact text systemd 252 (Debian 12) printed there, plus the older forms it falls back for.

describe('parseUnitsJson', () => {
  it('reads systemctl list-units --output=json', () => {
    const text =
      '[{"unit":"nbs-broken.service","load":"loaded","active":"failed","sub":"failed","description":"nbs test unit that fails on purpose"},' +
      '{"unit":"user@1000.service","load":"loaded","active":"failed","sub":"failed","description":"User Manager for UID 1000"}]\n'
    expect(parseUnitsJson(text)).toEqual([
      { unit: 'nbs-broken.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'nbs test unit that fails on purpose' },
      { unit: 'user@1000.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'User Manager for UID 1000' },
    ])
    expect(parseUnitsJson('[]\n')).toEqual([])
  })

  it('is undefined for anything that is not that JSON (an old systemctl printing its table)', () => {
    expect(parseUnitsJson('  UNIT LOAD ACTIVE SUB DESCRIPTION\n0 loaded units listed.\n')).toBeUndefined()
    expect(parseUnitsJson('{"unit":"a"}')).toBeUndefined()
  })
})

describe('parseUnitsText', () => {
  it('reads the --plain --no-legend listing, keeping spaces in descriptions', () => {
    const text = 'nbs-broken.service loaded failed failed nbs test unit that fails on purpose\nsystemd-networkd-wait-online.service loaded failed failed Wait for Network to be Configured\n'
    expect(parseUnitsText(text)).toEqual([
      { unit: 'nbs-broken.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'nbs test unit that fails on purpose' },
      { unit: 'systemd-networkd-wait-online.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'Wait for Network to be Configured' },
    ])
  })

  it('drops the ● marker older systemd prints before failed or missing units, and blank lines', () => {
    const text = '\u25cf foo.mount    loaded failed failed /foo\n\n* bar.service not-found failed failed bar.service\n'
    expect(parseUnitsText(text)).toEqual([
      { unit: 'foo.mount', load: 'loaded', active: 'failed', sub: 'failed', description: '/foo' },
      { unit: 'bar.service', load: 'not-found', active: 'failed', sub: 'failed', description: 'bar.service' },
    ])
  })

  it('accepts a unit without description and nothing at all', () => {
    expect(parseUnitsText('x.service loaded failed failed\n')).toEqual([
      { unit: 'x.service', load: 'loaded', active: 'failed', sub: 'failed', description: '' },
    ])
    expect(parseUnitsText('')).toEqual([])
  })
})

describe('unit globs', () => {
  it('matches * ? and classes like systemctl patterns, everything else literally', () => {
    expect(matchesAnyGlob('user@1000.service', ['user@*.service'])).toBe(true)
    expect(matchesAnyGlob('user-runtime-dir@1000.service', ['user@*.service'])).toBe(false)
    expect(matchesAnyGlob('tty1.device', ['tty?.device'])).toBe(true)
    expect(matchesAnyGlob('tty10.device', ['tty?.device'])).toBe(false)
    expect(matchesAnyGlob('disk-b.mount', ['disk-[ab].mount'])).toBe(true)
    expect(matchesAnyGlob('disk-c.mount', ['disk-[!ab].mount'])).toBe(true)
    expect(matchesAnyGlob('axservice', ['a.service'])).toBe(false) // '.' is literal
    expect(matchesAnyGlob('a(b)+.service', ['a(b)+.service'])).toBe(true)
    expect(matchesAnyGlob('a.service', [])).toBe(false)
    expect(globToRegExp('[').test('[')).toBe(true) // an unclosed bracket is literal
  })
})

describe('journalText', () => {
  it('reads strings, byte arrays as UTF-8, the first of repeated values, and null as absent', () => {
    expect(journalText('plain')).toBe('plain')
    expect(journalText([...Buffer.from('\x1b[1mbold ✓')])).toBe('\x1b[1mbold ✓')
    expect(journalText([98, 97, 100, 32, 255])).toBe('bad \ufffd')
    expect(journalText(['first', 'second'])).toBe('first')
    expect(journalText([[104, 105], 'x'])).toBe('hi')
    expect(journalText(null)).toBeUndefined()
    expect(journalText([])).toBeUndefined()
  })
})

describe('lineSplitter', () => {
  it('joins lines and multi-byte characters split across chunks', () => {
    const lines: string[] = []
    const s = lineSplitter((l) => lines.push(l))
    const bytes = Buffer.from('{"a":"é"}\n{"b":"✓"}\n\n{"c":1}')
    for (let i = 0; i < bytes.length; i += 3) s.write(bytes.subarray(i, i + 3))
    s.end()
    expect(lines).toEqual(['{"a":"é"}', '{"b":"✓"}', '{"c":1}'])
  })
})

describe('describeFailedUnits', () => {
  it('names the units, or says none failed', () => {
    const unit = { load: 'loaded', active: 'failed', sub: 'failed', description: '', journal: [] }
    expect(describeFailedUnits({ units: [{ ...unit, unit: 'a.service' }, { ...unit, unit: 'b.mount' }], ignored: [] })).toBe(
      '2 failed units: a.service, b.mount',
    )
    expect(describeFailedUnits({ units: [], ignored: ['user@1000.service'] })).toBe('no failed units (1 ignored)')
    expect(describeFailedUnits({ units: [], ignored: [] })).toBe('no failed units')
  })
})
