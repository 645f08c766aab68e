import { isDeepStrictEqual } from 'node:util'
import type { CapturedText } from '../report/types.js'
import type { Expectation, TextMatcher } from './types.js'

/** What the declarative form saw of its command. */
export interface CommandOutput {
  exitCode: number | null
  signal: string | null
  stdout: CapturedText
  stderr: CapturedText
}

const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v])
const quote = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s)

function matchText(stream: 'stdout' | 'stderr', m: TextMatcher, out: CapturedText): string[] {
  const failures: string[] = []
  const text = out.text
  for (const s of list(m.contains)) if (!text.includes(s)) failures.push(`${stream} does not contain ${quote(s)}`)
  for (const s of list(m.notContains)) if (text.includes(s)) failures.push(`${stream} contains ${quote(s)}`)
  if (m.matches !== undefined && !new RegExp(m.matches, 'm').test(text)) failures.push(`${stream} does not match /${m.matches}/`)
  if (m.notMatches !== undefined) {
    const hit = new RegExp(m.notMatches, 'm').exec(text)
    if (hit) failures.push(`${stream} matches /${m.notMatches}/: ${quote(lineAt(text, hit.index))}`)
  }
  return failures
}

function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index - 1) + 1
  const end = text.indexOf('\n', index)
  return text.slice(start, end < 0 ? undefined : end)
}

/** `.a.b[0]`, `$.a.b[0]`, `a.b.0` and `.` (the whole value). */
export function readJsonPath(value: unknown, path: string): { found: boolean; value?: unknown } {
  const keys = path
    .replace(/^\$/, '')
    .split(/\.|\[(\d+)\]/)
    .filter((k) => k !== undefined && k !== '')
  let current = value
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return { found: false }
    if (Array.isArray(current)) {
      const i = Number(key)
      if (!Number.isInteger(i) || i < 0 || i >= current.length) return { found: false }
      current = current[i]
    } else {
      if (!Object.hasOwn(current, key)) return { found: false }
      current = (current as Record<string, unknown>)[key]
    }
  }
  return { found: true, value: current }
}

function matchJson(assertions: NonNullable<Expectation['json']>, out: CapturedText): string[] {
  if (out.truncated) return [`stdout (${out.bytes} bytes) was too large to keep whole, so it cannot be read as JSON`]
  let doc: unknown
  try {
    doc = JSON.parse(out.text)
  } catch (e) {
    return [`stdout is not JSON: ${(e as Error).message}`]
  }
  const failures: string[] = []
  for (const a of assertions) {
    const { found, value } = readJsonPath(doc, a.path)
    if (!found) {
      failures.push(`json ${a.path}: not found`)
      continue
    }
    if ('equals' in a && a.equals !== undefined && !isDeepStrictEqual(value, a.equals)) {
      failures.push(`json ${a.path} is ${JSON.stringify(value)}, expected ${JSON.stringify(a.equals)}`)
    }
    if (a.length !== undefined) {
      const length = Array.isArray(value) || typeof value === 'string' ? value.length : undefined
      if (length === undefined) failures.push(`json ${a.path} has no length (it is ${value === null ? 'null' : typeof value})`)
      else if (length !== a.length) failures.push(`json ${a.path} has length ${length}, expected ${a.length}`)
    }
  }
  return failures
}

/** Every expectation that does not hold, as a message; empty when the command passed. */
export function evaluateExpectation(expect: Expectation | undefined, out: CommandOutput): string[] {
  const allowed = expect?.exitCode === undefined ? [0] : Array.isArray(expect.exitCode) ? expect.exitCode : [expect.exitCode]
  const failures: string[] = []
  if (out.exitCode === null) failures.push(`killed by ${out.signal ?? 'a signal'}`)
  else if (!allowed.includes(out.exitCode)) failures.push(`exit code ${out.exitCode}, expected ${allowed.join(' or ')}`)
  if (expect?.stdout) failures.push(...matchText('stdout', expect.stdout, out.stdout))
  if (expect?.stderr) failures.push(...matchText('stderr', expect.stderr, out.stderr))
  if (expect?.json) failures.push(...matchJson(expect.json, out.stdout))
  return failures
}
