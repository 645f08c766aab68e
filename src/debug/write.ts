/**
 * `nbs debug` and `nbs check --debug-on-failure`: the bundle collected, rendered, written
 * (atomically, mode 0600, when to a file) and, when asked, handed to the configured LLM command.
 */
import { dirname, resolve } from 'node:path'
import type { Settings } from '../config/load.js'
import { NbsError } from '../errors.js'
import { atomicWrite } from '../fs/atomic-write.js'
import { parseReporterSpec } from '../reporters/index.js'
import { statusOptions } from '../status/options.js'
import { collectDebugBundle, renderDebugMarkdown, type DebugBundle } from './bundle.js'
import { askLlm } from './llm.js'

export interface WriteDebugBundleOptions {
  json?: boolean
  /** the file to write it to (default: written nowhere, only returned) */
  output?: string
  /** pipe it into the configured LLM command and return its answer */
  llm?: boolean
  eval?: boolean
}

export async function writeDebugBundle(settings: Settings, opts: WriteDebugBundleOptions): Promise<{ bundle: DebugBundle; text: string; answer?: string }> {
  const status = statusOptions(settings, opts.eval === true)
  const bundle = await collectDebugBundle(status)
  const text = opts.json ? `${JSON.stringify(bundle, null, 2)}\n` : renderDebugMarkdown(bundle)
  if (opts.output) {
    await atomicWrite(resolve(opts.output), text, 0o600).catch((e: NodeJS.ErrnoException) => {
      throw new NbsError(`--output ${opts.output}: cannot write it (${e.code ?? e.message}); choose a file in an existing, writable directory`)
    })
  }
  const answer = opts.llm ? await askLlm(status.exec, settings.llmCommand, text) : undefined
  return { bundle, text, ...(answer === undefined ? {} : { answer }) }
}

/**
 * After a failed check run (the old AUTO_DEBUG=1): the bundle goes next to the first report file
 * (or into `cwd`), and to the LLM when one is configured.
 */
export async function debugAfterFailedCheck(settings: Settings, reporters: readonly string[] | undefined, cwd: string): Promise<{ path: string; answer?: string }> {
  const file = (reporters ?? []).map((r) => parseReporterSpec(r).path).find((p) => p !== undefined)
  const path = resolve(file ? dirname(resolve(cwd, file)) : cwd, 'nbs-debug.md')
  const { answer } = await writeDebugBundle(settings, { output: path, llm: settings.llmCommand !== undefined })
  return { path, ...(answer === undefined ? {} : { answer }) }
}
