/**
 * The POSIX sh script of a batch session: one `sh -s` over ssh that runs many commands at once and
 * takes more while it runs. The session's stdin is a script that never ends while nbs holds it
 * open: a preamble, then one job per command (`nbs_b() {…}; nbs_j <i>`), and `nbs_k <pgid> <s>`
 * to kill one command's process group. sh runs each line as it arrives; every job runs in the
 * background, so sh is always back to reading at once.
 *
 * Each command runs under `setsid` in its own process group. Its stdout and stderr go through a
 * relay (`base64 | awk`) that writes whole lines, each one write(2) of at most ~2 KiB (atomic on
 * a pipe), onto the session's stdout:
 *
 *   <nonce> R                 the preamble ran (the tools are there)
 *   <nonce> F <why>           batching cannot work here (setsid, base64 or awk missing)
 *   <nonce> <i> s <pgid>      job i started; its process group
 *   <nonce> <i> o|e <base64>  bytes of its stdout / stderr
 *   <nonce> <i> o|e           its stdout / stderr has ended (no writer left)
 *   <nonce> <i> x <code>      how it ended: exit code, or `n <argv index>` (not found), or `c` (cwd)
 *
 * A command's bytes only ever reach the stream base64-encoded, so no output can make a frame;
 * lines without the nonce (a login script's chatter) are ignored. When the session's stdin
 * closes (nbs killed, its ssh killed, the connection lost, or nbs done) sh reaches the end of its
 * script and its EXIT trap sends SIGTERM to its own process group: every job shell traps it and
 * kills its command's group (TERM, then KILL after the grace), relays die with it.
 */
import { envLines, printfCommands, RemoteScriptError, shQuote, toBuffer, type Bytes, type ScriptEnd } from './remote-script.js'

/** base64 columns per relayed line: 1536 bytes of output, a line well under PIPE_BUF (4096). */
const LINE_COLUMNS = 2048

export interface BatchJobOptions {
  /** the full argv on the machine: privilege prefix, program, arguments */
  argv: readonly Bytes[]
  /** indexes into argv of the programs to look up first (missing → `n <index>`) */
  lookup: readonly number[]
  /** merged onto the remote environment; `undefined` unsets */
  env?: Record<string, Bytes | undefined>
  /** the folder to run in, on the machine */
  cwd?: Bytes
  /** stdin for the command (default /dev/null) */
  input?: Bytes
  /** seconds between TERM and KILL of the command's process group */
  killGraceS: number
}

const grace = (s: number) => Math.max(1, Math.ceil(s))

/**
 * The preamble: helpers, the tool check, the EXIT trap; it reports `R` (or `F`) when it ran. With
 * `hold`, a shell that cannot run batches stays until its stdin ends instead of leaving at once
 * (the ssh master's own session: its end would end the connection).
 */
export function batchPreamble(nonce: string, o: { hold?: boolean } = {}): Buffer {
  if (!/^[0-9a-zA-Z]+$/.test(nonce)) throw new RemoteScriptError('the nonce must be alphanumeric')
  const refuse = (why: string) => `  nbs_m F '${why}'; ${o.hold ? 'while read -r nbs_l; do :; done; ' : ''}exit 0`
  return Buffer.from(
    [
      // the session's stdout, for frames; commands never get it
      'exec 7>&1',
      `nbs_N=${nonce}`,
      `nbs_m() { printf '%s %s\\n' "$nbs_N" "$*" >&7; }`,
      // full paths now: a job's own PATH must not hide them
      // `setsid -- true` run for real: an old busybox setsid takes `--` for the program
      'if nbs_S=$(command -v setsid) && nbs_Z=$(command -v sleep) && command -v base64 >/dev/null 2>&1 && command -v awk >/dev/null 2>&1 && "$nbs_S" -- "$nbs_Z" 0 </dev/null >/dev/null 2>&1; then :; else',
      refuse('setsid (one that takes --), sleep, base64 or awk is missing'),
      'fi',
      // the relay as it will run (a base64 without -w, an awk without fflush would lose output)
      `if [ "$(printf nbs | base64 -w ${LINE_COLUMNS} 2>/dev/null | awk '{ print "x", $0; fflush() }' 2>/dev/null)" != 'x bmJz' ]; then`,
      refuse('base64 -w or awk fflush() does not work'),
      'fi',
      // the EXIT trap signals this shell's process group: it must be the group an sshd made for
      // this session alone (group = session), never one shared with anything else
      'if read -r nbs_g </proc/$$/stat 2>/dev/null && set -- ${nbs_g##*) } && [ "$3" = "$4" ]; then :; else',
      refuse('the shell does not lead its own session'),
      'fi',
      // a path is there or not; a name is looked up as sh would (builtins count: they run too)
      'nbs_c() { case $1 in */*) [ -e "$1" ] ;; *) command -v -- "$1" >/dev/null 2>&1 ;; esac; }',
      // one stream of one job, as whole framed lines (awk flushes each: one write per line),
      // then its end
      `nbs_r() { base64 -w ${LINE_COLUMNS} | awk -v p="$nbs_N $1" '{ print p, $0; fflush() }' >&7; nbs_m "$1"; }`,
      // TERM to a process group now, KILL after the grace
      'nbs_k() { kill -s TERM -- "-$1" 2>/dev/null; { "$nbs_Z" "$2"; kill -s KILL -- "-$1"; } </dev/null >/dev/null 2>&1 7>&- & }',
      // job $1 (body nbs_b): stdout to one relay, stderr to the other. A relay's end must wait
      // for the command's group only: the shell between them leaves at once (`&`), and fds are
      // moved with `exec` (a redirection on a function call keeps a saved copy open meanwhile)
      'nbs_j() { { { nbs_b | { exec 6>&-; nbs_r "$1 e"; } & } 6>&1 | nbs_r "$1 o"; } </dev/null & }',
      // the end of the script (stdin closed): every job shell kills its command's group
      `trap 'trap "" TERM; kill -s TERM 0 2>/dev/null' EXIT`,
      'nbs_m R',
      '',
    ].join('\n'),
  )
}

