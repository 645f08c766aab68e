/**
 * Flag values as the user typed them, and the checks several commands share. The argument parser
 * turns `--host 42` into a number and `--on ''` into 0: names and paths stay text here.
 */
import { NbsError, signalExitCode } from '../errors.js'

/** a name or path flag: the text typed, or undefined when absent */
export const text = (v: unknown): string | undefined => (v === undefined ? undefined : String(v))

/**
 * `--on` as typed: the argument parser turns '' into 0 and '007' into 7, so the values are taken
 * from argv itself; repeated means more selectors, as if comma-joined; `--on ''` selects nothing
 * and says so.
 */
export function selectors(argv: readonly string[], v: unknown): string | undefined {
  if (v === undefined) return undefined
  const raw: string[] = []
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    if (argv[i] === '--on' && i + 1 < argv.length) raw.push(argv[++i]!)
    else if (argv[i]!.startsWith('--on=')) raw.push(argv[i]!.slice('--on='.length))
  }
  return (raw.length ? raw : ([] as unknown[]).concat(v).map(String)).join(',')
}

export function wholeNumber(flag: string, v: unknown, min: number): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) throw new NbsError(`${flag} ${String(v)}: expected a whole number of at least ${min}${flag === '--parallel' ? ' (0 = every selected host at once)' : ''}`)
  return n
}

/** a repeatable, comma-separated flag: every value, trimmed, empty ones dropped */
export const list = (v: unknown): string[] | undefined =>
  v === undefined ? undefined : ([] as unknown[]).concat(v).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean)

/**
 * Ctrl-C and SIGTERM for a command that can stop cleanly: the first aborts the signal (the command
 * stops its children and still says what it must), a second leaves at once with 130/143.
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => (controller.signal.aborted ? process.exit(signalExitCode(sig)) : controller.abort(sig))
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  return { signal: controller.signal, dispose: () => void process.off('SIGINT', onSignal).off('SIGTERM', onSignal) }
}
