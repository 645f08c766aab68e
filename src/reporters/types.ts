import type { CheckResult, PlannedCheck, RunReport, RunStart } from '../report/types.js'

type Awaitable<T> = T | Promise<T>

/**
 * A reporter is a set of optional hooks fed by the runner's one event stream (the shape of vitest's
 * reporters). A reporter never reaches into the runner; it only renders what it is given.
 */
export interface Reporter {
  onRunStart?(run: RunStart): Awaitable<void>
  onCheckStart?(check: PlannedCheck): Awaitable<void>
  onCheckEnd?(result: CheckResult): Awaitable<void>
  onRunEnd?(report: RunReport): Awaitable<void>
}

/**
 * Where a reporter writes. Stdout sinks write through at once; file sinks buffer and are written
 * atomically (temp file + rename) when the run closes them, so a report file is never half-written.
 */
export interface ReportSink {
  /** true when writing to an interactive terminal (live redraws allowed) */
  readonly isTTY: boolean
  /** whether ANSI colour may be used */
  readonly color: boolean
  /** terminal width when isTTY */
  readonly columns: number
  write(chunk: string): void
}

export interface ReporterContext {
  sink: ReportSink
  /** the options given with the reporter (`[spec, options]` in the config), checked against the factory's `options` schema; `{}` when none */
  options: Record<string, unknown>
}

/** What a reporter needs of its output, declared on its factory (built-ins and plugins alike). */
export interface ReporterOutput {
  /** it writes only files (e.g. a textfile another program reads): NAME alone, for stdout, is refused */
  fileRequired?: boolean
  /** the file's exact mode, whatever the umask (default 0644 less the umask) */
  fileMode?: number
  /** a spec with a path, shown when the path is missing */
  example?: string
}

/** Validates a reporter's options (a zod schema fits): returns them or throws with what is wrong. */
export interface ReporterOptionsSchema {
  parse(options: unknown): Record<string, unknown>
}

/**
 * `options`: the reporter takes options and this checks them; a built-in reporter without it takes
 * none (options given to it are refused), a plugin's reporter gets them unchecked.
 */
export type ReporterFactory = ((ctx: ReporterContext) => Reporter) & { output?: ReporterOutput; options?: ReporterOptionsSchema }
