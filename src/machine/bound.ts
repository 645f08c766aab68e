import type { Exec } from '../checks/types.js'
import type { Machine } from './types.js'

/**
 * `machine` as one check sees it: every program it runs there dies with the check (timeout,
 * interruption), whether or not the probe that calls `exec` passes a signal itself.
 */
export function boundMachine(machine: Machine, signal: AbortSignal): Machine {
  const exec: Exec = (file, args, opts = {}) => machine.exec(file, args, { ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, signal]) : signal })
  return new Proxy(machine, {
    get(target, prop) {
      if (prop === 'exec') return exec
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
