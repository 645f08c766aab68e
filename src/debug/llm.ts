import type { Exec } from '../checks/types.js'
import { NbsError } from '../errors.js'

export const LLM_HINT = "no LLM command configured; set one in nbs.config.ts: debug: { llm: { command: ['ollama', 'run', 'llama3'] } } (an argv that reads the bundle on stdin)"

/**
 * Pipes the (already redacted) bundle into the configured command's stdin and returns what it
 * answers. The command is an argv from the config, never a shell string.
 */
export async function askLlm(exec: Exec, command: readonly string[] | undefined, bundle: string, timeoutMs = 10 * 60_000): Promise<string> {
  if (!command?.length) throw new NbsError(LLM_HINT)
  const [file, ...args] = command
  const r = await exec(file!, args, { input: bundle, timeoutMs, maxOutputBytes: 8 * 2 ** 20 })
  if (r.notFound) throw new NbsError(`debug.llm.command: ${file} not found; fix the command in nbs.config.ts`)
  if (r.timedOut) throw new NbsError(`debug.llm.command: ${file} did not answer within ${timeoutMs / 1000} s`, 1)
  if (r.exitCode !== 0) throw new NbsError(`debug.llm.command: ${file} exited with ${r.exitCode ?? r.signal}: ${r.stderr.text.trim().split('\n').pop() ?? ''}`, 1)
  return r.stdout.text
}
