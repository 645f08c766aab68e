/**
 * The parser over every Nix people run: Nix 2.8 (Debian), 2.18, 2.24, 2.28, 2.29, 2.30–2.33, 2.34+,
 * Lix and Determinate Nix, from the hand-made records in nix-versions.ts (each line modelled on
 * the source it names). One parsing path for all of them: what a user sees must not depend on
 * which Nix wrote the records, whether it ran under systemd, or which keys it adds.
 */
import { describe, expect, it, vi } from 'vitest'
import type { Exec } from '../../../src/checks/types.js'
import { buildDerivation, classifyFailure, describeBuildFailure } from '../../../src/nix/build.js'
import { BuildLogParser } from '../../../src/nix/build-log.js'
import { extractNixErrors, type NixError } from '../../../src/nix/errors.js'
import { nixPosition, parseNixLine, renderNixLog, splitNixLog } from '../../../src/nix/internal-json.js'
import type { ProcessResult } from '../../../src/runner/process.js'
import {
  applyErrorStream,
  dependencyStream,
  DRV_A,
  DRV_ARM,
  DRV_B,
  DRV_TOP,
  evalErrorStream,
  FLAKE_NIX,
  keepGoingStream,
  NIX_VARIANTS,
  wrongPlatformStream,
  type NixVariant,
} from './nix-versions.js'

/** What BuildLogParser (nbs build, the build check) makes of a stream, written in chunks as a pipe delivers it. */
function parse(stream: string): BuildLogParser {
  const parser = new BuildLogParser()
  const bytes = Buffer.from(`${stream}\n`)
  for (let i = 0; i < bytes.length; i += 97) parser.write(bytes.subarray(i, i + 97))
  parser.end()
  return parser
}

/** The fields a user sees of an error. */
const seen = (e: NixError) => {
  const { raw: _raw, codeFrame: _frame, logTail: _tail, ...rest } = e
  return rest
}

const SYSTEMD = [false, true] as const

