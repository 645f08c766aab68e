import { stripVTControlCharacters } from 'node:util'
import { describe, expect, it } from 'vitest'
import { formatSeconds } from '../../../src/checks/duration.js'
import { filterHistory, formatHistory, formatWhen } from '../../../src/records/view.js'
import type { BuildRecord, GenerationSnapshot } from '../../../src/records/schema.js'

const now = new Date('2025-11-14T16:00:00Z')
const snap = (g: string | null, hm: string | null = null): GenerationSnapshot => ({
  generation: g, generationRaw: g?.slice(1) ?? null, commit: '3f4851e', homeManagerGeneration: hm, currentSystem: null, profilePath: null,
})
const base: BuildRecord = {
  buildStart: '2025-11-14T15:30:00Z', buildEnd: '2025-11-14T15:32:15Z', buildDuration: 135, target: 'os', action: 'switch', tool: 'nh',
  flakePath: '/etc/nixos', exitCode: 0, success: true, hostname: 'h', user: 'u', command: 'nh os switch',
  preGeneration: snap('g42'), postGeneration: snap('g43'), buildLogPath: '/var/log/nixos-builds/last-build.log', errors: '',
  errorDetails: [], nixVersion: '2.24.10', interrupted: false, recordVersion: 1,
}
const records: BuildRecord[] = [
  base,
  {
    ...base, buildStart: '2025-11-14T13:00:00Z', buildDuration: 42, action: 'boot', tool: 'nixos-rebuild', exitCode: 1, success: false,
    postGeneration: snap('g42'), errors: "error: undefined variable 'pkgs'\nsecond",
    errorDetails: [{ message: "undefined variable 'pkgs'", kind: 'eval', file: '/etc/nixos/configuration.nix', line: 12, column: 3 }],
  },
  {
    ...base, buildStart: '2025-11-12T09:00:00Z', buildDuration: 3725, target: 'home', action: 'switch', tool: 'home-manager',
    preGeneration: snap('g41', 'hm12'), postGeneration: snap('g41', 'hm13'),
  },
  {
    ...base, buildStart: '2025-10-01T12:00:00Z', buildDuration: 7, action: 'test', exitCode: 130, success: false, interrupted: true, signal: 'SIGINT',
    preGeneration: snap(null), postGeneration: snap(null), errors: 'builder failed\u001b[31m\nmore',
  },
]

describe('formatHistory', () => {
  it('shows when, build, tool, duration, result, generation change and the first error', () => {
    const lines = formatHistory(records, { now }).trimEnd().split('\n')
    expect(lines[0]).toMatch(/^WHEN\s+BUILD\s+TOOL\s+DURATION\s+RESULT\s+GENERATION\s+FIRST ERROR$/)
    expect(lines[1]).toMatch(/^30m ago\s+os switch\s+nh\s+2m15s\s+ok\s+g42 → g43$/)
    expect(lines[2]).toMatch(/^3h ago\s+os boot\s+nixos-rebuild\s+42s\s+failed \(1\)\s+g42\s+undefined variable 'pkgs'$/)
    expect(lines[3]).toMatch(/^2d ago\s+home switch\s+home-manager\s+1h02m\s+ok\s+hm12 → hm13$/)
    expect(lines[4]).toMatch(/^2025-10-01\s+os test\s+nh\s+7s\s+interrupted\s+-\s+builder failed$/) // no escape codes from the record
    // columns line up: every column starts at the same offset in every row
    const at = lines[0]!.indexOf('RESULT')
    for (const l of lines.slice(1)) expect(l.slice(at)).toMatch(/^(ok|failed|interrupted)/)
  })

  it('colours results without moving the columns', () => {
    const plain = formatHistory(records, { now, color: false })
    const coloured = formatHistory(records, { now, color: true })
    expect(coloured).not.toBe(plain)
    expect(coloured).toContain('\u001b[31mfailed (1)')
    expect(stripVTControlCharacters(coloured)).toBe(plain)
  })

  it('clips a long first error to the width, and says when there is nothing', () => {
    const long = { ...records[1]!, errorDetails: [{ message: 'x'.repeat(300), kind: 'eval' }] }
    const line = formatHistory([long], { now, width: 100 }).split('\n')[1]!
    expect([...line].length).toBeLessThanOrEqual(100)
    expect(line.endsWith('x…')).toBe(true)
    expect(formatHistory([], { now })).toBe('No builds recorded.\n')
  })
})

describe('filterHistory', () => {
  it('--failed keeps failed and interrupted builds, --limit the newest N after filtering', () => {
    expect(filterHistory(records, { failed: true })).toEqual([records[1], records[3]])
    expect(filterHistory(records, { limit: 2 })).toEqual(records.slice(0, 2))
    expect(filterHistory(records, { failed: true, limit: 1 })).toEqual([records[1]])
    expect(filterHistory(records, { limit: 0 })).toEqual([])
    expect(filterHistory(records, {})).toEqual(records)
  })
})

describe('formatting helpers', () => {
  it('formats ages and durations', () => {
    expect(formatWhen('2025-11-14T15:59:30Z', now)).toBe('just now')
    expect(formatWhen('2025-11-08T16:00:01Z', now)).toBe('5d ago')
    expect(formatWhen('garbage', now)).toBe('?')
    expect([0, 59, 60, 135, 3599, 3600, 3725].map(formatSeconds)).toEqual(['0s', '59s', '1m00s', '2m15s', '59m59s', '1h00m', '1h02m'])
  })
})
