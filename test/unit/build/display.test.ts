import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createDisplay, drvName, formatSummary, messageText, statusLine } from '../../../src/build/display.js'
import type { BuildRecord } from '../../../src/records/schema.js'
import type { BuildProgress } from '../../../src/nix/build-log.js'

const DRV = '/nix/store/k4670x0hpqh34hak8jwhjgffkjj64jml-hello-2.12.drv'
const zero = { done: 0, expected: 0, running: 0, failed: 0 }
function progress(p: Partial<BuildProgress> = {}): BuildProgress {
  return { builds: zero, downloads: zero, bytes: { done: 0, expected: 0 }, running: [], ...p } as BuildProgress
}

function sink(isTTY: boolean) {
  const out: string[] = []
  return { out, text: () => out.join(''), sink: { isTTY, columns: 60, write: (t: string) => void out.push(t) } }
}

describe('statusLine', () => {
  it('shows builds, downloads, the newest running derivation with its phase, and elapsed time', () => {
    const p = progress({
      builds: { done: 3, expected: 10, running: 2, failed: 0 },
      downloads: { done: 2, expected: 5, running: 1, failed: 0 },
      bytes: { done: 1048576, expected: 4194304 },
      running: [
        { drv: '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-zlib-1.3.drv', id: '1' },
        { drv: DRV, id: '2', phase: 'buildPhase' },
      ],
    })
    expect(statusLine(p, 62_000)).toBe('[3/10 built, 2 running] [↓ 2/5 1.0/4.0 MiB] hello-2.12 (buildPhase) +1 1m02s')
    expect(statusLine(progress(), 1500)).toBe('evaluating 1s')
  })

  it('drvName strips the store hash and .drv', () => {
    expect(drvName(DRV)).toBe('hello-2.12')
  })
})

describe('piped display', () => {
  it('prints only started / finished / failed lines, plus what Nix itself would have printed', () => {
    const s = sink(false)
    let t = 0
    const d = createDisplay(s.sink, { progress: () => progress(), now: () => t, tail: () => ['> compiling', 'oops'] })
    d.event({ type: 'build-started', id: '1', drv: DRV })
    d.event({ type: 'phase', id: '1', drv: DRV, phase: 'buildPhase' })
    d.event({ type: 'progress' })
    d.event({ type: 'message', level: 4, text: "evaluating file '/x.nix'", kind: 'info' }) // -v noise: hidden
    d.event({ type: 'message', level: 1, text: "warning: Git tree '/etc/nixos' is dirty", kind: 'warning' })
    t = 2500
    d.event({ type: 'build-stopped', id: '1', drv: DRV, failed: false })
    d.event({ type: 'build-started', id: '2', drv: '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-bad.drv', machine: 'ssh-ng://b' })
    d.event({ type: 'build-stopped', id: '2', drv: '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-bad.drv', failed: true })
    d.stop()
    expect(s.text()).toBe(
      [
        'nbs: started hello-2.12',
        "warning: Git tree '/etc/nixos' is dirty",
        'nbs: finished hello-2.12 (2s)',
        'nbs: started bad on ssh-ng://b',
        'nbs: failed bad (0s)',
        '',
      ].join('\n'),
    )
    expect(s.text()).not.toMatch(/\u001b/)
  })

  it('an error naming a drv gets that build\'s last lines, which Nix leaves out in JSON mode', () => {
    const text = `error: builder for '${DRV}' failed with exit code 3`
    expect(messageText({ type: 'message', level: 0, text, kind: 'error' }, () => ['a', 'b'])).toBe(
      `${text}\n       last 2 log lines:\n       > a\n       > b\n`,
    )
    // Nix ≥ 2.30's side channel and plain mode already carry the tail: not twice
    const withTail = `${text}\n       last 10 log lines:\n       > a`
    expect(messageText({ type: 'message', level: 0, text: withTail, kind: 'error' }, () => ['a'])).toBe(`${withTail}\n`)
  })
})