describe.each(NIX_VARIANTS.map((v) => [v.name, v] as const))('%s', (_name, v: NixVariant) => {
  it('every record is read, under systemd too: none is dropped or shown as text', () => {
    for (const systemd of SYSTEMD) {
      const stream = keepGoingStream(v, { systemd })
      const lines = stream.split('\n')
      expect(lines.every((l) => l.startsWith(systemd && v.syslogPrefix ? '<3>@nix {' : '@nix {'))).toBe(true)
      expect(lines.filter((l) => parseNixLine(l) === undefined)).toEqual([])
      expect(splitNixLog(stream).filter((c) => c.kind === 'text')).toEqual([])
      expect(renderNixLog(stream)).not.toMatch(/@nix|<3>/)
      const parser = parse(stream)
      expect(parser.stats).toMatchObject({ records: lines.length, plain: 0 })
    }
  })

  it('an evaluation error names the file once, with its line and column', () => {
    for (const systemd of SYSTEMD) {
      for (const showTrace of [false, true]) {
        const stream = evalErrorStream(v, { systemd, showTrace })
        const expected = {
          kind: 'eval',
          message: "undefined variable 'undefinedPackage'",
          file: FLAKE_NIX,
          line: 10,
          column: 16,
          ...(showTrace ? { traces: [`while evaluating the attribute 'nixosConfigurations.demo' at ${FLAKE_NIX}:3:5`] } : {}),
        }
        // the captured path (flake-eval, nix eval) and the streaming one (nbs build, the build check)
        for (const errors of [extractNixErrors(stream), parse(stream).errors()]) {
          const [e, ...rest] = errors.map(seen)
          expect(rest).toEqual([])
          if (showTrace) expect(e).toEqual(expected)
          else expect(e).toMatchObject(expected)
        }
      }
    }
  })

  it("an error inside nbs's own --apply expression points at «string», not at the expression's text", () => {
    expect(extractNixErrors(applyErrorStream(v)).map(seen)).toEqual([{ kind: 'eval', message: "attribute 'system' missing", file: '«string»', line: 1, column: 12 }])
  })

  it('--keep-going: each failed derivation with its exit code and last lines; the summary names the derivations', () => {
    for (const systemd of SYSTEMD) {
      const parser = parse(keepGoingStream(v, { systemd }))
      const errors = parser.errors()
      expect(errors.map((e) => [e.kind, e.drv, e.exitCode])).toEqual([
        ['build', DRV_B, 1],
        ['build', DRV_A, 2],
        ['build', DRV_A, undefined],
      ])
      expect(errors[2]?.drvs).toEqual([DRV_A, DRV_B])
      expect(parser.progress.builds).toMatchObject({ expected: 2, failed: 2 })
      const result = classifyFailure(errors)
      expect(result).toMatchObject({
        ok: false,
        failed: [
          { drv: DRV_B, exitCode: 1, reason: 'builder failed with exit code 1', logTail: ['running tests', 'FAIL: test_ssl_new (1 of 212)'] },
          { drv: DRV_A, exitCode: 2, reason: 'builder failed with exit code 2', logTail: ['checking for gcc... gcc', 'hello.c:3:1: error: expected declaration', 'make: *** [Makefile:3: all] Error 2'] },
        ],
      })
      if (!('failed' in result)) throw new Error('not a failure')
      // the report: two failures named, the summary left out as following from them
      const { message, details } = describeBuildFailure(result, DRV_A)
      expect(message).toMatch(/^2 derivations failed to build: /)
      expect(details.errors).toEqual([])
    }
  })

  it("a dependency's failure is the builder's; the toplevel only follows from it", () => {
    const errors = extractNixErrors(dependencyStream(v))
    expect(errors.map((e) => [e.kind, e.drv, e.reason])).toEqual([
      ['build', DRV_A, 'builder failed with exit code 2'],
      ['dependency', DRV_TOP, '1 dependency failed'],
    ])
    expect(classifyFailure(parse(dependencyStream(v)).errors())).toMatchObject({ failed: [{ drv: DRV_A, exitCode: 2, logTail: ['make: *** [Makefile:3: all] Error 2'] }] })
  })

  it('a platform this machine cannot build is a configuration problem, not a failed build, and the build check skips it', async () => {
    for (const systemd of SYSTEMD) {
      const stream = wrongPlatformStream(v, { systemd })
      const errors = extractNixErrors(stream)
      expect(errors).toMatchObject([{ kind: 'unsupported', drv: DRV_ARM }])
      // what the build check is given: buildDerivation through nix-store's stream
      const exec: Exec = async (_file, _args, opts) => {
        opts?.onStderr?.(Buffer.from(`${stream}\n`))
        return { exitCode: 1, stdout: { text: '' }, stderr: { text: '' } } as unknown as ProcessResult
      }
      const r = await buildDerivation({ exec, drvPath: DRV_ARM })
      expect(r).toMatchObject({ ok: false, unsupported: expect.stringContaining(DRV_ARM) })
      expect(r).not.toHaveProperty('failed')
      if ('unsupported' in r) expect(r.unsupported).toMatch(/'aarch64-linux'.*'x86_64-linux'/)
    }
  })
})

describe('records with keys a version adds', () => {
  const determinate = NIX_VARIANTS.find((v) => v.sid)!
  const upstream = { ...determinate, sid: false, buildResultPayload: false }

  it("Determinate's sid on every record and its BuildResult payloads change nothing", () => {
    for (const stream of [keepGoingStream, evalErrorStream, wrongPlatformStream]) {
      const withSid = stream(determinate)
      expect(withSid.split('\n').every((l) => l.includes('"sid":"'))).toBe(true)
      const a = parse(withSid)
      const b = parse(stream(upstream))
      expect(a.errors()).toEqual(b.errors())
      expect(a.progress).toEqual(b.progress)
      expect(a.tail(DRV_A)).toEqual(b.tail(DRV_A))
    }
  })
})

describe('the bulk of a build log stays on the fast path, whichever Nix wrote it', () => {
  // log lines, phases, progress and stops are read without JSON.parse when Nix wrote them in its
  // own key order: Determinate's sid and a systemd <3> must not send every line to the slow path
  it.each(NIX_VARIANTS.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const lines = keepGoingStream(v, { systemd: true }).split('\n')
    const bulk = lines.filter((l) => /"action":"(stop|result)"/.test(l) && !l.includes('"payload"'))
    expect(bulk.length).toBeGreaterThanOrEqual(15)
    const spy = vi.spyOn(JSON, 'parse')
    try {
      parse(bulk.join('\n'))
      expect(spy).not.toHaveBeenCalled()
    } finally {
      spy.mockRestore()
    }
  })
})

