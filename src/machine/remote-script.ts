/**
 * The POSIX sh scripts the ssh transport sends on stdin to a plain `sh -s`. The remote login shell
 * (bash, fish, nushell…) only ever sees the two words `sh -s`, so nothing here depends on how it
 * parses quotes: argv, environment and input are written into the script as single-quoted words,
 * which every POSIX sh reads byte for byte.
 */

/** Bytes of an argument or input: a string is sent as UTF-8, a Uint8Array as is. */
export type Bytes = string | Uint8Array

/** A value that cannot be sent (a NUL in an argument, a bad environment name). */
export class RemoteScriptError extends Error {
  override name = 'RemoteScriptError'
}

export function toBuffer(b: Bytes): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

const QUOTE = 0x27
const ESCAPED_QUOTE = Buffer.from(`'\\''`)

/**
 * One POSIX sh word holding exactly `value`: `'…'`, each `'` written as `'\''`. Inside single
 * quotes sh takes every other byte literally (newlines, `$`, backslashes, non-UTF-8 bytes). A NUL
 * cannot be in an argv at all, so it is refused with `what` named.
 */
export function shQuote(value: Bytes, what = 'an argument'): Buffer {
  const b = toBuffer(value)
  if (b.includes(0)) throw new RemoteScriptError(`${what} contains a NUL byte, which no command line can carry`)
  const parts: Buffer[] = [Buffer.from("'")]
  let start = 0
  for (let i = b.indexOf(QUOTE); i !== -1; i = b.indexOf(QUOTE, start)) {
    parts.push(b.subarray(start, i), ESCAPED_QUOTE)
    start = i + 1
  }
  parts.push(b.subarray(start), Buffer.from("'"))
  return Buffer.concat(parts)
}

/** Whether `name` may be an environment variable name in sh (`[A-Za-z_][A-Za-z0-9_]*`). */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
}

/**
 * A single-quoted printf format that prints exactly `data` (binary safe, NULs included): `\` `%`
 * `'` and NUL escaped as printf understands them, a leading `-` too (bash's printf would take it
 * for an option); every other byte literal.
 */
export function printfFormat(data: Uint8Array): Buffer {
  const out: number[] = [QUOTE]
  data.forEach((byte, i) => {
    if (byte === 0x5c) out.push(0x5c, 0x5c)
    else if (byte === 0x25) out.push(0x25, 0x25)
    else if (byte === QUOTE || byte === 0 || (i === 0 && byte === 0x2d)) {
      for (const c of `\\${byte.toString(8).padStart(3, '0')}`) out.push(c.charCodeAt(0))
    } else out.push(byte)
  })
  out.push(QUOTE)
  return Buffer.from(out)
}

/** printf commands that write `data` to stdout, in chunks that keep each command line modest. */
export function printfCommands(data: Uint8Array, chunk = 32 * 1024): Buffer {
  const lines: Buffer[] = []
  for (let i = 0; i < data.length; i += chunk) {
    lines.push(Buffer.from('printf '), printfFormat(data.subarray(i, i + chunk)), Buffer.from('\n'))
  }
  return Buffer.concat(lines)
}

export interface ExecScriptOptions {
  /** the full argv on the machine: privilege prefix, program, arguments */
  argv: readonly Bytes[]
  /** indexes into argv of the programs to look up first (missing → the `notfound` marker) */
  lookup: readonly number[]
  /** merged onto the remote environment; `undefined` unsets */
  env?: Record<string, Bytes | undefined>
  /** the folder to run in, on the machine */
  cwd?: Bytes
  /** stdin for the command (default /dev/null) */
  input?: Bytes
  /** random, names this run's marker on stderr */
  nonce: string
  /** seconds between TERM and KILL of the remote process group */
  killGraceS: number
}

/** The status line the exec script writes on stderr at the end: `\0nbs-<nonce> <word…>\n`. */
export function markerPrefix(nonce: string): Buffer {
  return Buffer.from(`\0nbs-${nonce} `)
}

/**
 * The script that runs one argv on the machine. It is one brace group, so sh has read all of it
 * before anything runs, and ends in `exit`, so sh never reads stdin again: nbs keeps stdin open
 * after it, and a watcher reading that stdin kills the command's process group when it closes
 * (nbs killed its ssh on timeout or abort, which closes the channel). The command runs under
 * `setsid`, so its group is its own and holds all its children; its stdin is /dev/null or the
 * `input`, printed by printf. At the end the script reports on stderr, behind a NUL and the
 * nonce no command can guess, how it ended: `exit N`, `notfound I` (argv[I] is not there) or
 * `cwd` (no such folder). That line is what tells a command's exit 255 from ssh's own failure.
 */