describe('terminal display', () => {
  let t = 0
  beforeEach(() => {
    vi.useFakeTimers()
    t = 0
  })
  afterEach(() => vi.useRealTimers())
  const advance = (ms: number) => {
    t += ms
    vi.advanceTimersByTime(ms)
  }

  it('redraws one status line at most every 100 ms, in place', () => {
    const s = sink(true)
    let p = progress({ builds: { done: 0, expected: 2, running: 1, failed: 0 }, running: [{ drv: DRV, id: '1' }] })
    const d = createDisplay(s.sink, { progress: () => p, now: () => t })
    for (let i = 0; i < 50; i++) {
      p = { ...p, builds: { ...p.builds, done: i } }
      d.event({ type: 'progress' })
      advance(10)
    }
    const draws = s.out.filter((x) => x.startsWith('\r\u001b[2K') && x.length > 5)
    expect(draws.length).toBeGreaterThanOrEqual(4)
    expect(draws.length).toBeLessThanOrEqual(6) // 500 ms of events: ~5 frames, not 50
    expect(s.text()).not.toContain('\n')
    d.stop()
    expect(s.out.at(-1)).toBe('\r\u001b[2K') // left clean
  })

  it('clears the line before passthrough output and holds it back while a prompt waits for input', () => {
    const s = sink(true)
    const d = createDisplay(s.sink, { progress: () => progress({ running: [{ drv: DRV, id: '1' }] }), now: () => t })
    d.event({ type: 'progress' })
    advance(150)
    expect(s.out.at(-1)).toContain('hello-2.12')
    d.beforeOutput()
    expect(s.out.at(-1)).toBe('\r\u001b[2K')
    s.out.push('[sudo] password for alice: ')
    d.afterOutput(false)
    d.event({ type: 'progress' })
    advance(3000) // builds still "running": the ticker would redraw, but the prompt owns the line
    expect(s.out.at(-1)).toBe('[sudo] password for alice: ')
    d.beforeOutput()
    s.out.push('\n')
    d.afterOutput(true)
    advance(150)
    expect(s.out.at(-1)).toContain('hello-2.12')
    d.stop()
  })

  it('an idle line is cleared (sudo may write to the terminal directly) and a failure stays on screen', () => {
    const s = sink(true)
    const d = createDisplay(s.sink, { progress: () => progress(), now: () => t })
    d.event({ type: 'progress' })
    advance(150)
    expect(s.out.at(-1)).toContain('evaluating')
    advance(2100)
    expect(s.out.at(-1)).toBe('\r\u001b[2K')
    d.event({ type: 'build-started', id: '9', drv: DRV })
    d.event({ type: 'build-stopped', id: '9', drv: DRV, failed: true })
    expect(s.text()).toContain('failed hello-2.12 (0s)\n')
    d.stop()
  })

  it('never draws wider than the terminal', () => {
    const s = sink(true)
    const long = `/nix/store/cccccccccccccccccccccccccccccccc-${'x'.repeat(200)}.drv`
    const d = createDisplay({ ...s.sink, columns: 40 }, { progress: () => progress({ running: [{ drv: long, id: '1' }] }), now: () => t })
    d.event({ type: 'progress' })
    advance(150)
    const drawn = s.out.at(-1)!.replace('\r\u001b[2K', '')
    expect([...drawn].length).toBe(39)
    d.stop()
  })
})

describe('formatSummary', () => {
  const record = (r: Partial<BuildRecord>): BuildRecord =>
    ({
      target: 'os',
      buildDuration: 75,
      success: true,
      interrupted: false,
      exitCode: 0,
      errorDetails: [],
      buildLogPath: '/var/log/nixos-builds/last-build.log',
      preGeneration: { generation: 'g42' },
      postGeneration: { generation: 'g43' },
      ...r,
    }) as BuildRecord

  it('says the outcome, the generation change, the first error with its position and where the record is', () => {
    expect(formatSummary(record({}))).toBe(
      'nbs: build succeeded in 1m15s (g42 → g43)\nnbs: record in /var/log/nixos-builds/last-build.json, output in /var/log/nixos-builds/last-build.log\n',
    )
    // a log of its own per build (builds/…): the record is in the folder above
    expect(formatSummary(record({ buildLogPath: '/var/log/nixos-builds/builds/20261130T083000Z-os-switch.log' }))).toContain(
      'record in /var/log/nixos-builds/last-build.json, output in /var/log/nixos-builds/builds/20261130T083000Z-os-switch.log',
    )
    // an interrupt during an activation nbs waited for: the result is the activation's
    expect(formatSummary(record({ interrupted: true, signal: 'SIGINT', activation: 'completed' }))).toMatch(
      /^nbs: build succeeded in 1m15s \(g42 → g43\) \(SIGINT during activation: nbs waited for it\)\n/,
    )
    const failed = formatSummary(
      record({ success: false, exitCode: 1, errorDetails: [{ message: "undefined variable 'foo'", kind: 'eval', file: '/x/flake.nix', line: 9, column: 16 }] }),
    )
    expect(failed).toContain('nbs: build failed with exit code 1 after 1m15s\n')
    expect(failed).toContain("nbs: undefined variable 'foo' at /x/flake.nix:9:16\n")
    expect(formatSummary(record({ success: false, interrupted: true, signal: 'SIGINT' }))).toMatch(/^nbs: build interrupted by SIGINT after 1m15s\n/)
  })
})
