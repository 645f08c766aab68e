/** `nbs check`: flags → runChecks → notices, reporter errors and the exit code. */
import type { CAC } from 'cac'
import { loadConfig, resolveSettings } from '../config/load.js'
import { debugAfterFailedCheck } from '../debug/write.js'
import { NbsError } from '../errors.js'
import { runChecks } from '../run-checks.js'
import { abortOnSignals, list, selectors, text, wholeNumber } from './options.js'

export function registerCheck(cli: CAC, argv: readonly string[]): void {
  cli
    .command('check', 'Run the checks and report (exit 0 passed, 1 failed, 3 invalid input, 70 internal error or a report not written)')
    .option('--config <file>', 'Config file (default: nbs.config.{ts,mts,js,mjs,json} in the working directory)')
    .option('--flake <ref>', 'Flake to check (default: config, $NH_OS_FLAKE, $NBS_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--host <name>', 'nixosConfigurations attribute (default: config, the hostname of --root or of this machine)')
    .option('--root <dir>', 'Filesystem root to read machine state from (default: /)')
    .option('--phase <phase>', 'Run only checks of this phase (repeatable), plus what they need')
    .option('--only <id>', 'Run only this check and what it needs (repeatable)')
    .option('--skip <id>', 'Do not run this check (repeatable); checks needing it are skipped')
    .option('--tag <tag>', 'Run only checks with this tag (repeatable), plus what they need')
    .option('--reporter <name[:path]>', 'pretty, tap, tap14, junit, json, github, gitlab (file only), prometheus (file only); to a file with :PATH (repeatable)')
    .option('--junit-file-attributes', 'JUnit testcases get file= and line= (where the check points) for annotations; not valid under the JUnit XSDs')
    .option('--concurrency <n>', 'Checks run at once (default: CPUs × 2)')
    .option('--bail', 'Stop starting checks after the first failure')
    .option('--fail-on <severity>', 'error (default) or warning: also fail on failed warnings')
    .option('--debug-on-failure', 'When a check fails, write nbs-debug.md next to the reports (and ask the configured LLM)')
    .option('--on <selectors>', "Check these hosts of the inventory: name globs and @tag globs, comma-separated (colmena's syntax: 'web-*,@db')")
    .option('--parallel <n>', 'Hosts checked at once with --on (default: config, else 10; 0 = all)')
    .option('--allow-unreachable', 'With --on: a host ssh cannot reach is reported and skipped, not a failure')
    .option('--no-redact', 'Keep secrets in check results and reports (default: private keys, passwords, tokens become [REDACTED:kind])')
    .example('nbs check --reporter junit:report.xml --reporter tap')
    .example("nbs check --on 'web-*,@db' --reporter junit:fleet.xml")
    .example('nbs check --only dry-build --flake .#myhost')
    .action(async (o: Record<string, unknown>) => {
      const concurrency = o.concurrency === undefined ? undefined : wholeNumber('--concurrency', o.concurrency, 1)
      if (o.failOn !== undefined && o.failOn !== 'error' && o.failOn !== 'warning') {
        throw new NbsError(`--fail-on ${String(o.failOn)}: expected "error" or "warning"`)
      }
      const parallel = o.parallel === undefined ? undefined : wholeNumber('--parallel', o.parallel, 0)
      const on = selectors(argv, o.on)
      // first signal: stop the checks and still write every report; second: leave at once
      const controller = abortOnSignals()
      const { exitCode, reporterErrors, hookWarnings } = await runChecks({
        cwd: process.cwd(),
        config: text(o.config),
        flake: text(o.flake),
        host: text(o.host),
        root: text(o.root),
        phase: list(o.phase),
        only: list(o.only),
        skip: list(o.skip),
        tag: list(o.tag),
        reporters: list(o.reporter),
        concurrency,
        bail: o.bail === true,
        failOn: o.failOn as 'error' | 'warning' | undefined,
        ...(o.redact === false ? { redact: false } : {}),
        ...(on !== undefined ? { on } : {}),
        ...(parallel !== undefined ? { parallel } : {}),
        ...(o.allowUnreachable === true ? { allowUnreachable: true } : {}),
        ...(o.junitFileAttributes === true ? { junitFileAttributes: true } : {}),
        onNotice: (line) => process.stderr.write(`nbs check: ${line}\n`),
        stdout: process.stdout,
        signal: controller.signal,
      })
      for (const w of hookWarnings) process.stderr.write(`nbs: warning: ${w}\n`)
      for (const e of reporterErrors) process.stderr.write(`nbs: ${e}\n`)
      process.exitCode = exitCode
      if (exitCode === 1 && o.debugOnFailure) {
        const settings = resolveSettings(await loadConfig(process.cwd(), text(o.config)), { flake: text(o.flake), host: text(o.host), root: text(o.root) })
        const { path, answer } = await debugAfterFailedCheck(settings, list(o.reporter), process.cwd())
        process.stderr.write(`nbs: checks failed; debug bundle written to ${path}\n`)
        if (answer !== undefined) process.stdout.write(answer.endsWith('\n') ? answer : `${answer}\n`)
      }
      // a check's run() cannot be killed: once every report is written, do not wait for stragglers
      await new Promise<void>((done) => process.stdout.write('', () => done()))
      process.exit(exitCode)
    })
}
