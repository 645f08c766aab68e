/**
 * `nbs build`: runs nh / nixos-rebuild / home-manager with Nix's internal-json stream, passes every
 * other byte through untouched and at once, draws progress (nom when asked, else nbs's own), keeps
 * the whole output in last-build.log and writes the build record, also when interrupted.
 * The terminal is known only through `io` (streams with isTTY/columns and write).
 */
import { hostname } from 'node:os'
import type { Exec } from '../checks/types.js'
import { NbsError, signalExitCode } from '../errors.js'
import type { NixError } from '../nix/errors.js'
import { parseFlakeRef } from '../nix/flake.js'
import { probeExec } from '../runner/process.js'
import { markInProgress, recordInterrupted } from '../records/in-progress.js'
import { acquireBuildLock } from '../records/lock.js'
import { openBuildLog } from '../records/log.js'
import { resolveLogDir } from '../records/paths.js'
import { defaultUser, type BuildErrorDetail, type BuildRecord } from '../records/schema.js'
import { readNixVersion, snapshotGeneration } from './snapshot.js'
import { writeBuildRecord } from '../records/store.js'
import { runTool, type ToolRunOptions } from './run-tool.js'
import { currentPrivilege, formatCommand, planBuild, type BuildAction, type BuildTarget, type BuildTool, type Privilege } from './tool.js'

export type { OutputStream } from './run-tool.js'

export interface RunBuildOptions extends ToolRunOptions {
  target: BuildTarget
  action: BuildAction
  /** forced tool (`--tool`); default nh when on PATH */
  tool?: BuildTool
  flake: string
  host: string
  /** arguments after `--`, for Nix */
  extraArgs?: readonly string[]
  /** the config's logDir (NBS_LOG_DIR in `env` overrides it): the system records folder */
  logDir?: string
  /** the admins' group the logs belong to (NBS_LOG_GROUP in `env` overrides it; default wheel) */
  logGroup?: string
  /** filesystem root the generations are read from (default /) */
  root?: string
  exec?: Exec
  /** who runs the build (default: this process, with SUDO_USER from `env`) */
  privilege?: Privilege
}

export interface BuildOutcome {
  record: BuildRecord
  /** the tool's own exit code (128 + signal number when it died of a signal) */
  exitCode: number
  notices: string[]
}

