import { describe, expect, it } from 'vitest'
import { evaluateExpectation, readJsonPath } from '../../../src/checks/expect.js'

const out = (stdout: string, exitCode: number | null = 0, stderr = '') => ({
  exitCode,
  signal: exitCode === null ? 'SIGKILL' : null,
  stdout: { text: stdout, bytes: stdout.length, truncated: false },
  stderr: { text: stderr, bytes: stderr.length, truncated: false },
})

describe('evaluateExpectation', () => {
  it('wants exit code 0 by default, or one of the listed codes', () => {
    expect(evaluateExpectation(undefined, out('', 0))).toEqual([])
    expect(evaluateExpectation(undefined, out('', 2))).toEqual(['exit code 2, expected 0'])
    expect(evaluateExpectation({ exitCode: [0, 3] }, out('', 3))).toEqual([])
    expect(evaluateExpectation({ exitCode: 1 }, out('', 0))).toEqual(['exit code 0, expected 1'])
    expect(evaluateExpectation(undefined, out('', null))).toEqual(['killed by SIGKILL'])
  })

  it('checks contains, notContains, matches and notMatches on stdout and stderr', () => {
    const o = out('active\nsshd.service running\n', 0, 'warning: x')
    expect(evaluateExpectation({ stdout: { contains: ['active', 'sshd'], matches: '^sshd\\.service' } }, o)).toEqual([])
    expect(evaluateExpectation({ stdout: { contains: 'failed' } }, o)).toEqual(['stdout does not contain "failed"'])
    expect(evaluateExpectation({ stdout: { notContains: 'sshd' } }, o)).toEqual(['stdout contains "sshd"'])
    expect(evaluateExpectation({ stdout: { matches: '^running' } }, o)).toEqual(['stdout does not match /^running/'])
    expect(evaluateExpectation({ stderr: { notMatches: 'warn\\w+' } }, o)).toEqual(['stderr matches /warn\\w+/: "warning: x"'])
  })

  it('reads stdout as JSON and checks values and lengths at paths', () => {
    const o = out(JSON.stringify({ units: [{ unit: 'a.service', active: 'failed' }], n: 1 }))
    expect(evaluateExpectation({ json: [{ path: '.units', length: 1 }, { path: '$.units[0].active', equals: 'failed' }, { path: 'n', equals: 1 }] }, o)).toEqual([])
    expect(evaluateExpectation({ json: [{ path: '.units', length: 0 }] }, o)).toEqual(['json .units has length 1, expected 0'])
    expect(evaluateExpectation({ json: [{ path: '.units[0]', equals: { unit: 'b' } }] }, o)[0]).toMatch(/^json \.units\[0\] is \{.*\}, expected \{"unit":"b"\}$/)
    expect(evaluateExpectation({ json: [{ path: '.missing', equals: 1 }] }, o)).toEqual(['json .missing: not found'])
    expect(evaluateExpectation({ json: [{ path: '.n', length: 1 }] }, o)).toEqual(['json .n has no length (it is number)'])
    expect(evaluateExpectation({ json: [{ path: '.', length: 1 }] }, out('not json'))[0]).toMatch(/^stdout is not JSON/)
  })

  it('reports every failed expectation, not just the first', () => {
    expect(evaluateExpectation({ exitCode: 0, stdout: { contains: 'x' } }, out('', 1))).toHaveLength(2)
  })

  it('readJsonPath walks objects and arrays and says when a path is missing', () => {
    expect(readJsonPath([[1, 2]], '[0][1]')).toEqual({ found: true, value: 2 })
    expect(readJsonPath({ a: null }, '.a.b')).toEqual({ found: false })
    expect(readJsonPath({ a: 1 }, '.')).toEqual({ found: true, value: { a: 1 } })
  })
})
