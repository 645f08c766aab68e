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

/**
 * Finds literal strings in a byte stream as it passes, so `contains`/`notContains` are decided
 * on every byte a command wrote, not only on the head and tail the capture keeps.
 */
export class LiteralScanner {
  private readonly needles: Buffer[]
  private readonly found = new Set<string>()
  private carry: Buffer = Buffer.alloc(0)
  private readonly keep: number

  constructor(private readonly strings: readonly string[]) {
    this.needles = strings.map((s) => Buffer.from(s, 'utf8'))
    this.keep = Math.max(0, ...this.needles.map((n) => n.length - 1))
  }

  write(chunk: Buffer): void {
    if (this.found.size === this.strings.length) return
    // the last `keep` bytes of what came before, so a needle split across chunks is still seen
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk
    this.strings.forEach((s, i) => {
      if (!this.found.has(s) && data.includes(this.needles[i]!)) this.found.add(s)
    })
    this.carry = Buffer.from(data.subarray(Math.max(0, data.length - this.keep)))
  }

  has(s: string): boolean {
    return this.found.has(s)
  }
}

/** The literals of a matcher, for a LiteralScanner. */
export function matcherLiterals(m: TextMatcher | undefined): string[] {
  return m ? [...new Set([...list(m.contains), ...list(m.notContains)])] : []
}

/** What a stream's whole output showed, beyond the kept head and tail. */
export interface StreamSeen {
  stdout?: LiteralScanner
  stderr?: LiteralScanner
}

function matchText(stream: 'stdout' | 'stderr', m: TextMatcher, out: CapturedText, seen: LiteralScanner | undefined, undecided: string[]): string[] {
  const failures: string[] = []
  const text = out.text
  // the scanner saw every byte; without it, only the kept head and tail are known
  const has = (s: string) => (seen ? seen.has(s) : text.includes(s))
  const lost = `${stream} (${out.bytes} bytes) was truncated, the middle dropped`
  for (const s of list(m.contains)) {
    if (has(s)) continue
    if (out.truncated && !seen) undecided.push(`${lost}: cannot tell whether it contains ${quote(s)}`)
    else failures.push(`${stream} does not contain ${quote(s)}`)
  }
  for (const s of list(m.notContains)) {
    if (has(s)) failures.push(`${stream} contains ${quote(s)}`)
    else if (out.truncated && !seen) undecided.push(`${lost}: cannot tell whether it contains ${quote(s)}`)
  }
  // a regular expression cannot be decided on a stream: a match in the kept text decides, no
  // match in truncated output cannot tell (the match may have been in the dropped middle)
  if (m.matches !== undefined && !new RegExp(m.matches, 'm').test(text)) {
    if (out.truncated) undecided.push(`${lost}: cannot tell whether it matches /${m.matches}/`)
    else failures.push(`${stream} does not match /${m.matches}/`)
  }
  if (m.notMatches !== undefined) {
    const hit = new RegExp(m.notMatches, 'm').exec(text)
    if (hit) failures.push(`${stream} matches /${m.notMatches}/: ${quote(lineAt(text, hit.index))}`)
    else if (out.truncated) undecided.push(`${lost}: cannot tell whether it matches /${m.notMatches}/`)
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
export function evaluateExpectation(expect: Expectation | undefined, out: CommandOutput, seen: StreamSeen = {}): string[] {
  return judgeExpectation(expect, out, seen).failures
}

/**
 * `failures`: what does not hold. `undecided`: what truncated output cannot tell (a text
 * expectation whose answer may lie in the dropped middle); the check is then errored, never
 * passed, unless something else already failed it.
 */
export function judgeExpectation(expect: Expectation | undefined, out: CommandOutput, seen: StreamSeen = {}): { failures: string[]; undecided: string[] } {
  const allowed = expect?.exitCode === undefined ? [0] : Array.isArray(expect.exitCode) ? expect.exitCode : [expect.exitCode]
  const failures: string[] = []
  const undecided: string[] = []
  if (out.exitCode === null) failures.push(`killed by ${out.signal ?? 'a signal'}`)
  else if (!allowed.includes(out.exitCode)) failures.push(`exit code ${out.exitCode}, expected ${allowed.join(' or ')}`)
  if (expect?.stdout) failures.push(...matchText('stdout', expect.stdout, out.stdout, seen.stdout, undecided))
  if (expect?.stderr) failures.push(...matchText('stderr', expect.stderr, out.stderr, seen.stderr, undecided))
  if (expect?.json) failures.push(...matchJson(expect.json, out.stdout))
  return { failures, undecided }
}
