import { describe, expect, it } from 'vitest'
import { extractNixErrors } from '../../../src/nix/errors.js'
import { parseNixLine, type NixRecord } from '../../../src/nix/internal-json.js'
import { NIX28 } from './captures-nix28.js'

const lines = (...l: string[]) => l.join('\n')
const STORE_SOURCE = /^\/nix\/store\/[a-z0-9]{32}-source\/flake\.nix$/

describe('extractNixErrors: evaluation errors (reference/nix.md §5.1)', () => {
  it('Nix ≥ 2.13: traces first, the message last with its own position and frame', () => {
    const text = lines(
      'error:',
      "       … while evaluating the attribute 'body'",
      '         at /nix/store/…-source/hosts/foo.nix:1:1:',
      '            1| let {',
      '             | ^',
      '            2|   x =',
      '',
      "       … while calling 'x'",
      '         at /nix/store/…-source/hosts/foo.nix:3:5:',
      '            3|     arg:',
      '             |     ^',
      '',
      "       (stack trace truncated; use '--show-trace' to show the full, detailed trace)",
      '',
      `       error: string '"x"' is not equal to string '"y"'`,
      '       at /nix/store/…-source/hosts/foo.nix:7:15:',
      '            7| attrs.puppy.${key}',
      '             |               ^',
      '       Did you mean one of x or z?',
    )
    expect(extractNixErrors(text)).toEqual([
      {
        kind: 'eval',
        message: `string '"x"' is not equal to string '"y"'`,
        file: '/nix/store/…-source/hosts/foo.nix',
        line: 7,
        column: 15,
        codeFrame: '7| attrs.puppy.${key}\n |               ^',
        traces: [
          "while evaluating the attribute 'body' at /nix/store/…-source/hosts/foo.nix:1:1",
          "while calling 'x' at /nix/store/…-source/hosts/foo.nix:3:5",
        ],
        raw: text,
      },
    ])
  })

  it('Nix 2.4–2.12: message first, then `at` and the frame; the show-trace hint is not an error', () => {
    const text = lines(
      "error: undefined variable 'foo'",
      '',
      '       at /nix/store/…-source/configuration.nix:12:5:',
      '',
      '           11|   environment.systemPackages = [',
      '           12|     foo',
      '             |     ^',
      '           13|   ];',
      "(use '--show-trace' to show detailed location information)",
    )
    const [e, ...rest] = extractNixErrors(text)
    expect(rest).toEqual([])
    expect(e).toMatchObject({ kind: 'eval', message: "undefined variable 'foo'", line: 12, column: 5 })
    expect(e?.codeFrame).toBe('11|   environment.systemPackages = [\n12|     foo\n  |     ^\n13|   ];')
    expect(e?.traces).toBeUndefined()
  })

  it('Nix ≤ 2.3: one line with the position appended', () => {
    expect(extractNixErrors("error: undefined variable 'foo' at /path/file.nix:12:5")).toEqual([
      { kind: 'eval', message: "undefined variable 'foo'", file: '/path/file.nix', line: 12, column: 5, raw: "error: undefined variable 'foo' at /path/file.nix:12:5" },
    ])
  })

  it('real Nix 2.8, plain and internal-json: undefined variable at the fixture line 10, column 16', () => {
    for (const input of [NIX28.undefinedVariablePlain, NIX28.undefinedVariableJson]) {
      const [e, ...rest] = extractNixErrors(input)
      expect(rest).toEqual([])
      expect(e).toMatchObject({ kind: 'eval', message: "undefined variable 'undefinedPackage'", line: 10, column: 16 })
      expect(e?.file).toMatch(STORE_SOURCE)
      expect(e?.codeFrame).toBe(
        ' 9|       args = [ "-c" "echo > $out" ];\n10|       PATH = [ undefinedPackage ];\n  |                ^\n11|     };',
      )
    }
  })

  it('real Nix 2.8: a trace: line is not an error; --show-trace frames come after the message', () => {
    for (const input of [NIX28.coerceTracePlain, NIX28.coerceTraceJson]) {
      const errors = extractNixErrors(input)
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({ kind: 'eval', message: 'cannot coerce an integer to a string', line: 3, column: 47 })
    }
    for (const input of [NIX28.coerceTraceShowTracePlain, NIX28.coerceTraceShowTraceJson]) {
      const [e] = extractNixErrors(input)
      expect(e).toMatchObject({ message: 'cannot coerce an integer to a string', line: 3, column: 47 })
      expect(e?.traces?.map((t) => t.replace(/\/nix\/store\/\S+flake\.nix/, 'F'))).toEqual([
        "while evaluating 'f' at F:3:9",
        'from call site at F:7:13',
        "while evaluating the attribute 'foo' of the derivation 't' at F:6:7",
      ])
    }
  })
})