export function execScript(o: ExecScriptOptions): Buffer {
  if (o.argv.length === 0) throw new RemoteScriptError('no command to run')
  if (!/^[0-9a-zA-Z]+$/.test(o.nonce)) throw new RemoteScriptError('the nonce must be alphanumeric')
  const grace = Math.max(1, Math.ceil(o.killGraceS))
  const q = (v: Bytes, what?: string) => shQuote(v, what)
  const parts: (string | Buffer)[] = [
    '{\n',
    `nbs_m() { printf '\\000nbs-%s %s\\n' ${o.nonce} "$1" >&2; }\n`,
    // a path is there or not; a name is looked up as sh would (builtins count: they run too)
    'nbs_c() { case $1 in */*) [ -e "$1" ] ;; *) command -v -- "$1" >/dev/null 2>&1 ;; esac; }\n',
  ]
  if (o.cwd !== undefined) parts.push('cd -- ', q(o.cwd, 'the working folder'), ' || { nbs_m cwd; exit 1; }\n')
  parts.push(...envLines(o.env))
  for (const i of o.lookup) {
    const file = o.argv[i]
    if (file === undefined) continue
    parts.push('nbs_c ', q(file, 'the command'), ` || { nbs_m 'notfound ${i}'; exit 127; }\n`)
  }
  const argv = Buffer.concat(o.argv.map((a, i) => Buffer.concat([i ? Buffer.from(' ') : Buffer.alloc(0), q(a)])))
  const input = o.input === undefined ? undefined : toBuffer(o.input)
  // the job: no access to the channel (fd 0 of this sh, dup'd to 3 for the watcher)
  const job = (prefix: string) =>
    input === undefined || input.length === 0
      ? [prefix, argv, ' </dev/null 3<&- &\n']
      : ['{\n', printfCommands(input), '} </dev/null 3<&- | ', prefix, argv, ' 3<&- &\n']
  parts.push(
    'exec 3<&0\n',
    'if command -v setsid >/dev/null 2>&1; then\n',
    ...job('setsid -- '),
    'nbs_p=$!; nbs_t=-$nbs_p\n',
    'else\n',
    // without setsid (util-linux, busybox) only the command itself can be killed
    ...job(''),
    'nbs_p=$!; nbs_t=$nbs_p\n',
    'fi\n',
    // the watcher: blocks on the channel; EOF means nbs is gone or gave up on the command
    'while read -r nbs_l; do :; done <&3 >/dev/null 2>&1 &&',
    ` { kill -s TERM -- $nbs_t; sleep ${grace}; kill -s KILL -- $nbs_t; } >/dev/null 2>&1 &\n`,
    'nbs_w=$!\n',
    'exec 3<&-\n',
    // a closed channel must not kill this sh (SIGPIPE) before it has cleaned up
    "trap '' PIPE\n",
    'wait $nbs_p; nbs_s=$?\n',
    // what the command left behind in its group (background children) goes with it, as locally
    `if kill -s 0 -- $nbs_t 2>/dev/null; then kill -s TERM -- $nbs_t 2>/dev/null; sleep ${grace}; kill -s KILL -- $nbs_t 2>/dev/null; fi\n`,
    'kill $nbs_w 2>/dev/null\n',
    'nbs_m "exit $nbs_s"\n',
    'exit $nbs_s\n',
    '}\n',
  )
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))
}

/** How the exec script ended, as its stderr marker said. */
export type ScriptEnd = { kind: 'exit'; code: number } | { kind: 'notfound'; index: number } | { kind: 'cwd' }

function parseMarker(word: string): ScriptEnd | undefined {
  const [kind, n] = word.split(' ')
  if (kind === 'exit' && /^\d+$/.test(n ?? '')) return { kind: 'exit', code: Number(n) }
  if (kind === 'notfound' && /^\d+$/.test(n ?? '')) return { kind: 'notfound', index: Number(n) }
  if (kind === 'cwd') return { kind: 'cwd' }
  return undefined
}

/** The longest marker word (`notfound 123`): a longer line after the prefix is not a marker. */
const MAX_WORD = 32

/**
 * Takes the exec script's marker out of the stderr stream and passes everything else on as it
 * arrives. Only bytes from a NUL on are held back, and only while they still match the marker,
 * so ordinary stderr is never delayed.
 */
export class MarkerFilter {
  private held: Buffer = Buffer.alloc(0)
  private readonly prefix: Buffer
  end: ScriptEnd | undefined

  constructor(
    nonce: string,
    private readonly emit: (chunk: Buffer) => void,
  ) {
    this.prefix = markerPrefix(nonce)
  }

  write(chunk: Buffer): void {
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk
    this.held = Buffer.alloc(0)
    let from = 0 // bytes before `from` are decided (emitted or dropped)
    for (let scan = 0; ; ) {
      const nul = data.indexOf(0, scan)
      if (nul === -1) break
      const rest = data.subarray(nul)
      const n = Math.min(rest.length, this.prefix.length)
      if (!rest.subarray(0, n).equals(this.prefix.subarray(0, n))) {
        scan = nul + 1 // an ordinary NUL
        continue
      }
      const nl = rest.length > this.prefix.length ? rest.indexOf(0x0a, this.prefix.length) : -1
      if (nl === -1 && rest.length <= this.prefix.length + MAX_WORD) {
        // could still become the marker: hold it back until the next chunk (or the end)
        if (nul > from) this.emit(data.subarray(from, nul))
        this.held = Buffer.from(rest)
        return
      }
      const end = nl !== -1 && this.end === undefined ? parseMarker(rest.subarray(this.prefix.length, nl).toString('latin1')) : undefined
      if (end === undefined) {
        scan = nul + 1
        continue
      }
      this.end = end
      if (nul > from) this.emit(data.subarray(from, nul))
      from = nul + nl + 1
      scan = from
    }
    if (from < data.length) this.emit(data.subarray(from))
  }

  /** The stream ended: what was held back was not a marker after all. */
  flush(): void {
    if (this.held.length) this.emit(this.held)
    this.held = Buffer.alloc(0)
  }
}

/** The script lines that set (`NAME='value'; export NAME`) or unset each variable of `env`. */
export function envLines(env: Record<string, Bytes | undefined> = {}): (string | Buffer)[] {
  const parts: (string | Buffer)[] = []
  for (const [name, value] of Object.entries(env)) {
    if (!isEnvName(name)) throw new RemoteScriptError(`environment variable name ${JSON.stringify(name)} is not a valid name ([A-Za-z_][A-Za-z0-9_]*)`)
    if (value === undefined) parts.push(`unset ${name}\n`)
    else parts.push(`${name}=`, shQuote(value, `environment variable ${name}`), `; export ${name}\n`)
  }
  return parts
}
