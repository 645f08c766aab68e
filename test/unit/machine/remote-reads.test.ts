/**
 * The batched read script, run by dash and bash locally (the e2e suite runs it over ssh), against
 * what Node's fs says about the same paths.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { errnoOf, parseReadOutput, readScript, type ReadReply, type ReadRequest } from '../../../src/machine/remote-reads.js'
import { parseStat } from '../../../src/machine/ssh.js'

const dir = mkdtempSync(join(tmpdir(), 'nbs-reads-'))
afterAll(() => {
  chmodSync(join(dir, 'closed'), 0o700)
  rmSync(dir, { recursive: true, force: true })
})
writeFileSync(join(dir, 'file'), 'hello\nworld\n')
writeFileSync(join(dir, 'bin'), Buffer.from([0, 1, 0xff, 0x0a, 0x0a]))
symlinkSync('file', join(dir, 'link'))
symlinkSync('nowhere', join(dir, 'dangling'))
symlinkSync('loop', join(dir, 'loop'))
symlinkSync('target\nwith newline', join(dir, 'odd-link'))
mkdirSync(join(dir, 'sub'))
for (const n of ['a b', '.hidden', 'new\nline', '*', '-x']) writeFileSync(join(dir, 'sub', n), '')
mkdirSync(join(dir, 'empty'))
mkdirSync(join(dir, 'closed'))
writeFileSync(join(dir, 'closed', 'secret'), 'x')
chmodSync(join(dir, 'closed'), 0o000)
// root may read anything: the refusal is checked as nobody then
const asRoot = process.getuid?.() === 0
if (asRoot) chmodSync(dir, 0o755)

const MISSING: ReadReply = { ok: false, code: 'ESSH', message: 'no answer' }
const ask = (shell: string, requests: ReadRequest[], asNobody = false) => {
  const boundary = 'b0und4ry'
  const r = spawnSync(shell, ['-s'], { input: readScript(requests, boundary), ...(asNobody && asRoot ? { uid: 65534, gid: 65534 } : {}) })
  return parseReadOutput(r.stdout, boundary, requests.length, MISSING)
}
const text = (r: ReadReply | undefined) => (r?.ok ? r.data.toString('utf8') : `${r?.code}`)

for (const shell of ['dash', 'bash']) {
  describe(`the read script under ${shell}`, () => {
    it('answers every request of a batch, in order, with exact bytes', () => {
      const p = (n: string) => join(dir, n)
      const replies = ask(shell, [
        { kind: 'readlink', path: p('link') },
        { kind: 'readlink', path: p('odd-link') },
        { kind: 'readlink', path: p('file') },
        { kind: 'realpath', path: p('link') },
        { kind: 'realpath', path: p('dangling') },
        { kind: 'realpath', path: p('loop') },
        { kind: 'readfile', path: p('file'), maxBytes: 1 << 20 },
        { kind: 'readfile', path: p('file'), maxBytes: 3 },
        { kind: 'readfile', path: p('bin'), maxBytes: 100 },
        { kind: 'readfile', path: p('nope'), maxBytes: 100 },
        { kind: 'readdir', path: p('sub') },
        { kind: 'readdir', path: p('empty') },
        { kind: 'readdir', path: p('file') },
        { kind: 'readdir', path: p('nope') },
        { kind: 'stat', path: p('link'), follow: true },
        { kind: 'stat', path: p('link'), follow: false },
        { kind: 'hostname' },
      ])
      expect(text(replies[0])).toBe('file')
      expect(text(replies[1])).toBe('target\nwith newline')
      expect(replies[2]).toMatchObject({ ok: false, code: 'EINVAL' }) // not a link
      expect(text(replies[3])).toBe(`${p('file')}\n`)
      expect(replies[4]).toMatchObject({ ok: false, code: 'ENOENT' })
      expect(replies[5]).toMatchObject({ ok: false, code: 'ELOOP' })
      expect(text(replies[6])).toBe('hello\nworld\n')
      expect(text(replies[7])).toBe('hel')
      expect(replies[8]).toEqual({ ok: true, data: Buffer.from([0, 1, 0xff, 0x0a, 0x0a]) })
      expect(replies[9]).toMatchObject({ ok: false, code: 'ENOENT', message: expect.stringContaining('No such file') })
      expect(text(replies[10]).split('\0').slice(0, -1).sort()).toEqual(['*', '-x', '.hidden', 'a b', 'new\nline'].sort())
      expect(text(replies[11])).toBe('')
      expect(replies[12]).toMatchObject({ ok: false, code: 'ENOTDIR' })
      expect(replies[13]).toMatchObject({ ok: false, code: 'ENOENT' })
      const follow = statSync(p('link'))
      expect(parseStat(text(replies[14]), 'x')).toEqual({ type: 'file', size: follow.size, mode: follow.mode, uid: follow.uid, gid: follow.gid, mtimeMs: follow.mtimeMs })
      const own = lstatSync(p('link'))
      expect(parseStat(text(replies[15]), 'x')).toEqual({ type: 'symlink', size: own.size, mode: own.mode, uid: own.uid, gid: own.gid, mtimeMs: own.mtimeMs })
      expect(text(replies[16]).trim()).toBe(hostname())
    })

    it('a folder it may not enter is EACCES, not missing', () => {
      const replies = ask(shell, [
        { kind: 'readdir', path: join(dir, 'closed') },
        { kind: 'readfile', path: join(dir, 'closed', 'secret'), maxBytes: 10 },
        { kind: 'stat', path: join(dir, 'closed', 'secret'), follow: true },
      ], true)
      for (const r of replies) expect(r).toMatchObject({ ok: false, code: 'EACCES' })
    })
  })
}

describe('parseReadOutput', () => {
  it('answers a request cut off by a dead session with the fallback', () => {
    const out = Buffer.from('\nB S 0\nabc\nB E 0 0\n\nB S 1\npart')
    expect(parseReadOutput(out, 'B', 3, MISSING)).toEqual([{ ok: true, data: Buffer.from('abc') }, MISSING, MISSING])
  })
})

describe('errnoOf', () => {
  it('maps the tools\' messages to errno codes', () => {
    expect(errnoOf("head: cannot open '/x' for reading: Permission denied")).toBe('EACCES')
    expect(errnoOf("stat: cannot statx '/x': No such file or directory")).toBe('ENOENT')
    expect(errnoOf('realpath: /x: Too many levels of symbolic links')).toBe('ELOOP')
    expect(errnoOf('something else')).toBe('EIO')
  })
})
