/**
 * nixos-rebuild: nixos-rebuild-ng (current NixOS) or the removed bash script. Run as the user it
 * gets its sudo flag for switch/boot/test (`--sudo` when its --help lists it, else the bash
 * script's `--use-remote-sudo`); as root none. It accepts only its own flags: the user's extra
 * arguments are checked against them before anything starts. No `-v`: -ng turns it into its own
 * debug log with Python tracebacks, bash echoes every command; nbs needs neither.
 */
import { checkPassthrough, type FlagList } from './passthrough.js'
import { NIX_LOG_ARGS, isActivating, type ToolCommand, type ToolInput } from './types.js'

export interface NixosRebuildInfo {
  /** how this nixos-rebuild elevates activation */
  sudoFlag: '--sudo' | '--use-remote-sudo'
}

/** -ng and bash show their man page for --help (MANPAGER=cat makes it plain text) */
export const probeArgs = ['--help']
export const probeEnv = { MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '200' }
export const parseProbe = (out: string): NixosRebuildInfo => ({ sudoFlag: /(^|[^-\w])--sudo\b/m.test(out) ? '--sudo' : '--use-remote-sudo' })

/** what both nixos-rebuild-ng and the bash script accept and pass on to Nix (or use themselves) */
export const FLAGS: FlagList = {
  0: [
    '-v', '--verbose', '-k', '--keep-going', '-K', '--keep-failed', '--fallback', '--repair', '-L', '--print-build-logs',
    '--show-trace', '--refresh', '--impure', '--offline', '--recreate-lock-file', '--no-update-lock-file',
    '--no-write-lock-file', '--no-registries', '--commit-lock-file', '-Q', '--no-build-output', '--install-bootloader',
  ],
  1: ['-j', '--max-jobs', '--cores', '--builders', '-I', '--update-input', '-p', '--profile-name', '--specialisation'],
  2: ['--option', '--override-input'],
}

export function nixosRebuildCommand(i: ToolInput, info: NixosRebuildInfo | null): ToolCommand {
  checkPassthrough('nixos-rebuild', i.extra, FLAGS)
  const sudo = !i.privilege.root && isActivating(i.action) ? [info?.sudoFlag ?? '--sudo'] : []
  return {
    tool: 'nixos-rebuild',
    file: 'nixos-rebuild',
    args: [i.action, '--flake', `${i.flake}#${i.host}`, ...sudo, ...NIX_LOG_ARGS, ...i.extra],
    structured: true,
    env: {},
    exitsZeroOnActivationFailure: false,
    notices: [],
  }
}
