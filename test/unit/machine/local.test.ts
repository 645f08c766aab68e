import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { localMachine } from '../../../src/machine/local.js'
import { runProcess } from '../../../src/runner/process.js'

const dir = mkdtempSync(join(tmpdir(), 'nbs-machine-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the local Machine', () => {
  it('under a root: absolute links restart at the root, missing is null, the host name is the root\'s', async () => {
    const root = join(dir, 'root')
    mkdirSync(join(root, 'etc/static'), { recursive: true })
    writeFileSync(join(root, 'etc/static/hostname'), 'image\n')
    symlinkSync('/etc/static/hostname', join(root, 'etc/hostname')) // as NixOS links /etc files
    const m = localMachine({ root, exec: runProcess })
    expect(m.live).toBe(false)
    expect(m.description).toBe(`root ${root}`)
    expect(await m.readLink('/etc/hostname')).toBe('/etc/static/hostname')
    expect(await m.realPath('/etc/hostname')).toBe('/etc/static/hostname')
    expect(await m.readFile('/etc/hostname')).toBe('image\n')
    expect(await m.hostname()).toBe('image')
    expect(await m.stat('/etc/hostname', { follow: false })).toMatchObject({ type: 'symlink' })
    expect(await m.stat('/etc/hostname')).toMatchObject({ type: 'file', size: 6 })
    expect(await m.readDir('/etc')).toEqual(expect.arrayContaining(['hostname', 'static']))
    for (const missing of [m.readFile('/nope'), m.readDir('/nope'), m.readLink('/nope'), m.realPath('/nope'), m.stat('/nope')]) expect(await missing).toBeNull()
    expect(m.hostPath?.('/etc')).toBe(join(root, 'etc'))
  })

  it('live: reads files stat calls empty (/proc) to the end, within maxBytes', async () => {
    const m = localMachine({ exec: runProcess })
    expect(m.live).toBe(true)
    expect(m.hostPath).toBeUndefined()
    const status = await m.readFile('/proc/self/status')
    expect(status).toMatch(/^Name:\t/)
    expect(status!.length).toBeGreaterThan(200)
    expect(await m.readFile('/proc/self/status', { maxBytes: 5 })).toBe('Name:')
  })
})
