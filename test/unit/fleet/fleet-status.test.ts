import { describe, expect, it } from 'vitest'
import type { Host } from '../../../src/hosts/types.js'
import { SSH_FAILED } from '../../../src/machine/ssh.js'
import { MachineError } from '../../../src/machine/types.js'
import type { ConnectableMachine } from '../../../src/runner/host-plan.js'
import { probeExec } from '../../../src/runner/process.js'
import { createFleetStatus, fleetExitCode } from '../../../src/status/fleet.js'

const host = (name: string): Host => ({ name, targetHost: name, tags: [], sshOptions: [], privilege: [], inFlake: true, seenIn: ['config'], sources: {} })
const base = { exec: probeExec({ timeoutMs: 10_000 }), flake: '/nonexistent-flake', host: 'x' }

/** A connected host whose every read and program behaves as `answer` says. */
function remote(name: string, answer: () => Promise<never>): ConnectableMachine & { closed: boolean } {
  const m = {
    closed: false,
    description: `ssh ${name}`,
    live: true,
    remote: true,
    exec: answer,
    readLink: answer,
    realPath: answer,
    readFile: answer,
    readDir: answer,
    stat: answer,
    hostname: answer,
    connect: async () => ({ ok: true as const }),
    close: async () => {
      m.closed = true
    },
  }
  return m
}

describe('nbs status --on, hosts that answer badly', () => {
  it('a host that never answers is unreachable at the deadline, and the others are still reported', async () => {
    const hang = remote('stuck', () => new Promise<never>(() => {}))
    const t0 = performance.now()
    const f = await createFleetStatus({ on: '*', targets: [{ host: host('stuck'), remote: hang, target: 'ssh stuck' }], base, parallel: 10, hostname: 'here', hostDeadlineMs: 300 })
    expect(performance.now() - t0).toBeLessThan(5000)
    expect(f.hosts[0]).toMatchObject({ state: 'unreachable', reason: 'no answer within 0.3 s' })
    expect(hang.closed).toBe(true)
    expect(fleetExitCode(f)).toBe(1)
    expect(fleetExitCode(f, true)).toBe(0)
  })

  it('a connection that fails under the probes makes the host unreachable, never "not NixOS" or healthy', async () => {
    const lost = 'ssh: the connection to web1 was lost: Broken pipe'
    const broken = remote('web1', async () => {
      throw new MachineError(`/etc/NIXOS: ${lost}`, SSH_FAILED, '/etc/NIXOS')
    })
    const f = await createFleetStatus({ on: '*', targets: [{ host: host('web1'), remote: broken, target: 'ssh web1' }], base, parallel: 10, hostname: 'here' })
    expect(f.hosts[0]!.state).toBe('unreachable')
    expect(f.hosts[0]!.reason).toContain('Broken pipe')
    expect(f.overallStatus).toBe('unreachable')
  })

  it('Ctrl-C: hosts not done are interrupted', async () => {
    const controller = new AbortController()
    const hang = remote('stuck', () => new Promise<never>(() => {}))
    setTimeout(() => controller.abort('SIGINT'), 100)
    const f = await createFleetStatus({ on: '*', targets: [{ host: host('stuck'), remote: hang, target: 'ssh stuck' }], base, parallel: 10, hostname: 'here', signal: controller.signal })
    expect(f.hosts[0]!.state).toBe('interrupted')
    expect(hang.closed).toBe(true)
  })
})