describe('extractNixErrors: NixOS module errors', () => {
  it('failed assertions: the message is the first assertion (real Nix 2.8, both formats)', () => {
    for (const input of [NIX28.failedAssertionPlain, NIX28.failedAssertionJson]) {
      expect(extractNixErrors(input)).toMatchObject([
        { kind: 'assertion', message: 'The ‘fileSystems’ option does not specify your root file system.' },
      ])
    }
  })

  it('failed assertions behind ≥ 2.13 traces', () => {
    const text = lines(
      'error:',
      "       … while calling the 'throw' builtin",
      '         at /nix/store/…-source/nixos/modules/system/activation/top-level.nix:55:7:',
      '           54|     if failedAssertions != []',
      '           55|     then throw "\\nFailed assertions:\\n${concatStringsSep "\\n" (map (x: "- ${x}") failedAssertions)}"',
      '             |       ^',
      '',
      '       error:',
      '       Failed assertions:',
      '       - users.users.alice.group is unset.',
      '       - second one',
    )
    const [e] = extractNixErrors(text)
    expect(e).toMatchObject({ kind: 'assertion', message: 'users.users.alice.group is unset.' })
    expect(e?.traces).toHaveLength(1)
  })

  it('missing option: the option, and the file that defines it (real Nix 2.8 and the reference text)', () => {
    for (const input of [NIX28.missingOptionPlain, NIX28.missingOptionJson]) {
      expect(extractNixErrors(input)).toMatchObject([
        { kind: 'missing-option', message: "The option `services.nbs-demo.enable' does not exist.", file: '/etc/nixos/configuration.nix' },
      ])
    }
    const text = lines(
      "error: The option `services.foo.bar' does not exist. Definition values:",
      "       - In `/nix/store/…-source/configuration.nix': true",
      '       Did you mean `services.foo.baz\'?',
    )
    const [e] = extractNixErrors(text)
    expect(e).toMatchObject({ kind: 'missing-option', message: "The option `services.foo.bar' does not exist." })
    expect(e?.file).toBe('/nix/store/…-source/configuration.nix')
    expect(e?.line).toBeUndefined()
  })
})

