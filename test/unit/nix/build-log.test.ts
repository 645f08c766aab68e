/**
 * BuildLogParser: the streaming parser behind `nbs build` (src/nix/build-log.ts), on hand-written
 * records, on real Nix 2.8 streams, and on 1M generated lines (bench/gen-nix-log.mjs).
 */
import { spawnSync } from 'node:child_process'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
// @ts-expect-error: a plain .mjs bench script without types
import { nixLogLines } from '../../../bench/gen-nix-log.mjs'
import { BuildLogParser, type BuildLogEvent } from '../../../src/nix/build-log.js'
import { hasNix, NIX_ENV, NIX_SKIP_REASON, nixVersion } from '../../helpers/nix.js'
import { NIX28 } from './captures-nix28.js'
import { needs } from '../../helpers/real.js'

// Nix's own shapes (keys sorted), as in reference/nix.md §1.8
const start = (id: string, type: number, fields?: unknown[], parent = '0', text = '') =>
  `@nix {"action":"start",${fields ? `"fields":${JSON.stringify(fields)},` : ''}"id":${id},"level":3,"parent":${parent},"text":${JSON.stringify(text)},"type":${type}}`
const stop = (id: string) => `@nix {"action":"stop","id":${id}}`
const result = (id: string, type: number, fields: unknown[]) => `@nix {"action":"result","fields":${JSON.stringify(fields)},"id":${id},"type":${type}}`
const msg = (level: number, text: string) => `@nix {"action":"msg","level":${level},"msg":${JSON.stringify(text)}}`
const errMsg = (text: string, extra = '"column":null,"file":null,"line":null,') =>
  `@nix {"action":"msg",${extra}"level":0,"msg":${JSON.stringify(`\u001b[31;1merror:\u001b[0m ${text}`)},"raw_msg":${JSON.stringify(text)}}`

const DRV = '/nix/store/k4670x0hpqh34hak8jwhjgffkjj64jml-hello-2.12.drv'
const DRV2 = '/nix/store/q8lx3k0d8c0w2n9z4y5m6a7b8c9d0e1f-openssl-3.0.drv'
const SYSTEM = '/nix/store/1a7sjxhl1hdfxp631fpfq5vcym3pjb7x-nixos-system-demo.drv'

function feed(lines: string[], opts: ConstructorParameters<typeof BuildLogParser>[0] = {}) {
  const events: BuildLogEvent[] = []
  const p = new BuildLogParser({ ...opts, onEvent: (e) => events.push(e) })
  const consumed = lines.map((l) => p.line(l))
  p.end()
  return { p, events, consumed }
}

/** The Nix 2.8 preamble: realise, builds and copyPaths aggregates. */
const aggregates = [start('100', 102), start('101', 104), start('102', 103)]

describe('BuildLogParser: counters and activities', () => {
  it('counts builds from result 105 on actBuilds and downloads from result 105 on actCopyPaths', () => {
    const { p, events } = feed([
      ...aggregates,
      result('101', 105, [0, 3, 0, 0]),
      result('102', 105, [0, 2, 0, 0]),
      result('101', 105, [1, 3, 2, 0]),
      result('102', 105, [1, 2, 1, 0]),
    ])
    expect(p.progress.builds).toEqual({ done: 1, expected: 3, running: 2, failed: 0 })
    expect(p.progress.downloads).toEqual({ done: 1, expected: 2, running: 1, failed: 0 })
    expect(events.filter((e) => e.type === 'progress')).toHaveLength(4)
    // an unchanged 105 is not a change
    expect(p.line(result('101', 105, [1, 3, 2, 0]))).toBe(true)
    expect(p.progress.builds.done).toBe(1)
  })

  it('sums download bytes from 105 on fileTransfer activities and 106 setExpected, like Nix’s bar', () => {
    const { p } = feed([
      ...aggregates,
      result('100', 106, [101, 5000]),
      result('100', 106, [100, 20000]),
      start('200', 108, ['/nix/store/aaa-x', 'https://cache.nixos.org']),
      start('201', 100, ['/nix/store/aaa-x', 'https://cache.nixos.org', 'local'], '200'),
      start('202', 101, ['https://cache.nixos.org/nar/x.nar.xz'], '201'),
      result('202', 105, [1000, 3000, 0, 0]),
    ])
    expect(p.progress.bytes).toEqual({ done: 1000, expected: 5000 })
    expect(p.progress.downloadBytes).toEqual({ done: 1000, expected: 5000 })
    expect(p.progress.copiedBytes).toEqual({ done: 0, expected: 20000 })
    p.line(result('202', 105, [3000, 3000, 0, 0]))
    p.line(stop('202'))
    p.line(result('201', 105, [12000, 12000, 0, 0]))
    // a stopped transfer keeps what it did
    expect(p.progress.bytes).toEqual({ done: 3000, expected: 5000 })
    expect(p.progress.copiedBytes).toEqual({ done: 12000, expected: 20000 })
  })

  it('keeps activity ids above 2^53 exact (both the fast path and other key orders)', () => {
    const a = '9007199254740992' // 2^53
    const b = '9007199254740993' // 2^53 + 1: the same Number
    const huge = '17752014662402062'
    const { p, events } = feed([
      start(a, 105, [DRV, '', 1, 1]),
      // same record, keys in another order: parseNixLine's path
      `@nix {"type":105,"text":"building","parent":0,"level":3,"id":${b},"fields":[${JSON.stringify(DRV2)},"",1,1],"action":"start"}`,
      result(a, 101, ['from a']),
      `@nix {"id":${b},"type":101,"action":"result","fields":["from b"]}`,
      start(huge, 111, undefined, a, "waiting for a free build user ID for 'x'"),
    ])
    expect(events.filter((e) => e.type === 'build-started').map((e) => 'id' in e && e.id)).toEqual([a, b])
    expect(p.progress.running.map((r) => r.id)).toEqual([a, b])
    expect(p.tail(DRV)).toEqual(['from a'])
    expect(p.tail(DRV2)).toEqual(['from b'])
    expect(p.activity(huge)).toEqual({ id: huge, type: 111, parent: a, text: "waiting for a free build user ID for 'x'", drv: DRV })
  })

  it('tracks the activity tree and the running builds with their phases, newest last', () => {
    const { p, events } = feed([
      ...aggregates,
      start('300', 105, [DRV, '', 1, 1], '0', `building '${DRV}'`),
      result('300', 104, ['unpackPhase']),
      start('301', 105, [DRV2, '', 1, 1], '0', `building '${DRV2}'`),
      result('300', 104, ['buildPhase']),
      // a child of the build (post-build hook): its lines belong to the build
      start('302', 110, [DRV], '300', "running post-build-hook '/etc/hook'"),
      result('302', 107, ['hook says hi']),
      start('310', 108, ['/nix/store/aaa-x', 'https://cache.nixos.org']),
      start('311', 100, ['/nix/store/aaa-x', 'https://cache.nixos.org', 'local'], '310'),
    ])
    expect(p.progress.running).toEqual([
      { drv: DRV, id: '300', phase: 'buildPhase' },
      { drv: DRV2, id: '301' },
    ])
    expect(events).toContainEqual({ type: 'phase', id: '300', drv: DRV, phase: 'buildPhase' })
    expect(p.activity('311')).toMatchObject({ type: 100, parent: '310' })
    expect(p.activity('310')).toMatchObject({ type: 108, parent: '0' })
    expect(p.activity('302')).toMatchObject({ type: 110, parent: '300', drv: DRV })
    expect(p.tail(DRV)).toEqual(['hook says hi'])
    p.line(stop('311'))
    p.line(stop('300'))
    expect(p.activity('311')).toBeUndefined()
    expect(p.progress.running).toEqual([{ drv: DRV2, id: '301' }])
    expect(events.at(-2)).toEqual({ type: 'build-stopped', id: '300', drv: DRV, failed: false })
    expect(events.at(-1)).toEqual({ type: 'progress' })
  })

  it('shows a remote build (a local and a forwarded actBuild for one drv) once, with its machine', () => {
    const { p, events } = feed([
      start('400', 105, [DRV, 'ssh-ng://builder', 1, 1], '0', `building '${DRV}' on 'ssh-ng://builder'`),
      start('401', 105, [DRV, '', 1, 1], '0', `building '${DRV}'`),
      result('401', 101, ['remote line']),
    ])
    expect(p.progress.running).toEqual([{ drv: DRV, id: '400', machine: 'ssh-ng://builder' }])
    expect(events[0]).toEqual({ type: 'build-started', id: '400', drv: DRV, machine: 'ssh-ng://builder' })
    expect(p.tail(DRV)).toEqual(['remote line'])
    p.line(stop('401'))
    expect(p.progress.running).toHaveLength(1)
    p.line(stop('400'))
    expect(p.progress.running).toHaveLength(0)
  })
})

describe('BuildLogParser: log tails and errors', () => {
  it('keeps only the last N lines per build and puts the failed build’s tail into its error', () => {
    const lines = Array.from({ length: 10 }, (_, i) => result('500', 101, [`line ${i}`]))
    const { p } = feed(
      [
        ...aggregates,
        start('500', 105, [DRV, '', 1, 1]),
        start('501', 105, [DRV2, '', 1, 1]),
        ...lines,
        result('501', 101, ['other build']),
        result('101', 105, [0, 2, 1, 1]),
        stop('500'),
        errMsg(`builder for '\u001b[35;1m${DRV}\u001b[0m' failed with exit code 2`),
      ],
      { tailLines: 3 },
    )
    expect(p.tail(DRV)).toEqual(['line 7', 'line 8', 'line 9'])
    expect(p.tail(DRV2)).toEqual(['other build'])
    expect(p.errors()).toEqual([
      expect.objectContaining({ kind: 'build', drv: DRV, exitCode: 2, message: `builder for '${DRV}' failed with exit code 2`, logTail: ['line 7', 'line 8', 'line 9'] }),
    ])
  })

  it('strips ANSI colours from the tail and keeps escaped quotes and unicode', () => {
    const { p } = feed([start('1', 105, [DRV, '', 1, 1]), result('1', 101, ['\u001b[1mbold\u001b[0m "q" ‘u’ ✓ \\ end'])])
    expect(p.tail(DRV)).toEqual(['bold "q" ‘u’ ✓ \\ end'])
  })

  it('marks a stopped build failed: by the failed counter just before (Nix ≤ 2.28 order) or by an error naming it', () => {
    const { events } = feed([
      ...aggregates,
      start('600', 105, [DRV, '', 1, 1]),
      start('601', 105, [DRV2, '', 1, 1]),
      start('602', 105, ['/nix/store/zzz-ok.drv', '', 1, 1]),
      result('101', 105, [0, 3, 3, 1]), // DRV failed; its stop comes next
      stop('600'),
      errMsg(`builder for '${DRV2}' failed with exit code 1`), // Nix ≥ 2.29 may log before the stop
      stop('601'),
      stop('602'),
    ])
    expect(events.filter((e) => e.type === 'build-stopped')).toEqual([
      { type: 'build-stopped', id: '600', drv: DRV, failed: true },
      { type: 'build-stopped', id: '601', drv: DRV2, failed: true },
      { type: 'build-stopped', id: '602', drv: '/nix/store/zzz-ok.drv', failed: false },
    ])
  })

  it('classifies level-0 messages by their text: trace: is not an error', () => {
    const { p, events } = feed([
      msg(0, 'trace: warning: the option `foo` has been renamed'),
      msg(1, "\u001b[35;1mwarning:\u001b[0m Git tree '/etc/nixos' is dirty"),
      msg(3, 'these 3 derivations will be built:'),
      msg(0, 'these 3 derivations will be built:'), // --dry-run prints its lists at level 0
    ])
    expect(p.errors()).toEqual([])
    expect(events).toEqual([
      { type: 'message', level: 0, text: 'trace: warning: the option `foo` has been renamed', kind: 'trace' },
      { type: 'message', level: 1, text: "warning: Git tree '/etc/nixos' is dirty", kind: 'warning' },
      { type: 'message', level: 3, text: 'these 3 derivations will be built:', kind: 'info' },
      { type: 'message', level: 0, text: 'these 3 derivations will be built:', kind: 'info' },
    ])
    expect(p.stats.messages).toEqual({ error: 0, trace: 1, warning: 1, info: 2 })
  })

  it('recognises builder failures in both formats (≤ 2.28 and ≥ 2.29) with drv and exit code', () => {
    const { p } = feed([
      start('700', 105, [DRV, '', 1, 1]),
      result('700', 101, ['make: *** Error 2']),
      stop('700'),
      errMsg(`builder for '\u001b[35;1m${DRV}\u001b[0m' failed with exit code 2`),
      start('701', 105, [DRV2, '', 1, 1]),
      result('701', 101, ['cc: fatal error']),
      stop('701'),
      errMsg(
        `Cannot build '\u001b[35;1m${DRV2}\u001b[0m'.\n       Reason: \u001b[31;1mbuilder failed with exit code 1\u001b[0m.\n       Output paths:\n         /nix/store/q8lx3k0d8c0w2n9z4y5m6a7b8c9d0e1f-openssl-3.0`,
      ),
    ])
    expect(p.errors()).toMatchObject([
      { kind: 'build', drv: DRV, exitCode: 2, logTail: ['make: *** Error 2'] },
      { kind: 'build', drv: DRV2, exitCode: 1, reason: 'builder failed with exit code 1', logTail: ['cc: fatal error'] },
    ])
  })

  it('recognises dependency failures in both formats', () => {
    const { p } = feed([
      errMsg(`\u001b[35;1m1\u001b[0m dependencies of derivation '\u001b[35;1m${SYSTEM}\u001b[0m' failed to build`),
      errMsg(`Cannot build '${SYSTEM}'.\n       Reason: 1 dependency failed.\n       Output paths:\n         /nix/store/1a7sjxhl1hdfxp631fpfq5vcym3pjb7x-nixos-system-demo`),
    ])
    expect(p.errors()).toMatchObject([
      { kind: 'dependency', drv: SYSTEM, reason: '1 dependency failed' },
      { kind: 'dependency', drv: SYSTEM, reason: '1 dependency failed' },
    ])
    expect(p.errors()[0]?.logTail).toBeUndefined()
  })

  it('recognises a hash mismatch (real Nix 2.8 stream) and gives it its build’s tail', () => {
    const lines = NIX28.hashMismatchJson.split('\n').filter(Boolean)
    const at = lines.findIndex((l) => l.includes('"type":105') && l.includes('"action":"start"'))
    lines.splice(at + 1, 0, result('140286516789253', 101, ['trying https://example.org/x.tar.gz']))
    const { p } = feed(lines)
    expect(p.errors()).toMatchObject([
      {
        kind: 'hash-mismatch',
        drv: '/nix/store/nw4770nhkkni2jmsksijiggky9g76v80-fod.drv',
        reason: 'specified sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=, got sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=',
        logTail: ['trying https://example.org/x.tar.gz'],
      },
    ])
  })

  it('reads an evaluation error record with its file, line and column (real Nix 2.8 stream)', () => {
    const { p, consumed } = feed(NIX28.undefinedVariableJson.split('\n').filter(Boolean))
    expect(consumed.every(Boolean)).toBe(true)
    expect(p.errors()).toMatchObject([
      { kind: 'eval', message: "undefined variable 'undefinedPackage'", file: '/nix/store/91irihm0cm1c0qk3haq9jskhcsjadzhm-source/flake.nix', line: 10, column: 16 },
    ])
    expect(p.errors()[0]?.codeFrame).toContain('10|       PATH = [ undefinedPackage ];')
  })

  it('takes file/line/column from the record fields of a ≥ 2.13 traces-first error', () => {
    const text = "\n       … while evaluating the attribute 'x'\n\n       error: attribute 'foo' missing"
    const { p } = feed([errMsg(text, '"column":7,"file":"/etc/nixos/configuration.nix","line":12,')])
    expect(p.errors()).toMatchObject([{ kind: 'eval', message: "attribute 'foo' missing", file: '/etc/nixos/configuration.nix', line: 12, column: 7 }])
  })
})

describe('BuildLogParser: robustness', () => {
  it('ignores unknown actions, activity types and result types (never throws, still consumes them)', () => {
    const { p, events, consumed } = feed([
      '@nix {"action":"setPhase","phase":"buildPhase"}',
      '@nix {"action":"frobnicate","id":1,"type":999}',
      start('800', 113, ['/nix/store/x-source', 1]),
      result('800', 109, ['/nix/store/x-source']),
      '@nix {"action":"result","id":800,"payload":{"status":"Built","startTime":1},"type":110}',
      result('800', 999, [1, 2, 3]),
      result('800', 108, ['Receiving objects: 50%']),
      result('999999', 101, ['a line of an activity never started']),
      result('999999', 105, [1, 2, 3, 4]),
      stop('123456'),
      '@nix {"action":"start","id":801,"level":3,"type":105,"text":"building"}', // no fields
      '@nix {"action":"result","id":801,"type":105}', // no fields
      stop('800'),
    ])
    expect(consumed.every(Boolean)).toBe(true)
    expect(p.errors()).toEqual([])
    expect(p.progress.builds).toEqual({ done: 0, expected: 0, running: 0, failed: 0 })
    expect(events.filter((e) => e.type !== 'progress' && e.type !== 'build-started')).toEqual([])
  })

  it('returns false for malformed @nix lines and plain text, true for records', () => {
    const bad = [
      '@nix {"action":"result","fields":["x"],"id":1,"type":101', // cut off
      '@nix {"action":"result","fields":["a"b"],"id":1,"type":101}',
      '@nix {"action":"result","fields":["a","b"],"id":1,"type":101}x',
      '@nix {"action":"result","fields":[1,2,x,4],"id":1,"type":105}',
      '@nix {"action":"stop","id":12x}',
      '@nix {"action":"stop","id":}',
      '@nix {"action":"msg","level":0,"msg":"error: oops"',
      '@nix not json',
      '@nix [1,2]',
      '@nix {"no":"action"}',
      '@nix ',
      '',
      'building \'/nix/store/x.drv\'...',
      'warning: @nix is not at the start',
    ]
    const { p, consumed } = feed(bad)
    expect(consumed).toEqual(bad.map(() => false))
    expect(p.stats.records).toBe(0)
    expect(p.errors()).toEqual([])
    // a record after a carriage return or a colour reset still counts (parseNixLine tolerates it)
    expect(p.line(`\r${stop('1')}`)).toBe(true)
    expect(p.line(result('1', 101, ['ok']))).toBe(true)
  })

  it('reads the same records through the fast path and through JSON.parse alike', () => {
    const sorted = [start('1', 105, [DRV, '', 1, 1]), result('1', 104, ['buildPhase']), result('1', 101, ['a "b" \\ c']), result('101', 105, [1, 2, 3, 4])]
    const shuffled = sorted.map((l) => {
      const r = JSON.parse(l.slice(5)) as Record<string, unknown>
      return `@nix ${JSON.stringify(Object.fromEntries(Object.entries(r).reverse()))}`
    })
    const a = feed([start('101', 104), ...sorted])
    const b = feed([start('101', 104), ...shuffled])
    expect(b.p.progress).toEqual(a.p.progress)
    expect(b.p.tail(DRV)).toEqual(a.p.tail(DRV))
    expect(b.events).toEqual(a.events)
    expect(a.p.tail(DRV)).toEqual(['a "b" \\ c'])
  })

  it('accumulates plain-text error blocks (Nix run without internal-json) and parses them', () => {
    const plain = [
      ...NIX28.buildFailPlain.split('\n'),
      'some tool output',
      ...NIX28.undefinedVariablePlain.split('\n'),
    ]
    const p = new BuildLogParser()
    expect(plain.map((l) => p.line(l)).some(Boolean)).toBe(false)
    // the second block is still open: errors() includes it already
    expect(p.errors()).toMatchObject([
      {
        kind: 'build',
        drv: '/nix/store/hwvs9lqyrcc9d7rpd1dx8fq5sy4a1frz-nixos-system-demo-build-fail.drv',
        exitCode: 3,
        logTail: ['nbs-fixture: configuring', 'nbs-fixture: compiling', 'nbs-fixture: something went wrong'],
      },
      { kind: 'eval', message: "undefined variable 'undefinedPackage'", line: 10, column: 16 },
    ])
    p.end()
    expect(p.errors()).toHaveLength(2)
  })

  it('fills a plain-text builder error’s missing tail from the build’s records', () => {
    const { p } = feed([start('1', 105, [DRV, '', 1, 1]), result('1', 101, ['boom']), stop('1'), `\u001b[31;1merror:\u001b[0m builder for '${DRV}' failed with exit code 4`])
    expect(p.errors()).toMatchObject([{ kind: 'build', drv: DRV, exitCode: 4, logTail: ['boom'] }])
  })
})

describe('BuildLogParser.write(): raw chunks', () => {
  const stream = [
    msg(0, 'trace: ‘unicode’ trace'),
    ...aggregates,
    start('9007199254740993', 105, [DRV, '', 1, 1]),
    result('9007199254740993', 101, ['ünïcödé ✓ line', 'x']),
    result('9007199254740993', 101, ['ünïcödé ✓ line']),
    result('9007199254740993', 101, ['\u001b[31mred\u001b[0m "quoted" ✓']),
    result('101', 105, [0, 1, 0, 1]),
    'plain text from a wrapper: ✓',
    stop('9007199254740993'),
    errMsg(`builder for '${DRV}' failed with exit code 2`),
  ]
  // the first 101 has two fields: not the fast path's shape, read by JSON.parse
  const TAIL = ['ünïcödé ✓ line', 'ünïcödé ✓ line', 'red "quoted" ✓']
  const bytes = Buffer.from(`${stream.join('\n')}\nerror: plain ✓ error\n       with detail`)

  it('gives the same result as line() wherever the chunks are cut, multi-byte characters included', () => {
    const ref = feed([...stream, 'error: plain ✓ error', '       with detail'])
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const events: BuildLogEvent[] = []
      const plain: string[] = []
      const p = new BuildLogParser({ onEvent: (e) => events.push(e), onPlain: (l) => plain.push(l) })
      p.write(bytes.subarray(0, cut))
      p.write(new Uint8Array(bytes.subarray(cut)))
      p.end()
      expect(events).toEqual(ref.events)
      expect(plain).toEqual(['plain text from a wrapper: ✓', 'error: plain ✓ error', '       with detail'])
      expect(p.errors()).toEqual(ref.p.errors())
      expect(p.tail(DRV)).toEqual(TAIL)
    }
    expect(ref.p.errors()).toMatchObject([{ kind: 'build', logTail: TAIL }, { message: 'plain ✓ error' }])
  })

  it('handles one byte at a time', () => {
    const p = new BuildLogParser()
    for (const b of bytes) p.write(Uint8Array.of(b))
    p.end()
    expect(p.errors()).toHaveLength(2)
    expect(p.stats.lines).toBe(stream.length + 2)
  })
})

const NIX28_DEP_FAIL_TRACE = [
  "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"trace: nbs: tracing\"}",
  "@nix {\"action\":\"start\",\"id\":112811610996736,\"level\":0,\"text\":\"\",\"type\":102}",
  "@nix {\"action\":\"start\",\"id\":112811610996737,\"level\":0,\"text\":\"\",\"type\":104}",
  "@nix {\"action\":\"start\",\"id\":112811610996738,\"level\":0,\"text\":\"\",\"type\":103}",
  "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":112811610996737,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":112811610996738,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"start\",\"id\":112811610996739,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
  "@nix {\"action\":\"stop\",\"id\":112811610996739}",
  "@nix {\"action\":\"result\",\"fields\":[0,2,0,0],\"id\":112811610996737,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":112811610996738,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/rk4prpp203qwjyd643lnpqqiclxfpnjx-nbs-bl-dep.drv\",\"\",1,1],\"id\":112811610996740,\"level\":3,\"text\":\"building '/nix/store/rk4prpp203qwjyd643lnpqqiclxfpnjx-nbs-bl-dep.drv'\",\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[0,2,1,0],\"id\":112811610996737,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":112811610996738,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"result\",\"fields\":[\"one\"],\"id\":112811610996740,\"type\":101}",
  "@nix {\"action\":\"result\",\"fields\":[\"two \\\"quoted\\\"\"],\"id\":112811610996740,\"type\":101}",
  "@nix {\"action\":\"result\",\"fields\":[\"\\u001b[1mbold\\u001b[0m\"],\"id\":112811610996740,\"type\":101}",
  "@nix {\"action\":\"result\",\"fields\":[0,1,0,1],\"id\":112811610996737,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":112811610996738,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"\\u001b[31;1merror:\\u001b[0m builder for '\\u001b[35;1m/nix/store/rk4prpp203qwjyd643lnpqqiclxfpnjx-nbs-bl-dep.drv\\u001b[0m' failed with exit code 2\",\"raw_msg\":\"builder for '\\u001b[35;1m/nix/store/rk4prpp203qwjyd643lnpqqiclxfpnjx-nbs-bl-dep.drv\\u001b[0m' failed with exit code 2\"}",
  "@nix {\"action\":\"stop\",\"id\":112811610996740}",
  "@nix {\"action\":\"result\",\"fields\":[0,0,0,1],\"id\":112811610996737,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":112811610996738,\"type\":105}",
  "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":112811610996736,\"type\":106}",
  "@nix {\"action\":\"stop\",\"id\":112811610996738}",
  "@nix {\"action\":\"stop\",\"id\":112811610996737}",
  "@nix {\"action\":\"stop\",\"id\":112811610996736}",
  "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"\\u001b[31;1merror:\\u001b[0m \\u001b[35;1m\\u001b[0m\\u001b[35;1m1\\u001b[0m dependencies of derivation '\\u001b[35;1m/nix/store/rwgrgfmmncmy3rhs65nggl65hizvj6mp-nixos-system-nbs-bl.drv\\u001b[0m' failed to build\\u001b[0m\",\"raw_msg\":\"\\u001b[35;1m\\u001b[0m\\u001b[35;1m1\\u001b[0m dependencies of derivation '\\u001b[35;1m/nix/store/rwgrgfmmncmy3rhs65nggl65hizvj6mp-nixos-system-nbs-bl.drv\\u001b[0m' failed to build\\u001b[0m\"}",
]


describe('BuildLogParser on real Nix 2.8 output', () => {
  const check = (lines: string[]) => {
    const { p, events, consumed } = feed(lines)
    expect(consumed.every(Boolean)).toBe(true)
    expect(events.filter((e) => e.type === 'message' && e.kind === 'trace')).toHaveLength(1)
    expect(events.filter((e) => e.type === 'build-stopped')).toEqual([
      { type: 'build-stopped', id: expect.any(String), drv: expect.stringMatching(/-nbs-bl-dep\.drv$/), failed: true },
    ])
    // Nix 2.8's last 105 on actBuilds: expected drops to 0 once nothing is left to build
    expect(p.progress.builds).toEqual({ done: 0, expected: 0, running: 0, failed: 1 })
    expect(p.errors()).toMatchObject([
      { kind: 'build', exitCode: 2, drv: expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-nbs-bl-dep\.drv$/), logTail: ['one', 'two "quoted"', 'bold'] },
      { kind: 'dependency', drv: expect.stringMatching(/-nixos-system-nbs-bl\.drv$/) },
    ])
    expect(p.sizes).toMatchObject({ activities: 0, running: 0 })
  }

  it('a captured stream: trace, a failing dependency, the dependency error', () => check(NIX28_DEP_FAIL_TRACE))

  it('the Nix 2.8 build-fail capture: error logged after the stop still gets the tail', () => {
    const { p, events } = feed(NIX28.buildFailJson.split('\n').filter(Boolean))
    expect(events).toContainEqual({ type: 'build-stopped', id: '140149077835781', drv: '/nix/store/hwvs9lqyrcc9d7rpd1dx8fq5sy4a1frz-nixos-system-demo-build-fail.drv', failed: true })
    expect(p.errors()).toMatchObject([{ kind: 'build', exitCode: 3, logTail: ['nbs-fixture: configuring', 'nbs-fixture: compiling', 'nbs-fixture: something went wrong'] }])
  })

  needs('nix').it(`live: ${nixVersion() ?? 'nix'}, nix build --log-format internal-json -v on failing derivations`, () => {
    const expr = `let dep = derivation { name = "nbs-bl-dep"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo one; echo \\"two \\\\\\"quoted\\\\\\"\\"; printf \\"\\\\033[1mbold\\\\033[0m\\\\n\\"; exit 2"]; PATH = "/usr/bin:/bin"; }; in builtins.trace "nbs: tracing" (derivation { name = "nixos-system-nbs-bl"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo \${dep} > $out"]; })`
    const r = spawnSync('nix', ['build', '--no-link', '--impure', '-v', '--log-format', 'internal-json', '--expr', expr], {
      encoding: 'utf8',
      env: { ...process.env, ...NIX_ENV },
      timeout: 60_000,
    })
    expect(r.status).not.toBe(0)
    check(r.stderr.replace(/\n$/, '').split('\n'))
  })
})

/** Feeds lines to p.write() in 64 KiB chunks, as a child's pipe gives them (the path nbs build uses). */
function writeLines(p: BuildLogParser, lines: Iterable<string>): number {
  let n = 0
  let buf = ''
  for (const l of lines) {
    buf += `${l}\n`
    n++
    if (buf.length >= 65536) {
      p.write(Buffer.from(buf))
      buf = ''
    }
  }
  p.write(Buffer.from(buf))
  return n
}

describe('BuildLogParser: bounded memory', () => {
  it('1M generated lines through the byte path: nothing of the finished builds is left but the last 64', () => {
    const p = new BuildLogParser({ onEvent: () => {} })
    const heap: number[] = []
    let n = 0
    const lines = function* () {
      for (const l of nixLogLines({ lines: 1_000_000, fail: true, seed: 7 }) as Iterable<string>) {
        if (++n % 200_000 === 0) heap.push(process.memoryUsage().heapUsed)
        yield l
      }
    }
    writeLines(p, lines())
    p.end()
    expect(n).toBeGreaterThan(990_000)
    expect(p.stats.lines).toBe(n)
    expect(p.sizes).toMatchObject({ activities: 0, running: 0, hotIds: 0 })
    expect(p.sizes.recent).toBeLessThanOrEqual(64)
    expect(p.errors()).toMatchObject([{ kind: 'build', exitCode: 2 }, { kind: 'dependency' }])
    expect(p.errors()[0]?.logTail).toHaveLength(25)
    expect(p.progress.builds.failed).toBe(1)
    // coarse: the heap does not grow with the input (GC timing varies, so a wide margin)
    const growth = Math.max(...heap.slice(1)) - heap[0]!
    expect(growth).toBeLessThan(64 * 1024 * 1024)
  })

  it('a million short-lived download activities: none is retained once stopped, and lost stops are capped', () => {
    const p = new BuildLogParser()
    const live: number[] = []
    writeLines(
      p,
      (function* () {
        yield* aggregates
        for (let i = 0; i < 1_000_000; i++) {
          const id = String(17752014662402062n + BigInt(i))
          yield start(id, 101, [`https://cache.example/nar/${i}.nar.xz`], '102', `downloading '${i}'`)
          yield result(id, 105, [512, 1024, 0, 0])
          yield stop(id)
          if (i % 250_000 === 0) live.push(p.sizes.activities)
        }
      })(),
    )
    expect(live.every((n) => n <= 3 + 2)).toBe(true) // the aggregates, and at most the chunk in flight
    expect(p.sizes.activities).toBe(3)
    // a stream whose stops got lost: the oldest activities go past the cap
    writeLines(p, (function* () { for (let i = 0; i < 50_000; i++) yield start(String(1_000_000 + i), 101) })())
    p.end()
    expect(p.sizes.activities).toBe(20_000)
  })

  it('keeps the log tail of running builds and of the last 64 stopped ones only', () => {
    const drv = (i: number) => `/nix/store/${String(i).padStart(32, '0')}-pkg-${i}.drv`
    const p = new BuildLogParser()
    writeLines(
      p,
      (function* () {
        for (let i = 0; i < 1000; i++) {
          yield start(String(1000 + i), 105, [drv(i), '', 1, 1])
          for (let k = 0; k < 30; k++) yield result(String(1000 + i), 101, [`pkg-${i} line ${k}`])
          yield stop(String(1000 + i))
        }
      })(),
    )
    p.end()
    expect(p.sizes).toMatchObject({ running: 0, recent: 64 })
    expect(p.tail(drv(0))).toEqual([])
    expect(p.tail(drv(935))).toEqual([])
    expect(p.tail(drv(936))).toHaveLength(25)
    expect(p.tail(drv(999)).at(-1)).toBe('pkg-999 line 29')
  })

  it('200 builds at once (more than the id cache): every line reaches its own build, the cache stays bounded', () => {
    const drv = (i: number) => `/nix/store/${String(i).padStart(32, '0')}-par-${i}.drv`
    const p = new BuildLogParser()
    writeLines(
      p,
      (function* () {
        for (let i = 0; i < 200; i++) yield start(String(5415953760418n + BigInt(i)), 105, [drv(i), '', 1, 1])
        for (let k = 0; k < 50; k++) for (let i = 0; i < 200; i++) yield result(String(5415953760418n + BigInt(i)), 101, [`par-${i} line ${k}`])
      })(),
    )
    expect(p.sizes.hotIds).toBeLessThanOrEqual(64)
    for (const i of [0, 63, 64, 137, 199]) expect(p.tail(drv(i))).toEqual(Array.from({ length: 25 }, (_, k) => `par-${i} line ${k + 25}`))
    expect(p.progress.running).toHaveLength(200)
  })

  it('what it keeps of a chunk (ids, phases, log lines) does not keep the whole 64 KiB chunk alive', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const p = new BuildLogParser()
    const pad = `${'x'.repeat(1000)}\n`.repeat(64) // plain text making each record's chunk 64 KiB
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 2000; i++) {
      const id = String(17752014662402062n + BigInt(i))
      const drv = `/nix/store/${String(i).padStart(32, '0')}-pin-${i}.drv`
      // a live build (start: parsed by JSON.parse), its phase and a log line (fast paths)
      p.write(Buffer.from(`${pad}${start(id, 105, [drv, '', 1, 1])}\n${result(id, 104, ['configurePhase'])}\n${result(id, 101, [`pin ${i} line`])}\n`))
    }
    gc()
    const kept = process.memoryUsage().heapUsed - before
    expect(p.sizes.running).toBe(2000)
    // pinned chunks would be 2000 × 64 KiB = 128 MiB
    expect(kept).toBeLessThan(16 * 1024 * 1024)
  })
})
