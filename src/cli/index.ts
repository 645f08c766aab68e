/**
 * The command line: parse flags, call one library function, map its result to an exit code.
 */
import { EventEmitter } from 'node:events'
import { cac } from 'cac'
import pc from 'picocolors'
import { EXIT_INTERNAL, NbsError, internalErrorLine, signalExitCode } from '../errors.js'
import { formatSummary } from '../build/display.js'
import { showHistory } from '../records/history.js'
import { parseAction, parseTarget, parseTool } from '../build/tool.js'
import { runBuild } from '../build/wrapper.js'
import type { Interrupt } from '../build/run-tool.js'
import { loadConfig, resolveSettings } from '../config/load.js'
import { parseFlakeRef } from '../nix/flake.js'
import { formatCheckList, listChecks } from '../list-checks.js'
import { runChecks } from '../run-checks.js'
import { debugAction, debugAfterFailedCheck, statusAction } from './status.js'
import { hostsAction } from './hosts.js'
import { VERSION } from '../version.js'
import * as library from '../api.js'
import { setLibrary } from '../discovery/library.js'

export async function main(argv: string[]): Promise<void> {
  // `import … from 'nbs'` in config, check and plugin files: this running nbs
  setLibrary(library)
  const debug = argv.includes('--debug')
  // a reader that goes away (`nbs history | head`) is not an error of ours: stop writing, carry on
  // (a build keeps running and still writes its record)
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  const cli = cac('nbs')
  cli.option('--debug', 'Print stack traces for errors')

  // cac turns `--host 42` into a number: names and paths stay the text the user typed
  const text = (v: unknown): string | undefined => (v === undefined ? undefined : String(v))
  // `--on` repeated means more selectors, as if comma-joined; `--on ''` selects nothing and says so
  // `--on` as typed: the argument parser turns '' into 0 and '007' into 7, so the values are taken
  // from argv itself; repeated means more selectors, as if comma-joined
  const selectors = (v: unknown): string | undefined => {
    if (v === undefined) return undefined
    const raw: string[] = []
    for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
      if (argv[i] === '--on' && i + 1 < argv.length) raw.push(argv[++i]!)
      else if (argv[i]!.startsWith('--on=')) raw.push(argv[i]!.slice('--on='.length))
    }
    return (raw.length ? raw : ([] as unknown[]).concat(v).map(String)).join(',')
  }
  const wholeNumber = (flag: string, v: unknown, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new NbsError(`${flag} ${String(v)}: expected a whole number of at least ${min}${flag === '--parallel' ? ' (0 = every selected host at once)' : ''}`)
    return n
  }
  const list = (v: unknown): string[] | undefined =>
    v === undefined ? undefined : ([] as unknown[]).concat(v).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean)

  cli
    .command('check', 'Run the checks and report (exit 0 passed, 1 failed, 3 invalid input, 70 internal error or a report not written)')
    .option('--config <file>', 'Config file (default: nbs.config.{ts,mts,js,mjs,json} in the working directory)')
    .option('--flake <ref>', 'Flake to check (default: config, $NH_OS_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--host <name>', 'nixosConfigurations attribute (default: config, the hostname of --root or of this machine)')
    .option('--root <dir>', 'Filesystem root to read machine state from (default: /)')
    .option('--phase <phase>', 'Run only checks of this phase (repeatable), plus what they need')
    .option('--only <id>', 'Run only this check and what it needs (repeatable)')
    .option('--skip <id>', 'Do not run this check (repeatable); checks needing it are skipped')
    .option('--tag <tag>', 'Run only checks with this tag (repeatable), plus what they need')
    .option('--reporter <name[:path]>', 'pretty, tap, tap14, junit, json, github, prometheus (file only); to a file with :PATH (repeatable)')
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
      const on = selectors(o.on)
      const controller = new AbortController()
      let signals = 0
      const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
        // first signal: stop the checks and still write every report; second: leave at once
        if (++signals > 1) process.exit(signalExitCode(sig))
        controller.abort(sig)
      }
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
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
        onNotice: (line) => process.stderr.write(`nbs check: ${line}\n`),
        stdout: process.stdout,
        signal: controller.signal,
      })
      for (const w of hookWarnings) process.stderr.write(`nbs: warning: ${w}\n`)
      for (const e of reporterErrors) process.stderr.write(`nbs: ${e}\n`)
      process.exitCode = exitCode
      if (exitCode === 1 && o.debugOnFailure) {
        const { path, answer } = await debugAfterFailedCheck({ config: text(o.config), flake: text(o.flake), host: text(o.host), root: text(o.root), reporters: list(o.reporter) })
        process.stderr.write(`nbs: checks failed; debug bundle written to ${path}\n`)
        if (answer !== undefined) process.stdout.write(answer.endsWith('\n') ? answer : `${answer}\n`)
      }
      // a check's run() cannot be killed: once every report is written, do not wait for stragglers
      await new Promise<void>((done) => process.stdout.write('', () => done()))
      process.exit(exitCode)
    })

  cli
    .command('list', 'List the discovered checks by phase, with their needs, tags and source')
    .option('--config <file>', 'Config file')
    .option('--json', 'Print JSON')
    .action(async (o: Record<string, unknown>) => {
      const result = await listChecks({ cwd: process.cwd(), config: text(o.config) })
      process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : formatCheckList(result))
    })

  cli
    .command('build <target> <action>', 'Run nh / nixos-rebuild / home-manager and record the build (exit: the tool\'s own code)')
    .usage('build <os|home> <switch|boot|test|build|dry-build> [options] [-- extra nix args]')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake to build (default: config, $NH_OS_FLAKE / $NH_HOME_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--host <name>', 'nixosConfigurations attribute (default: the flake\'s #fragment, config, hostname)')
    .option('--root <dir>', 'Filesystem root the generations are read from (default: /)')
    .option('--tool <name>', 'nh, nixos-rebuild or home-manager (default: nh when installed)')
    .option('--json', 'Print the build record as JSON on stdout at the end (the tool\'s output goes to stderr)')
    .example('nbs build os switch')
    .example('nbs build os build --json -- --show-trace')
    .action(async (targetArg: string, actionArg: string, o: Record<string, unknown>) => {
      const target = parseTarget(targetArg)
      const action = parseAction(target, actionArg)
      const tool = parseTool(target, text(o.tool))
      const loaded = await loadConfig(process.cwd(), text(o.config))
      // nh's own variables: NH_HOME_FLAKE for home, NH_OS_FLAKE for os, then NH_FLAKE
      const env = target === 'home' ? { ...process.env, NH_OS_FLAKE: process.env.NH_HOME_FLAKE } : process.env
      const settings = resolveSettings(loaded, { flake: text(o.flake), host: text(o.host), root: text(o.root) }, env)
      // for home, a #fragment names the home configuration, wherever the flake came from
      const homeFragment = parseFlakeRef(text(o.flake) ?? loaded.config.flake ?? (env.NH_OS_FLAKE || env.NH_FLAKE || '')).host
      const controller = new AbortController()
      // While the tool runs, runTool decides what each interrupt does (stop the build before
      // activation, never touch an activation). Around it (lock, snapshots, record) the first
      // interrupt stops the probes and the second leaves at once.
      // Once the tool has started, no signal makes nbs leave before the record is written: it may
      // be the record of a switch that completed. A hangup (the ssh session dropped) is a SIGTERM
      // whose terminal is gone: writes to it fail, and must not take the record with them.
      const interrupts = new EventEmitter()
      let signals = 0
      let toolStarted = false
      interrupts.on('newListener', () => (toolStarted = true))
      const onSignal = (sig: Interrupt) => {
        signals++
        if (!controller.signal.aborted) controller.abort(sig)
        if (interrupts.listenerCount('signal') > 0) return void interrupts.emit('signal', sig)
        if (!toolStarted && signals > 1) process.exit(signalExitCode(sig))
        if (toolStarted && signals > 1) process.stderr.write('nbs: the build has ended; writing its record first\n')
      }
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal).on('SIGHUP', onSignal)
      const color = pc.isColorSupported && (process.stderr.isTTY === true || !!process.env.FORCE_COLOR)
      const { record, exitCode, notices } = await runBuild({
        target,
        action,
        tool,
        // for home, a #fragment names the home configuration: keep it on the flake reference
        flake: target === 'home' && homeFragment ? `${settings.flake}#${homeFragment}` : settings.flake,
        host: settings.host,
        extraArgs: ((o['--'] as unknown[] | undefined) ?? []).map(String),
        logDir: settings.logDir,
        logGroup: settings.logGroup,
        root: settings.root,
        io: { stdout: process.stdout, stderr: process.stderr, color },
        json: o.json === true,
        signal: controller.signal,
        interrupts,
      }).finally(() => {
        // recorded: a key still held down must not kill nbs before it exits with the build's code
        const quiet = () => {}
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal).off('SIGHUP', onSignal)
        process.on('SIGINT', quiet).on('SIGTERM', quiet).on('SIGHUP', quiet)
      })
      for (const n of notices) process.stderr.write(`nbs: ${n}\n`)
      process.stderr.write(formatSummary(record, { color }))
      if (o.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`)
      // an interrupt that stopped the build exits as the signal does; one during an activation nbs
      // waited for changed nothing: the tool's own code
      const code = record.interrupted && record.activation === undefined ? signalExitCode(record.signal) : exitCode
      // leave now, not when the event loop has drained: while Node tears down it gives signals back
      // their default, and a Ctrl-C still held down would end nbs by SIGINT instead of this code
      // (stdout and stderr are synchronous on Linux pipes, files and terminals: nothing is cut)
      process.exit(code)
    })

  cli
    .command('history', 'The recorded builds, newest first: a table, or the JSON records')
    .option('--config <file>', 'Config file (for logDir)')
    .option('--json', 'Print the records as JSON')
    .option('--limit <n>', 'Show at most this many builds')
    .option('--failed', 'Only builds that did not succeed')
    .action(async (o: Record<string, unknown>) => {
      const limit = o.limit === undefined ? undefined : Number(o.limit)
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
        throw new NbsError(`--limit ${String(o.limit)}: expected a whole number of at least 1`)
      }
      const settings = resolveSettings(await loadConfig(process.cwd(), text(o.config)), {})
      const result = await showHistory({
        logDir: settings.logDir,
        logGroup: settings.logGroup,
        json: o.json === true,
        limit,
        failed: o.failed === true,
        color: pc.isColorSupported && process.stdout.isTTY === true,
        width: process.stdout.columns,
      })
      for (const w of result.warnings) process.stderr.write(`nbs: ${w}\n`)
      process.stdout.write(result.output)
    })

  const statusFlags = (o: Record<string, unknown>) => ({
    config: text(o.config),
    flake: text(o.flake),
    host: text(o.host),
    root: text(o.root),
    json: o.json === true,
    verbose: o.verbose === true,
    // only `--eval` evaluates; `--no-eval` (the old opt-out) is still accepted, and the last one given wins
    eval: ([] as unknown[]).concat(o.eval).at(-1) === true,
    ...(o.on !== undefined ? { on: selectors(o.on) } : {}),
    ...(o.parallel !== undefined ? { parallel: wholeNumber('--parallel', o.parallel, 0) } : {}),
    ...(o.allowUnreachable === true ? { allowUnreachable: true } : {}),
  })

  cli
    .command('status', 'Is this machine healthy and running what the flake says? (exit 0 healthy, 1 out of sync, 2 build errors)')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake (default: config, $NH_OS_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--host <name>', 'nixosConfigurations attribute (default: config, the hostname of --root or of this machine)')
    .option('--root <dir>', 'Filesystem root to read machine state from (default: /)')
    .option('--json', 'Print the status report as JSON')
    .option('--verbose', 'Show paths, error details and journal lines')
    .option('--eval', 'Also evaluate the flake to compare its toplevel with the running system when no revision is recorded (cached by flake.lock, HEAD, changes and host)')
    .option('--on <selectors>', "These hosts of the inventory, one row each: name globs and @tag globs, comma-separated ('web-*,@db')")
    .option('--parallel <n>', 'Hosts read at once with --on (default: config, else 10; 0 = all)')
    .option('--allow-unreachable', 'With --on: a host ssh cannot reach does not make the exit code 1')
    .example('nbs status --json | jq .overallStatus')
    .example("nbs status --on '@web'")
    .example('nbs status --eval')
    .action(async (o: Record<string, unknown>) => {
      process.exitCode = await statusAction(statusFlags(o))
    })

  cli
    .command('debug', 'Collect a diagnosis bundle (status, last build, errors, log tail, failed units), secrets redacted')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake')
    .option('--host <name>', 'nixosConfigurations attribute')
    .option('--root <dir>', 'Filesystem root to read machine state from')
    .option('--json', 'JSON instead of Markdown')
    .option('--output <file>', 'Write the bundle to a file (mode 0600) instead of stdout')
    .option('--llm', 'Pipe the bundle into debug.llm.command from the config and print its answer')
    .option('--eval', 'Also evaluate the flake (cached), as nbs status --eval')
    .example('nbs debug --output debug.md')
    .example('nbs debug --llm')
    .action(async (o: Record<string, unknown>) => {
      process.exitCode = await debugAction({ ...statusFlags(o), output: text(o.output), llm: o.llm === true })
    })

  cli
    .command('hosts', 'List the inventory: the config\'s hosts, colmena, deploy-rs and nixosConfigurations, and where each field came from')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake (default: config, $NH_OS_FLAKE, $NH_FLAKE, /etc/nixos)')
    .option('--on <hosts>', 'Only these: comma-separated name globs and @tag globs (colmena\'s --on)')
    .option('--json', 'Print the hosts as JSON, with the source of each field')
    .example('nbs hosts --on "web-*,@db"')
    .action(async (o: Record<string, unknown>) => {
      const controller = new AbortController()
      const onSignal = (sig: 'SIGINT' | 'SIGTERM') => (controller.signal.aborted ? process.exit(signalExitCode(sig)) : controller.abort(sig))
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
      // interrupted: the children are stopped; exit as the signal says, without their failure
      const interrupted = () => signalExitCode(controller.signal.reason)
      process.exitCode = await hostsAction({ config: text(o.config), flake: text(o.flake), on: selectors(o.on), json: o.json === true }, controller.signal).catch((e: unknown) => {
        if (controller.signal.aborted) return interrupted()
        throw e
      })
      if (controller.signal.aborted) process.exitCode = interrupted()
    })

  cli.command('[...args]', '').action((args: string[]) => {
    if (args.length === 0) return cli.outputHelp()
    throw Object.assign(new Error(`unknown command "${args[0]}"; see nbs --help`), { name: 'CACError' })
  })
  cli.usage('<command> [options]')
  cli.help()
  cli.version(VERSION)

  try {
    cli.parse(process.argv, { run: false })
    await cli.runMatchedCommand()
  } catch (e) {
    const err = e as Error & { exitCode?: number }
    if (err.name === 'NbsError' || err.name === 'CACError') {
      const cmd = cli.matchedCommandName ? ` ${cli.matchedCommandName}` : ''
      const hint = err.name === 'CACError' && !err.message.includes('--help') ? `; see nbs${cmd} --help` : ''
      process.stderr.write(`nbs${cmd}: ${err.message}${hint}\n`)
      if (debug) process.stderr.write(`${err.stack}\n`)
      process.exitCode = err.exitCode ?? 3
      return
    }
    process.stderr.write(internalErrorLine(e, debug))
    process.exitCode = EXIT_INTERNAL
  }
}