describe('extractNixErrors: build failures (reference/nix.md §5.2)', () => {
  const DRV = '/nix/store/hwvs9lqyrcc9d7rpd1dx8fq5sy4a1frz-nixos-system-demo-build-fail.drv'

  it('Nix ≤ 2.28 builder failure with its log tail (real Nix 2.8 plain)', () => {
    expect(extractNixErrors(NIX28.buildFailPlain)).toMatchObject([
      {
        kind: 'build',
        message: `builder for '${DRV}' failed with exit code 3`,
        drv: DRV,
        exitCode: 3,
        reason: 'builder failed with exit code 3',
        logTail: ['nbs-fixture: configuring', 'nbs-fixture: compiling', 'nbs-fixture: something went wrong'],
      },
    ])
  })

  it('Nix ≤ 2.28 builder failure in internal-json (no log tail there)', () => {
    const [e, ...rest] = extractNixErrors(NIX28.buildFailJson)
    expect(rest).toEqual([])
    expect(e).toMatchObject({ kind: 'build', drv: DRV, exitCode: 3, message: `builder for '${DRV}' failed with exit code 3` })
    expect(e?.logTail).toBeUndefined()
  })

  it('Nix ≤ 2.28 dependency failure follows the builder failure (real Nix 2.8, both formats)', () => {
    for (const input of [NIX28.dependencyPlain, NIX28.dependencyJson]) {
      const errors = extractNixErrors(input)
      expect(errors.map((e) => [e.kind, e.exitCode, e.reason])).toEqual([
        ['build', 2, 'builder failed with exit code 2'],
        ['dependency', undefined, '1 dependency failed'],
      ])
      expect(errors[1]?.drv).toMatch(/-nixos-system-dep\.drv$/)
    }
  })

  it('Nix ≥ 2.29: Cannot build … Reason: builder failed', () => {
    const text = lines(
      "error: Cannot build '/nix/store/7fl-x.drv'.",
      '       Reason: builder failed with exit code 1.',
      '       Output paths:',
      '         /nix/store/q8l-x',
      '       Last 25 log lines:',
      '       > make: *** [Makefile:3: all] Error 1',
      '       For full logs, run:',
      '         nix log /nix/store/7fl-x.drv',
    )
    expect(extractNixErrors(text)).toEqual([
      {
        kind: 'build',
        message: "Cannot build '/nix/store/7fl-x.drv'.",
        drv: '/nix/store/7fl-x.drv',
        reason: 'builder failed with exit code 1',
        exitCode: 1,
        logTail: ['make: *** [Makefile:3: all] Error 1'],
        raw: text,
      },
    ])
  })

  it('Nix ≥ 2.29: Reason: N dependencies failed', () => {
    const text = "error: Cannot build '/nix/store/abc-nixos-system-x.drv'.\n       Reason: 1 dependency failed.\n       Output paths:\n         /nix/store/def-nixos-system-x"
    expect(extractNixErrors(text)).toMatchObject([{ kind: 'dependency', drv: '/nix/store/abc-nixos-system-x.drv', reason: '1 dependency failed' }])
    expect(extractNixErrors(text.replace('1 dependency', '2 dependencies'))[0]?.reason).toBe('2 dependencies failed')
  })

  it('internal-json msg records from Nix ≤ 2.28 and 2.34', () => {
    const old = parseNixLine(
      '@nix {"action":"msg","column":null,"file":null,"level":0,"line":null,"msg":"\\u001b[31;1merror:\\u001b[0m builder for \'\\u001b[35;1m/nix/store/k46-build-fail.drv\\u001b[0m\' failed with exit code 1","raw_msg":"builder for \'/nix/store/k46-build-fail.drv\' failed with exit code 1"}',
    )
    const recent = parseNixLine(
      '@nix {"action":"msg","column":null,"file":null,"level":0,"line":null,"msg":"\\u001b[31;1merror:\\u001b[0m Cannot build \'\\u001b[35;1m/nix/store/7fl-nfb-fail.drv\\u001b[0m\'.\\n       Reason: \\u001b[31;1mbuilder failed with exit code 1\\u001b[0m.\\n       Output paths:\\n         \\u001b[35;1m/nix/store/q8l-nfb-fail\\u001b[0m","raw_msg":"Cannot build \'..."}',
    )
    const errors = extractNixErrors([old, recent] as NixRecord[])
    expect(errors.map((e) => [e.kind, e.drv, e.exitCode])).toEqual([
      ['build', '/nix/store/k46-build-fail.drv', 1],
      ['build', '/nix/store/7fl-nfb-fail.drv', 1],
    ])
    expect(errors[0]?.file).toBeUndefined()
  })

  it('signals, hash mismatches and -k summaries', () => {
    expect(extractNixErrors("error: builder for '/nix/store/a-x.drv' failed due to signal 9 (Killed)")).toMatchObject([
      { kind: 'build', drv: '/nix/store/a-x.drv', reason: 'builder failed due to signal 9 (Killed)' },
    ])
    for (const input of [NIX28.hashMismatchPlain, NIX28.hashMismatchJson]) {
      expect(extractNixErrors(input)).toMatchObject([
        {
          kind: 'hash-mismatch',
          drv: '/nix/store/nw4770nhkkni2jmsksijiggky9g76v80-fod.drv',
          reason: 'specified sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=, got sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=',
        },
      ])
    }
    expect(extractNixErrors("error: build of '/nix/store/a-x.drv', '/nix/store/b-y.drv' failed")).toMatchObject([
      { kind: 'build', drv: '/nix/store/a-x.drv' },
    ])
  })

  it('other errors, and no errors at all', () => {
    expect(extractNixErrors("error: getting status of '/nonexistent': No such file or directory")).toMatchObject([
      { kind: 'other', message: "getting status of '/nonexistent': No such file or directory" },
    ])
    expect(extractNixErrors("trace: warning: foo\nwarning: Git tree '/etc/nixos' is dirty\nbuilding '/nix/store/a.drv'...")).toEqual([])
    expect(extractNixErrors([])).toEqual([])
  })
})
