import type { Exec } from '../checks/types.js'
import { localMachine } from './local.js'
import type { Machine } from './types.js'

/** Where a library probe looks: a Machine, or (for scripts and older callers) a root on this machine. */
export interface MachineTarget {
  machine?: Machine
  /** `--root` on this machine, when no machine is given */
  root?: string
}

const filesOnly: Exec = async (file) => {
  throw new Error(`${file}: this probe was given a root, not a machine, and reads files only`)
}

/** The machine of `t`: the one given, else this machine (or its `root`) for file reads. */
export function machineOf(t: MachineTarget | Machine = {}): Machine {
  if ('exec' in t) return t
  return t.machine ?? localMachine({ root: t.root ?? '/', exec: filesOnly })
}