describe('the syslog priority before records and lines (IN_SYSTEMD=1)', () => {
  const v = NIX_VARIANTS.find((x) => x.syslogPrefix)!

  it('every priority <0>…<7> is read; <8> and text before it are not a prefix', () => {
    const stream = keepGoingStream(v, { systemd: true })
    for (let n = 0; n <= 7; n++) {
      const errors = parse(stream.replaceAll('<3>@nix', `<${n}>@nix`)).errors()
      expect(errors.map((e) => e.drv)).toEqual([DRV_B, DRV_A, DRV_A])
    }
    expect(parseNixLine('<8>@nix {"action":"msg","level":3,"msg":"x"}')).toBeUndefined()
    expect(parseNixLine('x<3>@nix {"action":"msg","level":3,"msg":"x"}')).toBeUndefined()
  })

  it("plain lines of nix-store's simple logger (real Nix 2.8, IN_SYSTEMD=1 nix-store --realise --keep-going)", () => {
    // captured on Debian's Nix 2.8.0, store hashes shortened
    const stderr = [
      '<5>these 3 derivations will be built:',
      '<5>  /nix/store/5ifw-kg-b.drv',
      '<5>  /nix/store/ln4f-kg-a-1.drv',
      '<5>  /nix/store/b0dl-kg-top.drv',
      "<5>building '/nix/store/ln4f-kg-a-1.drv'...",
      '<3>a-failing',
      "<3>error: builder for '/nix/store/ln4f-kg-a-1.drv' failed with exit code 3",
      "<5>building '/nix/store/5ifw-kg-b.drv'...",
      '<3>b-failing',
      "<3>error: builder for '/nix/store/5ifw-kg-b.drv' failed with exit code 4",
      "<3>error: 2 dependencies of derivation '/nix/store/b0dl-kg-top.drv' failed to build",
    ].join('\n')
    const expected = [
      ['build', '/nix/store/ln4f-kg-a-1.drv', 3],
      ['build', '/nix/store/5ifw-kg-b.drv', 4],
      ['dependency', '/nix/store/b0dl-kg-top.drv', undefined],
    ]
    expect(extractNixErrors(stderr).map((e) => [e.kind, e.drv, e.exitCode])).toEqual(expected)
    expect(parse(stderr).errors().map((e) => [e.kind, e.drv, e.exitCode])).toEqual(expected)
    expect(renderNixLog(stderr)).not.toContain('<3>')
  })
})

describe('positions', () => {
  it('nixPosition: the suffix Nix ≥ 2.20 adds is cut only where it repeats line and column', () => {
    expect(nixPosition({ file: `${FLAKE_NIX}:10:16`, line: 10, column: 16 })).toEqual({ file: FLAKE_NIX, line: 10, column: 16 })
    expect(nixPosition({ file: FLAKE_NIX, line: 10, column: 16 })).toEqual({ file: FLAKE_NIX, line: 10, column: 16 })
    // Pos::print leaves a 0 column out
    expect(nixPosition({ file: `${FLAKE_NIX}:12`, line: 12, column: 0 })).toEqual({ file: FLAKE_NIX, line: 12 })
    expect(nixPosition({ file: '«string»:1:3', line: 1, column: 3 })).toEqual({ file: '«string»', line: 1, column: 3 })
    expect(nixPosition({ file: '«github:NixOS/nixpkgs/0123abc»/lib/modules.nix:5:7', line: 5, column: 7 })).toEqual({ file: '«github:NixOS/nixpkgs/0123abc»/lib/modules.nix', line: 5, column: 7 })
    // a path that merely ends in other numbers keeps them
    expect(nixPosition({ file: '/srv/cfg:3:4/x.nix:3:4', line: 3, column: 4 })).toEqual({ file: '/srv/cfg:3:4/x.nix', line: 3, column: 4 })
    expect(nixPosition({ file: '/srv/v1:2', line: 7, column: 1 })).toEqual({ file: '/srv/v1:2', line: 7, column: 1 })
    // ≤ 2.12 for --expr/--apply/stdin: the source text, not a place
    expect(nixPosition({ file: '1 + "a"\n', line: 1, column: 5 })).toBeUndefined()
    expect(nixPosition({ file: null, line: null, column: null })).toBeUndefined()
  })

  it('a rendered position without a column (`at file:12:`)', () => {
    const text = `error: value is null while a set was expected\n       at ${FLAKE_NIX}:12:\n           12|   x = null;`
    expect(extractNixErrors(text).map(seen)).toEqual([{ kind: 'eval', message: 'value is null while a set was expected', file: FLAKE_NIX, line: 12 }])
    const traced = `error:\n       … while evaluating 'f'\n         at ${FLAKE_NIX}:3:\n\n       error: boom\n       at ${FLAKE_NIX}:4:2:`
    expect(extractNixErrors(traced)[0]).toMatchObject({ message: 'boom', line: 4, column: 2, traces: [`while evaluating 'f' at ${FLAKE_NIX}:3`] })
  })
})