/**
 * The body of one job, `nbs_b() {…}`: checked here (a NUL, a bad environment name throw a
 * RemoteScriptError), numbered when it is sent (the returned function adds `nbs_j <index>`). It
 * runs in its own subshell: `cd`, environment, lookups, then the command under setsid; it reports
 * the group, waits, reports the exit code, and kills what the command left in its group.
 */
export function batchJobBody(o: BatchJobOptions): (index: number) => Buffer {
  if (o.argv.length === 0) throw new RemoteScriptError('no command to run')
  const g = grace(o.killGraceS)
  const q = (v: Bytes, what?: string) => shQuote(v, what)
  // the index is written into the body: the command's environment cannot change it
  const I = Symbol('index')
  const parts: (string | Buffer | typeof I)[] = [
    'nbs_b() {\n',
    'exec 2>&1 1>&6 6>&-\n',
    'nbs_p=; nbs_x=\n',
    // the session ends (or is killed) while this runs: take the command's group along
    `trap 'nbs_x=1; [ -z "$nbs_p" ] || nbs_k "$nbs_p" ${g}' TERM\n`,
  ]
  // every frame after the job's own `export` lines is one word: "$*" would join words with the
  // job's IFS, and a frame joined with ':' is no frame
  if (o.cwd !== undefined) parts.push('cd -- ', q(o.cwd, 'the working folder'), ' || { nbs_m "', I, ' x c"; return; }\n')
  parts.push(...envLines(o.env))
  for (const i of o.lookup) {
    const file = o.argv[i]
    if (file === undefined) continue
    parts.push('nbs_c ', q(file, 'the command'), ' || { nbs_m "', I, ` x n ${i}"; return; }\n`)
  }
  const argv = Buffer.concat(o.argv.map((a, i) => Buffer.concat([i ? Buffer.from(' ') : Buffer.alloc(0), q(a)])))
  const input = o.input === undefined ? undefined : toBuffer(o.input)
  if (input === undefined || input.length === 0) parts.push('"$nbs_S" -- ', argv, ' </dev/null 7>&- &\n')
  else parts.push('{\n', printfCommands(input), '} </dev/null 7>&- | "$nbs_S" -- ', argv, ' 7>&- &\n')
  parts.push(
    'nbs_p=$!\n',
    // a closed channel must not kill this shell before it has cleaned up
    "trap '' PIPE\n",
    'nbs_m "', I, ' s $nbs_p"\n',
    `[ -z "$nbs_x" ] || nbs_k "$nbs_p" ${g}\n`,
    // a trapped TERM interrupts wait (status > 128): wait again for the real end
    // (its reports of a job killed by a signal are the shell's, not the command's output)
    'wait "$nbs_p" 2>/dev/null; nbs_s=$?\n',
    'while [ "$nbs_s" -gt 128 ] && kill -s 0 "$nbs_p" 2>/dev/null; do wait "$nbs_p" 2>/dev/null; nbs_s=$?; done\n',
    'nbs_m "', I, ' x $nbs_s"\n',
    // the relays end when the command's group lets go of its pipes, not when this shell is done
    'exec >/dev/null 2>&1\n',
    // what the command left behind in its group (background children) goes with it, as locally
    `if kill -s 0 -- "-$nbs_p" 2>/dev/null; then kill -s TERM -- "-$nbs_p" 2>/dev/null; "$nbs_Z" ${g}; kill -s KILL -- "-$nbs_p" 2>/dev/null; fi\n`,
    '}\n',
  )
  const bufs = parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))
  return (index) => {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`job index ${index}`)
    const n = Buffer.from(String(index))
    return Buffer.concat([...bufs.map((b) => (b === I ? n : (b as Buffer))), Buffer.from(`nbs_j ${index}\n`)])
  }
}

