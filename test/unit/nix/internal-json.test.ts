import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { extractNixErrors } from '../../../src/nix/errors.js'
import { classifyMessage, parseNixLine, renderNixLog, splitNixLog, stripAnsi } from '../../../src/nix/internal-json.js'
import { NIX28 } from './captures-nix28.js'
import { BuildLogParser } from '../../../src/nix/build-log.js'
import { parseDryRun } from '../../../src/nix/dry-build.js'

describe('parseNixLine', () => {
  it('keeps ids and parents as exact strings beyond 2^53', () => {
    const r = parseNixLine(
      '@nix {"action":"start","fields":["/nix/store/k46-build-fail.drv","",1,1],"id":17752014662402062,"level":3,"parent":17752014662402061,"text":"building \'/nix/store/k46-build-fail.drv\'","type":105}',
    )
    expect(r).toEqual({
      action: 'start',
      fields: ['/nix/store/k46-build-fail.drv', '', 1, 1],
      id: '17752014662402062',
      level: 3,
      parent: '17752014662402061',
      text: "building '/nix/store/k46-build-fail.drv'",
      type: 105,
    })
    expect(parseNixLine('@nix {"action":"stop","id":5415953760423}')?.id).toBe('5415953760423')
  })

  it('leaves "id": text inside strings alone', () => {
    const r = parseNixLine('@nix {"action":"msg","level":3,"msg":"{\\"id\\":12345678901234567890,\\"parent\\":1}"}')
    expect(r?.msg).toBe('{"id":12345678901234567890,"parent":1}')
    expect(r?.id).toBeUndefined()
  })

  it('decodes error msg records with position fields (real Nix 2.8)', () => {
    const line = NIX28.undefinedVariableJson.split('\n').find((l) => l.includes('"msg"'))!
    const r = parseNixLine(line)
    expect(r).toMatchObject({ action: 'msg', level: 0, line: 10, column: 16 })
    expect(r?.file).toMatch(/^\/nix\/store\/[a-z0-9]{32}-source\/flake\.nix$/)
    expect(stripAnsi(r?.raw_msg ?? '')).toBe("undefined variable 'undefinedPackage'")
  })

  it('tolerates unknown actions, types, extra keys and missing fields', () => {
    expect(parseNixLine('@nix {"action":"result","id":1,"type":110,"payload":{"status":"Built"}}')).toMatchObject({
      action: 'result',
      type: 110,
      payload: { status: 'Built' },
    })
    expect(parseNixLine('@nix {"action":"start","id":2,"type":113}')).toEqual({ action: 'start', id: '2', type: 113 })
    expect(parseNixLine('@nix {"action":"frobnicate"}')).toEqual({ action: 'frobnicate' })
    expect(parseNixLine('@nix {"action":"setPhase","phase":"buildPhase"}\r')?.phase).toBe('buildPhase')
  })

  it('accepts the <N> syslog priority Nix <= 2.26 puts before records in a systemd service (IN_SYSTEMD=1)', () => {
    expect(parseNixLine('<3>@nix {"action":"msg","level":3,"msg":"these 2 derivations will be built:"}')).toMatchObject({ action: 'msg', msg: 'these 2 derivations will be built:' })
    expect(parseNixLine('<8>@nix {"action":"msg"}')).toBeUndefined()
    const plan = parseDryRun('<3>@nix {"action":"msg","level":3,"msg":"this derivation will be built:"}\n<3>@nix {"action":"msg","level":3,"msg":"  /nix/store/a-x.drv"}')
    expect(plan.toBuild).toEqual({ count: 1, paths: ['/nix/store/a-x.drv'] })
    const parser = new BuildLogParser()
    parser.write(Buffer.from('<3>@nix {"action":"msg","column":null,"file":null,"level":0,"line":null,"msg":"error: builder for \'/nix/store/a-x.drv\' failed with exit code 2"}\n'))
    parser.end()
    expect(parser.errors()).toMatchObject([{ drv: '/nix/store/a-x.drv', exitCode: 2 }])
  })

  it('rejects what is not a record', () => {
    for (const line of ['', 'error: foo', '@nix ', '@nix {"action":', '@nix []', '@nix {"level":0}', 'x @nix {"action":"msg"}']) {
      expect(parseNixLine(line), line).toBeUndefined()
    }
  })
})

describe('classifyMessage', () => {
  it('classifies by the ANSI-stripped prefix, not the level', () => {
    expect(classifyMessage('\u001b[31;1merror:\u001b[0m undefined variable')).toBe('error')
    expect(classifyMessage('trace: tracing a')).toBe('trace')
    expect(classifyMessage('trace: warning: services.foo is deprecated')).toBe('trace')
    expect(classifyMessage("\u001b[35;1mwarning:\u001b[0m Git tree '/etc/nixos' is dirty")).toBe('warning')
    expect(classifyMessage('evaluation warning: foo')).toBe('warning')
    expect(classifyMessage('this derivation will be built:')).toBe('info')
    expect(classifyMessage("(use '--show-trace' to show detailed location information)")).toBe('info')
  })
})

describe('splitNixLog / renderNixLog', () => {
  it('keeps plain lines from wrappers between records, in order', () => {
    const log = [
      '> Building NixOS configuration',
      '@nix {"action":"msg","level":0,"msg":"trace: hello"}',
      '@nix {"action":"start","id":1,"level":0,"type":102,"text":""}',
      'sudo password:',
      '@nix {"action":"msg","level":0,"msg":"\\u001b[31;1merror:\\u001b[0m boom"}',
    ].join('\n')
    const chunks = splitNixLog(log)
    expect(chunks.map((c) => c.kind)).toEqual(['text', 'record', 'record', 'text', 'record'])
    expect(renderNixLog(log)).toBe('> Building NixOS configuration\ntrace: hello\nsudo password:\nerror: boom')
  })

  it('renders a real internal-json stream like the plain one', () => {
    expect(renderNixLog(NIX28.coerceTraceJson)).toBe(NIX28.coerceTracePlain.trimEnd())
    expect(renderNixLog(NIX28.undefinedVariableJson)).toBe(NIX28.undefinedVariablePlain.trimEnd())
  })
})

describe('properties', () => {
  it('any 64-bit id survives exactly, whatever the message text', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.string(), (id, msg) => {
        const line = `@nix {"action":"msg","id":${id},"level":0,"msg":${JSON.stringify(msg)},"parent":${id}}`
        const r = parseNixLine(line)
        expect(r).toEqual({ action: 'msg', id: String(id), level: 0, msg, parent: String(id) })
      }),
    )
  })

  it('extractNixErrors never throws and always yields a message', () => {
    const piece = fc.constantFrom('error:', 'error: x', '       … while y', '         at /a.nix:1:2:', '   1| x', '     | ^', '', 'trace: t',
      "Failed assertions:", '- a', 'Reason: builder failed with exit code 1.', "builder for '/nix/store/a.drv' failed with exit code 2", '       > log', '       last 1 log lines:')
    fc.assert(
      fc.property(fc.array(fc.oneof(piece, fc.string()), { maxLength: 30 }), (parts) => {
        for (const e of extractNixErrors(parts.join('\n'))) expect(typeof e.message).toBe('string')
      }),
    )
  })
})