describe('summaries and refusals in every spelling', () => {
  it('--keep-going summaries: every installable form names the derivation', () => {
    for (const [list, drvs] of [
      [`'${DRV_A}^out', '${DRV_B}^*'`, [DRV_A, DRV_B]],
      [`'${DRV_A}^out,dev'`, [DRV_A]],
      [`'${DRV_A}!out', '${DRV_B}'`, [DRV_A, DRV_B]],
      // a substitution that failed names the output path
      [`'/nix/store/p1g8cvwbhzz5dk4n6rs0yl3a7mqfj2xi-hello-2.12'`, ['/nix/store/p1g8cvwbhzz5dk4n6rs0yl3a7mqfj2xi-hello-2.12']],
    ] as const) {
      expect(extractNixErrors(`error: build of ${list} failed`)).toMatchObject([{ kind: 'build', drv: drvs[0], drvs }])
    }
  })

  const unsupported = (text: string) => classifyFailure(extractNixErrors(text))

  it('≥ 2.34: several reasons, features (NixOS/nix 2.35.0 derivation-building-goal.cc reject)', () => {
    const text = [
      `error: Cannot build '${DRV_ARM}'.`,
      '       Reason: platform mismatch',
      "       Required system: 'aarch64-linux'",
      "       Current system: 'x86_64-linux'",
      '       Reason: missing system features',
      '       Required features: {kvm}',
      '       Available features: {benchmark, big-parallel}',
    ].join('\n')
    expect(unsupported(text)).toEqual({
      ok: false,
      unsupported: `${DRV_ARM}: platform mismatch; required: 'aarch64-linux'; this machine: 'x86_64-linux'; required features: {kvm}; available features: {benchmark, big-parallel}`,
      errors: [expect.objectContaining({ kind: 'unsupported', drv: DRV_ARM })],
    })
    const disabled = `error: Cannot build '${DRV_A}'.\n       Reason: local builds are disabled (max-jobs = 0)\n       Hint: set 'max-jobs' to a non-zero value to enable local builds, or configure remote builders via 'builders'`
    expect(unsupported(disabled)).toMatchObject({ unsupported: `${DRV_A}: local builds are disabled (max-jobs = 0)` })
  })

  it('no builder at all: every wording (worker.cc: 2.8–2.20 one line, 2.21–2.29 a raw string over lines, 2.30+ one line; 2.35 reject; Lix local-derivation-goal.cc)', () => {
    for (const [text, message] of [
      ["error: unable to start any build; either increase '--max-jobs' or enable remote builds.\n       https://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html", "unable to start any build; either increase '--max-jobs' or enable remote builds."],
      [
        "error: \n                           Unable to start any build;\n                           either increase '--max-jobs' or enable remote builds.\n\n                           For more information run 'man nix.conf' and search for '/machines'.",
        "Unable to start any build; either increase '--max-jobs' or enable remote builds.",
      ],
      ["error: Unable to start any build; remote machines may not have all required system features.\n\n       For more information run 'man nix.conf' and search for '/machines'.", 'Unable to start any build; remote machines may not have all required system features.'],
      [
        "error: Unable to build with a primary store that isn't a local store; either pass a different '--store' or enable remote builds.\n\n       For more information check 'man nix.conf' and search for '/machines'.",
        "Unable to build with a primary store that isn't a local store; either pass a different '--store' or enable remote builds.",
      ],
      ["error: unable to start any build; either set '--max-jobs' to a non-zero value or enable remote builds.\n       https://docs.lix.systems/manual/lix/stable/advanced-topics/distributed-builds.html", "unable to start any build; either set '--max-jobs' to a non-zero value or enable remote builds."],
    ]) {
      expect(extractNixErrors(text!)).toMatchObject([{ kind: 'unsupported', message }])
      expect(unsupported(text!)).toMatchObject({ unsupported: message })
    }
  })

  it('a real failure next to one that cannot be built here is still a failed build', () => {
    const v = NIX_VARIANTS.find((x) => x.name === 'Nix 2.34+')!
    const errors = [...parse(keepGoingStream(v)).errors(), ...extractNixErrors(wrongPlatformStream(v))]
    const r = classifyFailure(errors)
    expect(r).toMatchObject({ ok: false, failed: [{ drv: DRV_B }, { drv: DRV_A }] })
  })
})