/** Kill one command's process group: TERM now, KILL after `graceS`. */
export function batchKill(pgid: number, graceS: number): Buffer {
  if (!Number.isInteger(pgid) || pgid < 2) throw new RangeError(`process group ${pgid}`)
  return Buffer.from(`nbs_k ${pgid} ${grace(graceS)}\n`)
}

/** Whether a job with this environment can run in a batch: names of nbs's own variables cannot. */
export function batchableEnv(env: Record<string, unknown> | undefined): boolean {
  return !Object.keys(env ?? {}).some((name) => name.startsWith('nbs_'))
}

export type BatchEvent =
  | { kind: 'ready' }
  | { kind: 'unsupported'; reason: string }
  | { kind: 'start'; job: number; pgid: number }
  | { kind: 'output'; job: number; stream: 'stdout' | 'stderr'; data: Buffer }
  | { kind: 'end'; job: number; end: ScriptEnd }
  /** no process holds that stream any more: all its bytes have been relayed */
  | { kind: 'closed'; job: number; stream: 'stdout' | 'stderr' }

/** A line longer than this that is not a frame (a login script's chatter) is dropped unread. */
const MAX_FOREIGN_LINE = 64 * 1024

/** Reads the session's stdout into events, line by line; lines without the nonce are ignored. */
export class BatchParser {
  private readonly prefix: Buffer
  private held: Buffer[] = []
  private heldBytes = 0
  /** in a foreign line too long to keep: skip to its newline */
  private skipping = false

  constructor(
    nonce: string,
    private readonly emit: (e: BatchEvent) => void,
  ) {
    this.prefix = Buffer.from(`${nonce} `)
  }

  write(chunk: Buffer): void {
    let from = 0
    for (;;) {
      const nl = chunk.indexOf(0x0a, from)
      if (nl === -1) break
      if (this.skipping) this.skipping = false
      else if (this.heldBytes) {
        this.held.push(chunk.subarray(from, nl))
        this.line(Buffer.concat(this.held))
        this.held = []
        this.heldBytes = 0
      } else this.line(chunk.subarray(from, nl))
      from = nl + 1
    }
    if (from < chunk.length && !this.skipping) {
      const rest = chunk.subarray(from)
      this.heldBytes += rest.length
      if (this.heldBytes > MAX_FOREIGN_LINE + LINE_COLUMNS) {
        this.held = []
        this.heldBytes = 0
        this.skipping = true
      } else this.held.push(Buffer.from(rest))
    }
  }

  private line(line: Buffer): void {
    if (line.length < this.prefix.length || !line.subarray(0, this.prefix.length).equals(this.prefix)) return
    const text = line.subarray(this.prefix.length).toString('latin1')
    if (text === 'R') return this.emit({ kind: 'ready' })
    if (text.startsWith('F ')) return this.emit({ kind: 'unsupported', reason: text.slice(2) })
    const m = /^(\d+) ([soex])(?: (.*))?$/.exec(text)
    if (!m) return
    const job = Number(m[1])
    const arg = m[3] ?? ''
    switch (m[2]) {
      case 's':
        if (/^\d+$/.test(arg)) this.emit({ kind: 'start', job, pgid: Number(arg) })
        return
      case 'o':
      case 'e': {
        const stream = m[2] === 'o' ? 'stdout' : 'stderr'
        return this.emit(m[3] === undefined ? { kind: 'closed', job, stream } : { kind: 'output', job, stream, data: Buffer.from(arg, 'base64') })
      }
      case 'x': {
        const [k, n] = arg.split(' ')
        if (/^\d+$/.test(k ?? '') && n === undefined) return this.emit({ kind: 'end', job, end: { kind: 'exit', code: Number(k) } })
        if (k === 'n' && /^\d+$/.test(n ?? '')) return this.emit({ kind: 'end', job, end: { kind: 'notfound', index: Number(n) } })
        if (k === 'c' && n === undefined) return this.emit({ kind: 'end', job, end: { kind: 'cwd' } })
        return
      }
    }
  }
}
