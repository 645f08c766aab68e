/**
 * home-manager. It acts on $USER/$HOME, elevates nothing and has no root check: it is run as the
 * user whose home it builds. `--log-format` is accepted from release 25.05 (structured records);
 * older releases refuse it, and their output is parsed as text. It accepts only its own flags.
 */
import { checkPassthrough, type FlagList } from './passthrough.js'
import { atLeast, parseVersion, type Version } from './version.js'
import { NIX_LOG_ARGS, type ToolCommand, type ToolInput } from './types.js'

export interface HomeManagerInfo {
  /** from `home-manager --version` (`25.05-pre`); null when unreadable (treated as old: text) */
  version: Version | null
}

export const probeArgs = ['--version']
export const parseProbe = (out: string): HomeManagerInfo => ({ version: parseVersion(out) })

const FLAGS = (logFormat: boolean): FlagList => ({
  0: [
    '-v', '--verbose', '-L', '--print-build-logs', '--debug', '--keep-failed', '--keep-going', '--show-trace',
    '--substitute', '--no-substitute', '--impure', '--recreate-lock-file', '--no-update-lock-file',
    '--no-write-lock-file', '--no-registries', '--commit-lock-file', '--refresh',
  ],
  1: ['-b', '-I', '-j', '--max-jobs', '--cores', '--builders', '--update-input', '--experimental-features', '--extra-experimental-features', ...(logFormat ? ['--log-format'] : [])],
  2: ['--option', '--arg', '--argstr', '--override-input'],
})

export function homeManagerCommand(i: ToolInput, info: HomeManagerInfo): ToolCommand {
  const structured = info.version !== null && atLeast(info.version, [25, 5, 0])
  checkPassthrough('home-manager', i.extra, FLAGS(structured))
  const dry = i.action === 'dry-build'
  const ref = i.config ? `${i.flake}#${i.config}` : i.flake
  // `home-manager build --dry-run` is nix build --dry-run: a real dry run
  const args = [dry ? 'build' : i.action, '--flake', ref, ...(dry ? ['--dry-run'] : []), ...(structured ? NIX_LOG_ARGS : []), ...i.extra]
  return { tool: 'home-manager', file: 'home-manager', args, structured, env: {}, exitsZeroOnActivationFailure: false, notices: [] }
}
