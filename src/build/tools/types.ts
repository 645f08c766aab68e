/**
 * What every build tool module (nh, nixos-rebuild, home-manager, nix) is given and answers: one
 * interface, one small file per tool, chosen in ./index.ts.
 */
export const TARGETS = ['os', 'home'] as const
export const ACTIONS = ['switch', 'boot', 'test', 'build', 'dry-build'] as const
/** what `--tool` accepts */
export const TOOLS = ['nh', 'nixos-rebuild', 'home-manager'] as const
export type BuildTarget = (typeof TARGETS)[number]
export type BuildAction = (typeof ACTIONS)[number]
export type BuildTool = (typeof TOOLS)[number]
/** what really runs (a dry build may be plain `nix build --dry-run`) */
export type RunningTool = BuildTool | 'nix'

/** Who runs nbs: root (sudo, a root shell, a timer) or a user. */
export interface Privilege {
  root: boolean
  /** set by sudo: the user who asked */
  sudoUser?: string
}

export interface ToolInput {
  target: BuildTarget
  action: BuildAction
  /** flake reference without a fragment */
  flake: string
  /** nixosConfigurations attribute (os) */
  host: string
  /** homeConfigurations attribute (home): the fragment, or resolved as home-manager does */
  config?: string
  /** the user's arguments after `--` */
  extra: readonly string[]
  privilege: Privilege
}

export interface ToolCommand {
  /** recorded as the build's tool */
  tool: RunningTool
  file: string
  args: string[]
  /** whether Nix was asked for internal-json (else the output is parsed as text) */
  structured: boolean
  /** environment for the tool (the user's own variables win) */
  env: Record<string, string>
  /** the tool exits 0 when activation fails (nh < 4.2): a failure seen in its output fails the build */
  exitsZeroOnActivationFailure: boolean
  /** one line each, for the user, before the build */
  notices: string[]
}

/** What nbs asks Nix for. No `-v`: nbs's display and parser use nothing it adds (see README). */
export const NIX_LOG_ARGS: readonly string[] = ['--log-format', 'internal-json']

export const isActivating = (a: BuildAction) => a === 'switch' || a === 'boot' || a === 'test'
