/**
 * Reads of machine state over ssh, many per session: a batch of requests becomes one POSIX sh
 * script whose stdout frames each answer between lines that start with a random boundary, so
 * any bytes (a file's, a link target's) come back exactly. The tools are ones NixOS and Debian
 * both have: GNU readlink, realpath, head, stat, and a shell glob for folders.
 */
import { shQuote } from './remote-script.js'

export type ReadRequest =
  | { kind: 'readlink'; path: string }
  | { kind: 'realpath'; path: string }
  | { kind: 'readfile'; path: string; maxBytes: number }
  | { kind: 'readdir'; path: string }
  | { kind: 'stat'; path: string; follow: boolean }
  | { kind: 'hostname' }

/** An answer: the tool's stdout, or its failure as an errno code and the tool's message. */
export type ReadReply = { ok: true; data: Buffer } | { ok: false; code: string; message: string }

/** `stat -c` format: raw mode (hex), size, uid, gid, mtime with nanoseconds. */
const STAT_FORMAT = '%f %s %u %g %.9Y'

/** The command line (after the shell functions below) that answers one request. */
function command(r: ReadRequest): Buffer {
  const p = 'path' in r ? shQuote(r.path, 'the path') : Buffer.alloc(0)
  const line = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)))
  switch (r.kind) {
    case 'readlink':
      return line('readlink -n -v -- ', p)
    case 'realpath':
      return line('realpath -e -- ', p)
    case 'readfile':
      return line(`head -c ${Math.max(0, Math.floor(r.maxBytes))} -- `, p)
    case 'readdir':
      return line('nbs_dir ', p)
    case 'stat':
      return line(`stat ${r.follow ? '-L ' : ''}-c '${STAT_FORMAT}' -- `, p)
    case 'hostname':
      return line('nbs_host')
  }
}

/**
 * The script answering `requests`, in order. Each answer is
 * `\n<B> S <i>\n<stdout>` then `\n<B> E <i> <status>\n<stderr>`, where B is `boundary`
 * (random: no file holds it). One brace group, so sh has read all of it before it runs anything.
 */
export function readScript(requests: readonly ReadRequest[], boundary: string): Buffer {
  if (!/^[0-9a-zA-Z]+$/.test(boundary)) throw new Error('the boundary must be alphanumeric')
  const head = [
    '{',
    'LC_ALL=C; export LC_ALL', // English messages: they are mapped to errno codes
    `nbs_b=${boundary}`,
    // the names in a folder, NUL-terminated; an error says why as the tools would
    'nbs_dir() {',
    '  if [ -d "$1" ]; then',
    '    if [ -r "$1" ] && [ -x "$1" ]; then',
    '      for nbs_f in "$1"/* "$1"/.*; do',
    '        nbs_n=${nbs_f##*/}',
    '        case $nbs_n in .|..) continue ;; esac',
    '        [ -e "$nbs_f" ] || [ -h "$nbs_f" ] || continue',
    "        printf '%s\\000' \"$nbs_n\"",
    '      done',
    '    else',
    "      printf '%s: Permission denied\\n' \"$1\" >&2; return 1",
    '    fi',
    '  else',
    '    stat -L -c %i -- "$1" >/dev/null || return 1',
    "    printf '%s: Not a directory\\n' \"$1\" >&2; return 1",
    '  fi',
    '}',
    'nbs_host() { cat /proc/sys/kernel/hostname 2>/dev/null || hostname; }',
    // run one request: its stdout straight out, its stderr kept for the end line
    'nbs_r() {',
    '  nbs_i=$1; shift',
    `  printf '\\n%s S %s\\n' "$nbs_b" "$nbs_i"`,
    '  { nbs_e=$("$@" 2>&1 1>&3 3>&-); } 3>&1',
    '  nbs_s=$?',
    `  printf '\\n%s E %s %s\\n%s' "$nbs_b" "$nbs_i" "$nbs_s" "$nbs_e"`,
    '}',
    '',
  ].join('\n')
  const body = requests.map((r, i) => Buffer.concat([Buffer.from(`nbs_r ${i} `), command(r), Buffer.from(' </dev/null\n')]))
  return Buffer.concat([Buffer.from(head), ...body, Buffer.from('exit 0\n}\n')])
}

/**
 * The answers in `out` (the read script's stdout), one per request; a request whose end line is
 * missing (the session died) answers `missing` instead.
 */
export function parseReadOutput(out: Buffer, boundary: string, count: number, missing: ReadReply): ReadReply[] {
  const sep = Buffer.from(`\n${boundary} `)
  const data = new Map<number, Buffer>()
  const replies: ReadReply[] = Array.from({ length: count }, () => missing)
  let at = out.indexOf(sep)
  while (at !== -1) {
    const start = at + sep.length
    const next = out.indexOf(sep, start)
    const chunk = out.subarray(start, next === -1 ? out.length : next)
    at = next
    const nl = chunk.indexOf(0x0a)
    if (nl === -1) continue // cut off mid-line
    const head = chunk.subarray(0, nl).toString('latin1').split(' ')
    const body = chunk.subarray(nl + 1)
    const i = Number(head[1])
    if (!Number.isInteger(i) || i < 0 || i >= count) continue
    if (head[0] === 'S') data.set(i, body)
    else if (head[0] === 'E' && data.has(i)) {
      const status = Number(head[2])
      const message = body.toString('utf8').trim()
      replies[i] = status === 0 ? { ok: true, data: data.get(i)! } : { ok: false, code: errnoOf(message), message: lastLine(message) || `exit ${status}` }
    }
  }
  return replies
}

/** strerror(3) texts (LC_ALL=C) as the tools end their messages, and their codes. */
const ERRNO: [string, string][] = [
  ['No such file or directory', 'ENOENT'],
  ['Not a directory', 'ENOTDIR'],
  ['Too many levels of symbolic links', 'ELOOP'],
  ['Permission denied', 'EACCES'],
  ['Operation not permitted', 'EPERM'],
  ['Is a directory', 'EISDIR'],
  ['Invalid argument', 'EINVAL'],
  ['File name too long', 'ENAMETOOLONG'],
  ['Input/output error', 'EIO'],
  ['Stale file handle', 'ESTALE'],
  ['No such device or address', 'ENXIO'],
]

/** The errno code a tool's message ends with (`readlink: /x: Permission denied` → EACCES); EIO when unknown. */
export function errnoOf(message: string): string {
  const line = lastLine(message)
  for (const [text, code] of ERRNO) if (line.endsWith(text)) return code
  return 'EIO'
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean)
  return lines[lines.length - 1] ?? ''
}
