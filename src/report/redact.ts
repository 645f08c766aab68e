import { redactText, redactValue } from '../redact/engine.js'
import type { CapturedText, CheckResult } from './types.js'

/**
 * A result as reports may show it: its message, details, attempt messages and captured output
 * went through the redaction engine. Ids, titles, sources and counts are the project's own and
 * stay as they are. Applied once, where the scheduler finishes a result, so every reporter
 * (pretty, TAP, JUnit, JSON, plugins) and every plugin hook sees the same redacted result.
 */
export function redactResult(result: CheckResult): CheckResult {
  const { value } = redactValue({ message: result.message, details: result.details, attempts: result.attempts })
  const out: CheckResult = { ...result, attempts: value.attempts }
  if (result.message !== undefined) out.message = value.message
  if (result.details !== undefined) out.details = value.details
  if (result.stdout) out.stdout = redactCaptured(result.stdout)
  if (result.stderr) out.stderr = redactCaptured(result.stderr)
  return out
}

/** `bytes` stays what the process wrote; only the kept text changes. */
function redactCaptured(c: CapturedText): CapturedText {
  const { text, total } = redactText(c.text)
  return total ? { ...c, text } : c
}
