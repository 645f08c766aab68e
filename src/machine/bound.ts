import type { Exec } from '../checks/types.js'
import { SSH_FAILED } from './ssh.js'
import { MachineError, type Machine } from './types.js'

const READS = new Set(['readLink', 'realPath', 'readFile', 'readDir', 'stat', 'hostname'])

/**
 * `machine` as one check (or one status probe) sees it: every program it runs there dies with
 * `signal` (timeout, interruption), whether or not the probe that calls `exec` passes one itself.
 * `onTransportFailure` hears when the transport itself failed (an ssh session that never ran, a
 * connection lost), which a probe would otherwise turn into "cannot read" or "not running" and a
 * skip: the caller makes that an error instead.
 */
export function boundMachine(machine: Machine, signal: AbortSignal, onTransportFailure?: (reason: string) => void): Machine {
  const exec: Exec = async (file, args, opts = {}) => {
    const res = await machine.exec(file, args, { ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, signal]) : signal })
    // ssh's own failures start with "ssh" (its line, a lost connection, the login shell refusing);
    // a missing working folder or a bad env name are the check's own errors
    if (res.error !== undefined && res.exitCode === null && /^ssh\b/.test(res.error) && !res.timedOut && !res.aborted && !signal.aborted) onTransportFailure?.(res.error)
    return res
  }
  return new Proxy(machine, {
    get(target, prop) {
      if (prop === 'exec') return exec
      const value: unknown = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      if (!onTransportFailure || typeof prop !== 'string' || !READS.has(prop)) return value.bind(target)
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        } catch (e) {
          if (e instanceof MachineError && e.code === SSH_FAILED) onTransportFailure(e.message)
          throw e
        }
      }
    },
  })
}
