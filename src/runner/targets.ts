import { rmSync } from 'node:fs'
import type { Host } from '../hosts/types.js'
import { sshControlDir, sshMachine, sshOptionsFor } from '../machine/ssh.js'
import type { ConnectableMachine } from './host-plan.js'

/** How a selected host is checked: over ssh, or here (this machine, its `--root`, or not at all). */
export interface HostTarget {
  host: Host
  /** set when the host is reached over ssh */
  remote?: ConnectableMachine
  /** for reports: `ssh root@web1:2222`, `this machine`, `root /mnt` */
  target: string
}

export type RemoteFactory = (host: Host & { targetHost: string }) => ConnectableMachine

/**
 * A host with a targetHost is reached over ssh unless the config marks it local; any other host
 * is this machine's business: its machine checks run here when it is this machine and are
 * skipped otherwise (decided per check, as in single-host runs).
 */
export function hostTargets(hosts: readonly Host[], opts: { root: string; remote: RemoteFactory }): HostTarget[] {
  return hosts.map((host) => {
    if (host.targetHost && !host.local) {
      const remote = opts.remote({ ...host, targetHost: host.targetHost })
      return { host, remote, target: remote.description }
    }
    return { host, target: opts.root === '/' ? 'this machine' : `root ${opts.root}` }
  })
}

/** ssh's ConnectTimeout for the hosts of a run, in seconds. */
export const SSH_CONNECT_TIMEOUT_S = 10

/**
 * The targets of `hosts`, ssh hosts sharing one private control folder for their multiplexed
 * connections; `close` ends every connection and removes the folder.
 */
export async function openTargets(hosts: readonly Host[], opts: { root: string }): Promise<{ targets: HostTarget[]; close(): Promise<void> }> {
  const control = hosts.some((h) => h.targetHost && !h.local) ? await sshControlDir() : undefined
  // a second Ctrl-C leaves at once (process.exit): the folder of the sockets must not outlive us
  const removeNow = () => control && rmSync(control.dir, { recursive: true, force: true })
  process.on('exit', removeNow)
  const dispose = async () => {
    process.off('exit', removeNow)
    await control?.dispose()
  }
  let targets: HostTarget[]
  try {
    targets = hostTargets(hosts, {
      root: opts.root,
      remote: (h) => sshMachine({ ...sshOptionsFor(h, control!.dir)!, connectTimeoutS: SSH_CONNECT_TIMEOUT_S }),
    })
  } catch (e) {
    // a host ssh would misread (exit 3): nothing was connected, only the folder to remove
    await dispose()
    throw e
  }
  return {
    targets,
    async close() {
      await Promise.all(targets.map((t) => t.remote?.close()))
      await dispose()
    },
  }
}
