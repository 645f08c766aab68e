export type { Machine, PathStat } from './types.js'
export { MachineError } from './types.js'
export { localMachine, type LocalMachineOptions } from './local.js'
export { sshMachine, sshControlDir, sshDescription, sshOptionsFor, SSH_FAILED, type SshMachine, type SshMachineOptions, type SshExec, type SshExecOptions, type ConnectResult } from './ssh.js'
