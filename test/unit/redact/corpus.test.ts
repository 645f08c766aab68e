import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
// @ts-expect-error plain ESM helper shared with bench/redact.mjs
import { changedLines, loadBenign, loadSecrets, secretCaseResult } from '../../fixtures/redact/corpus.mjs'
import { redactText, redactValue } from '../../../src/redact/engine.js'

interface SecretCase { file: string; kind: string; expect: string[]; input: string; secrets: string[] }
interface BenignFile { file: string; real: boolean; text: string; lines: number }

const secrets = loadSecrets() as SecretCase[]
const benign = loadBenign() as BenignFile[]

describe('secrets corpus (test/fixtures/redact/secrets): recall 100 %', () => {
  it('has at least 40 secret kinds', () => expect(new Set(secrets.map((c) => c.kind)).size).toBeGreaterThanOrEqual(40))
  it.each(secrets.map((c) => [c.file, c] as const))('%s: every secret byte gone, a marker of the expected kind instead', (_, c) => {
    const out = redactText(c.input).text
    const r = secretCaseResult(c, out)
    expect(r.left, out).toEqual([])
    expect(r.kinds.some((k: string) => c.expect.includes(k)), `markers ${r.kinds.join(', ')} in:\n${out}`).toBe(true)
    // idempotent: a second run changes nothing
    expect(redactText(out).text).toBe(out)
  })
})

describe('benign corpus (test/fixtures/redact/benign): precision ≥ 99.9 %', () => {
  it('is mostly real material from this machine, at least 10 000 lines', () => {
    const real = benign.filter((f) => f.real).reduce((n, f) => n + f.lines, 0)
    expect(real).toBeGreaterThanOrEqual(10_000)
  })
  it('changes at most 0.1 % of its lines', () => {
    const wrong = benign.flatMap((f) => changedLines(f.text, redactText(f.text).text).map((c: { before: string; after: string }) => `${f.file}: ${c.before} → ${c.after}`))
    const lines = benign.reduce((n, f) => n + f.lines, 0)
    expect(wrong.length / lines, wrong.join('\n')).toBeLessThanOrEqual(0.001)
  })
})

describe('the leaks and over-redactions of issue 13', () => {
  const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const body = key.split('\n').filter((l) => l && !l.startsWith('-----'))

  it('a private key in a failed unit journal tail behind sh[412]: or a journalctl prefix is gone (bundle arrays too)', () => {
    for (const prefix of ['sh[412]: ', 'Nov 30 08:00:00 host sh[412]: ', '2024-11-30T08:00:00+0000 host sh[412]: ']) {
      const lines = ['sh[412]: starting', ...key.trim().split('\n').map((l) => prefix + l)]
      const text = redactText(lines.join('\n')).text
      for (const b of body) expect(text).not.toContain(b)
      expect(text).toContain(`${prefix}[REDACTED:private-key]`)
      // the tail cut off above BEGIN, as `journalctl -n` does
      const tail = redactValue({ journal: lines.slice(2) }).value.journal.join('\n')
      for (const b of body.slice(1)) expect(tail).not.toContain(b)
    }
  })
  it('PASS: test-name stays', () => {
    for (const l of ['PASS: test-name', '--- PASS: TestPassword (0.00s)', 'XPASS: tests/x', 'PASS: password_test.go']) expect(redactText(l).text).toBe(l)
    expect(redactText('DB_PASS=hunter22').text).toBe('DB_PASS=[REDACTED:password]')
  })
  it('redis://:pw@host, psk in a Nix code frame, kubeconfig, Docker auth', () => {
    expect(redactText('redis://:s3cretpw@cache:6379/0').text).toBe('redis://[REDACTED:url-credentials]@cache:6379/0')
    expect(redactText('           12|   psk = "hunter2";').text).toBe('           12|   psk = "[REDACTED:secret]";')
    expect(redactText('    client-key-data: LS0tLS1CRUdJTg==').text).toBe('    client-key-data: [REDACTED:kubeconfig-credential]')
    const auth = Buffer.from('ci:pa55word').toString('base64')
    expect(redactText(`"auth": "${auth}"`).text).toBe('"auth": "[REDACTED:docker-auth]"')
    expect(redactValue({ auths: { 'registry.example.org': { auth } } }).value).toEqual({ auths: { 'registry.example.org': { auth: '[REDACTED:docker-auth]' } } })
  })
  it('a Nix signing secret key goes, a signature of the same shape stays', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const secret = Buffer.concat([privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(-32), publicKey.export({ type: 'spki', format: 'der' }).subarray(-32)]).toString('base64')
    expect(redactText(`cache.example.org-1:${secret}`).text).toBe('cache.example.org-1:[REDACTED:nix-signing-key]')
    const sig = `Sig: cache.example.org-1:${sign(null, Buffer.from('1;/nix/store/x'), privateKey).toString('base64')}`
    expect(redactText(sig).text).toBe(sig)
  })
})
