import type { z } from 'zod'
import type { CheckStatus } from '../report/types.js'
import type { Machine } from '../machine/types.js'
import type { Exec } from '../runner/process.js'

// defined next to runProcess, whose options and result they are; re-exported here for checks
export type { Exec, ExecOptions } from '../runner/process.js'

/** What a programmatic check gets. */
export interface CheckContext<Options = Record<string, unknown>> {
  /** this check's options from `nbs.config.ts`, validated by its `options` schema */
  options: Options
  flake: string
  host: string
  /** the filesystem root to read the machine's state from (`--root`, default `/`) */
  root: string
  /** the system profile the machine boots from: `system`, or `system-profiles/NAME` (config `profile`) */
  profile: string
  /** the options of the plugin this check belongs to, validated by the plugin's schema */
  pluginOptions: unknown
  /** nix.conf settings from the config (`nixOptions`), for checks that call Nix */
  nixOptions: Record<string, string>
  /** results of the checks this one needs or runs after, by id (`data` is what they returned) */
  needs: Record<string, { status: CheckStatus; message?: string; data?: unknown }>
  /** aborted on timeout or interruption; pass it on to anything long-running */
  signal: AbortSignal
  /**
   * run a program (argv, never a shell) where the check runs: on the host for a machine check of
   * a host reached over ssh, else here; output is bounded and the call dies with the check
   */
  exec: Exec
  /**
   * run a program on the machine running nbs, whatever the host: for a machine check that also
   * reads the flake's checkout (git), which lives with the deployer, not on the host
   */
  localExec: Exec
  /**
   * where this check looks: the host's machine for `runsOn: 'machine'` checks (this machine, or
   * its `--root`), the machine running nbs for `'local'` ones; read files and links through it
   */
  machine: Machine
  /** end the check as skipped: it does not apply here */
  skip(reason: string): never
  /** end the check as failed */
  fail(message: string, details?: unknown): never
}

/** What `run(ctx)` may return; returning nothing means passed. */
export interface CheckOutcome {
  status?: 'passed' | 'failed'
  message?: string
  details?: unknown
  /** handed to checks that need this one, as `ctx.needs[id].data` */
  data?: unknown
}

export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

export interface TextMatcher {
  contains?: string | string[]
  notContains?: string | string[]
  /** a JavaScript regular expression (multiline mode) */
  matches?: string
  notMatches?: string
}

export interface Expectation {
  exitCode?: number | number[]
  stdout?: TextMatcher
  stderr?: TextMatcher
  json?: { path: string; equals?: unknown; length?: number }[]
}

interface CommonCheckFields {
  id: string
  title?: string
  phase?: string
  needs?: string[]
  /** wait for these when they are part of the run, but run whatever their result */
  after?: string[]
  timeout?: Duration
  retries?: number
  retryDelay?: Duration
  severity?: 'error' | 'warning'
  tags?: string[]
  /**
   * `'local'`: about the flake, runs on the machine running nbs (default for pre-build and build);
   * `'machine'`: about the host, runs there (default for post-build, health and custom phases)
   */
  runsOn?: 'local' | 'machine'
  /** runs only when enabled in the config or selected with --only (e.g. a full system build) */
  optIn?: boolean
}

export interface CommandCheck extends CommonCheckFields {
  command: string[]
  expect?: Expectation
  env?: Record<string, string>
  cwd?: string
  run?: never
  options?: never
}

export interface RunCheck<S extends z.ZodType = z.ZodType> extends CommonCheckFields {
  options?: S
  run(ctx: CheckContext<z.output<S>>): CheckOutcome | void | Promise<CheckOutcome | void>
  command?: never
}

export type CheckDefinition<S extends z.ZodType = z.ZodType> = CommandCheck | RunCheck<S>
