import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ISOLATED_CONFIG, jsonCheck, makeProject, nbs } from '../helpers/project.js'

// Secrets are made at run time (a fresh key, a random password): none sits in this file.
const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----'))
const password = randomBytes(12).toString('hex')
const token = `gh${'p_'}${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`

// a failed unit's journal tail, as a check would print it: every line behind `sh[412]: `
const journal = [`sh[412]: + install -m600 /dev/stdin /root/.ssh/id_ed25519`, ...key.trim().split('\n').map((l) => `sh[412]: ${l}`), `sh[412]: DB_PASSWORD=${password}`].join('\n')

const cleanups: (() => void)[] = []
afterEach(() => cleanups.splice(0).forEach((c) => c()))

function leakyProject() {
  const p = makeProject({
    'nbs.config.json': ISOLATED_CONFIG,
    'journal.txt': `${journal}\n`,
    'out/.keep': '',
    // a command check whose output (stdout) holds the key and the password, and fails
    'checks/unit.check.json': jsonCheck({ id: 'unit-journal', command: ['cat', 'journal.txt'], expect: { stdout: { contains: 'active (running)' } } }),
    // a programmatic check whose message and details hold the password and a token
    'checks/api.check.mjs': `export default { id: 'api', run: () => ({ status: 'failed', message: 'login failed for postgresql://app:${password}@db.internal/app', details: { token: '${token}', tried: ['password=${password}'] } }) }\n`,
  })
  cleanups.push(p.cleanup)
  return p.dir
}

const REPORTS = ['junit:out/report.xml', 'tap:out/report.tap', 'json:out/report.json']
const read = (dir: string) => ['report.xml', 'report.tap', 'report.json'].map((f) => [f, readFileSync(join(dir, 'out', f), 'utf8')] as const)

describe('nbs check: reports carry no secrets', () => {
  it('JUnit, TAP and JSON files hold [REDACTED:…] markers instead of the private key, the password and the token', async () => {
    const dir = leakyProject()
    const r = await nbs(['check', ...REPORTS.flatMap((s) => ['--reporter', s])], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    for (const [file, text] of read(dir)) {
      for (const line of keyBody) expect(text, `${file} holds a line of the private key`).not.toContain(line)
      expect(text, `${file} holds the password`).not.toContain(password)
      expect(text, `${file} holds the token`).not.toContain(token)
      expect(text, file).toContain('[REDACTED:private-key]')
      // the journal prefix and the key name survive, so the report still says what happened
      expect(text, file).toContain('DB_PASSWORD=[REDACTED:password]')
    }
    // the terminal (pretty on stdout) shows no secret either
    expect(r.stdout).not.toContain(password)
  })

  it('--no-redact keeps them (an explicit opt-out)', async () => {
    const dir = leakyProject()
    const r = await nbs(['check', '--no-redact', ...REPORTS.flatMap((s) => ['--reporter', s])], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    for (const [file, text] of read(dir)) {
      expect(text, file).toContain(password)
      expect(text, file).toContain(keyBody[0])
      expect(text, file).not.toContain('[REDACTED:')
    }
  })

  it('config `redact: false` keeps them too; --no-redact is not needed', async () => {
    const dir = leakyProject()
    const { writeFileSync } = await import('node:fs')
    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ builtins: false, redact: false }))
    const r = await nbs(['check', '--reporter', 'json:out/report.json'], { cwd: dir })
    expect(r.exitCode, r.stderr).toBe(1)
    expect(readFileSync(join(dir, 'out/report.json'), 'utf8')).toContain(password)
  })
})