export async function runBuild(o: RunBuildOptions): Promise<BuildOutcome> {
  const env = o.env ?? process.env
  // the probes before the build (tool version, home configurations) stop with Ctrl-C too
  const exec = o.exec ?? probeExec({ timeoutMs: 30_000, signal: o.signal })
  const cmd = await planBuild({
    target: o.target,
    action: o.action,
    forced: o.tool,
    flake: o.flake,
    host: o.host,
    extra: o.extraArgs ?? [],
    privilege: o.privilege ?? currentPrivilege(env),
    env,
    exec,
  })
  const tool = cmd.tool
  // an interrupt before the tool starts (its version probe, the lock) leaves nothing behind
  const stopIfInterrupted = () => {
    if (o.signal?.aborted) throw new NbsError(`interrupted before ${tool} started: nothing was built or recorded`, signalExitCode(o.signal.reason))
  }
  stopIfInterrupted()
  const notices: string[] = [...cmd.notices]
  const { dir, notice, group } = await resolveLogDir({ configured: o.logDir, logGroup: o.logGroup, env, target: o.target })
  if (notice) notices.push(notice)
  const lock = await acquireBuildLock({ target: o.target, logDir: dir, env, root: o.root })
  try {
    stopIfInterrupted()
    // a build whose nbs was killed left its log and marker: its record comes first
    notices.push(...(await recordInterrupted(dir).catch((e: Error) => [`could not record an interrupted build in ${dir}: ${e.message}`])))
    const user = defaultUser(env) ?? 'unknown'
    const { flake: flakePath, host: fragment } = parseFlakeRef(o.flake)
    const built = o.target === 'os' ? o.host : fragment
    // the after-snapshot runs also when interrupted: it says what an activation left behind
    const snap = (e: Exec = exec) => snapshotGeneration({ root: o.root, exec: e, flake: flakePath, target: o.target, user })
    const nixVersion = readNixVersion(exec) // in parallel with the build: it costs a process start
    const preGeneration = await snap()
    const start = new Date()
    const log = await openBuildLog(dir, { target: o.target, action: o.action, start, gid: group.gid })
    if (log.notice) notices.push(log.notice)
    const command = formatCommand(cmd.file, cmd.args)
    const started = { buildStart: start.toISOString(), target: o.target, action: o.action, tool, flakePath, hostname: hostname(), ...(built ? { host: built } : {}), user, command, preGeneration, buildLogPath: log.path }
    const marker = await markInProgress(started)
    if (marker.notice) notices.push(marker.notice)
    // awaited before the record: a late rewrite must not bring back a removed marker or race the release
    let naming: Promise<unknown> = Promise.resolve()
    const onToolStart = (pid: number) => void (naming = Promise.all([lock.setChild(pid), marker.setChild(pid)]).catch(() => {}))
    const run = await runTool({ ...o, onToolStart }, cmd, env, log.write)
    await naming
    const end = new Date()
    // the log's fsync overlaps the snapshot's reads
    const closing = log.close().catch((e: Error) => void notices.push(`could not write ${log.path}: ${e.message}`))
    const [postGeneration] = await Promise.all([snap(o.exec ?? probeExec({ timeoutMs: 30_000 })), closing])
    // nh < 4.2 exits 0 when activation failed: what its output said decides
    const decided = !run.interrupted || run.activationOutcome !== undefined // an activation nbs waited for decides
    const exitCode = run.exitCode === 0 && cmd.exitsZeroOnActivationFailure && run.activation.length > 0 && decided ? 1 : run.exitCode
    const errorDetails = details(run.errors, run.activation, exitCode, tool)
    // the seed's field order
    const record: BuildRecord = {
      buildStart: started.buildStart,
      buildEnd: end.toISOString(),
      buildDuration: Math.round((end.getTime() - start.getTime()) / 10) / 100,
      target: o.target,
      action: o.action,
      tool,
      flakePath,
      exitCode,
      // an interrupt during activation changed nothing (nbs waited): the build's result is the tool's
      success: exitCode === 0 && (run.activationOutcome ? run.activationOutcome === 'completed' : !run.interrupted),
      hostname: started.hostname,
      ...(built ? { host: built } : {}),
      user,
      command,
      preGeneration,
      postGeneration,
      buildLogPath: log.path,
      errors: errorDetails.map((e) => e.message).join('\n'),
      errorDetails,
      nixVersion: await nixVersion,
      interrupted: run.interrupted,
      ...(run.signal ? { signal: run.signal } : {}),
      ...(run.activationOutcome ? { activation: run.activationOutcome } : {}),
      ...(run.activationUnit ? { activationUnit: run.activationUnit } : {}),
      recordVersion: 1,
    }
    // a full disk must not turn the build's own result into an internal error
    const warnings = await writeBuildRecord(dir, record).then(
      (r) => r.warnings,
      (e: Error) => [`could not write the build record in ${dir}: ${e.message}`],
    )
    await marker.remove()
    return { record, exitCode, notices: [...notices, ...warnings] }
  } finally {
    await lock.release()
  }
}

/** The record's errorDetails: Nix's errors, activation failures, else the exit code itself. */
function details(errors: NixError[], activation: string[], exitCode: number, tool: string): BuildErrorDetail[] {
  const out: BuildErrorDetail[] = errors.map((e) => ({
    message: e.message,
    kind: e.kind,
    ...(e.drv !== undefined && { drv: e.drv }),
    ...(e.exitCode !== undefined && { exitCode: e.exitCode }),
    ...(e.file !== undefined && { file: e.file }),
    ...(e.line !== undefined && { line: e.line }),
    ...(e.column !== undefined && { column: e.column }),
    ...(e.logTail?.length && { logTail: e.logTail }),
    ...(e.reason !== undefined && { reason: e.reason }),
    ...(e.codeFrame !== undefined && { codeFrame: e.codeFrame }),
    ...(e.traces?.length && { traces: e.traces }),
  }))
  for (const line of activation) out.push({ message: line.replace(/^warning:\s*/, ''), kind: 'activation' })
  if (exitCode !== 0 && out.length === 0) out.push({ message: `${tool} exited with code ${exitCode}`, kind: 'other', exitCode })
  return out
}
