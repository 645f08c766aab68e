/** The pure parts of the ssh Machine; the transport itself is tested against a real sshd in test/e2e/ssh-machine.test.ts. */
import { describe, expect, it } from 'vitest'
import { controlPath, parseStat, sshDescription, sshMachine, sshOptionsFor } from '../../../src/machine/ssh.js'
import { Semaphore } from '../../../src/machine/semaphore.js'
import type { Host } from '../../../src/hosts/types.js'

describe('sshDescription', () => {
  it('names login, address and port as the machine is reached', () => {
    expect(sshDescription({ destination: '10.0.0.7', user: 'root', port: 2222 })).toBe('ssh root@10.0.0.7:2222')
    expect(sshDescription({ destination: 'deploy@web1' })).toBe('ssh deploy@web1')
    expect(sshDescription({ destination: 'deploy@web1', user: 'other' })).toBe('ssh deploy@web1') // targetHost's user wins
    expect(sshDescription({ destination: 'fe80::1', port: 22 })).toBe('ssh [fe80::1]:22')
  })
})

describe('controlPath', () => {
  it('is keyed by the inventory name, hashed short; aliases of one address differ', () => {
    const a = controlPath('/tmp/nbs-ssh-abc123', 'web1')
    expect(a).toMatch(/^\/tmp\/nbs-ssh-abc123\/[0-9a-f]{16}$/)
    expect(controlPath('/tmp/nbs-ssh-abc123', 'web1')).toBe(a)
    expect(controlPath('/tmp/nbs-ssh-abc123', 'web1-alias')).not.toBe(a)
    expect(controlPath('/tmp/x', 'a'.repeat(500)).length).toBeLessThan(40)
  })
})

describe('sshMachine options', () => {
  const base = { name: 'web1', destination: 'web1', controlDir: '/tmp/nbs-ssh-x' }
  it('refuses what ssh would misread, naming the host and the field', () => {
    expect(() => sshMachine({ ...base, destination: '-oProxyCommand=x' })).toThrow('hosts.web1: targetHost "-oProxyCommand=x" is not [user@]address')
    expect(() => sshMachine({ ...base, port: 70000 })).toThrow('hosts.web1: port 70000 is not a port number (1-65535)')
    expect(() => sshMachine({ ...base, maxSessions: 0 })).toThrow(/maxSessions/)
    expect(() => sshMachine({ ...base, controlDir: '/tmp/a b' })).toThrow(/controlDir/)
  })

  it('maps an inventory host; none without a targetHost', () => {
    const host: Host = { name: 'web1', targetHost: 'root@10.0.0.7', port: 2222, tags: [], sshOptions: ['-J', 'bastion'], privilege: ['sudo', '-n'], inFlake: true, sources: {} }
    expect(sshOptionsFor(host, '/tmp/c')).toEqual({ name: 'web1', destination: 'root@10.0.0.7', port: 2222, sshOptions: ['-J', 'bastion'], privilege: ['sudo', '-n'], controlDir: '/tmp/c' })
    expect(sshOptionsFor({ ...host, targetHost: undefined }, '/tmp/c')).toBeUndefined()
  })
})

describe('parseStat', () => {
  it('reads stat -c "%f %s %u %g %.9Y" as Node would report it', () => {
    expect(parseStat('81a4 1985 0 0 1796014742.112782349\n', '/etc/passwd')).toEqual({ type: 'file', size: 1985, mode: 0o100644, uid: 0, gid: 0, mtimeMs: 1796014742 * 1000 + 112782349 / 1e6 })
    expect(parseStat('41ed 4096 1000 100 10.5', '/d')).toMatchObject({ type: 'directory', mtimeMs: 10500 })
    expect(parseStat('a1ff 7 0 0 1', '/l')).toMatchObject({ type: 'symlink' })
    expect(() => parseStat('stat: unrecognized', '/x')).toThrow(/unexpected stat output/)
  })
})

describe('Semaphore', () => {
  it('lets at most `limit` in, in order, and drops an aborted waiter', async () => {
    const s = new Semaphore(2)
    const r1 = await s.acquire()
    const r2 = await s.acquire()
    const order: number[] = []
    const third = s.acquire().then((r) => (order.push(3), r))
    const ctl = new AbortController()
    const aborted = s.acquire(ctl.signal)
    const fifth = s.acquire().then((r) => (order.push(5), r))
    ctl.abort(new Error('stop'))
    await expect(aborted).rejects.toThrow('stop')
    expect(s.inUse).toBe(2)
    r1()
    r1() // twice is once
    ;(await third)()
    r2()
    ;(await fifth)()
    expect(order).toEqual([3, 5])
    expect(s.inUse).toBe(0)
  })
})
