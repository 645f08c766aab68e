export type { Machine, PathStat } from './types.js'
export { MachineError } from './types.js'
export { localMachine, type LocalMachineOptions } from './local.js'
