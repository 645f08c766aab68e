/** `nbs build`: run the tool, record the build, exit with the tool's code (or the signal's). */
import { EventEmitter } from 'node:events'
import type { CAC } from 'cac'
import pc from 'picocolors'
import { formatSummary } from '../build/display.js'
import type { Interrupt } from '../build/run-tool.js'
import { resolveBuildSettings } from '../build/settings.js'
import { parseAction, parseTarget, parseTool } from '../build/tool.js'
import { runBuild } from '../build/wrapper.js'
import { loadConfig } from '../config/load.js'
import { signalExitCode } from '../errors.js'
import { text } from './options.js'

export function registerBuild(cli: CAC): void {
  cli
    .command('build <target> <action>', 'Run nh / nixos-rebuild / home-manager and record the build (exit: the tool\'s own code)')
    .usage('build <os|home> <switch|boot|test|build|dry-build> [options] [-- extra nix args]')
    .option('--config <file>', 'Config file')
    .option('--flake <ref>', 'Flake to build (default: config, $NH_OS_FLAKE / $NH_HOME_FLAKE, $NBS_FLAKE, $NH_FLAKE, /etc/nixos)')
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
      const settings = resolveBuildSettings(loaded, target, { flake: text(o.flake), host: text(o.host), root: text(o.root) })
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
        flake: settings.flake,
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
}
