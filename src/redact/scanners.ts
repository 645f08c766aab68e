/**
 * The scanners the rules (rules.ts) are made of: how a value after a key is delimited, which
 * values are harmless, armored blocks, the contents of /run/secrets files, Nix access tokens and
 * signing keys. They work on one text whose line prefixes (journal, syslog, Nix code frames) the
 * engine has already taken off, and return spans; the engine replaces them.
 *
 * Every scanner is linear: patterns start with a literal or a short alternation, never scan past
 * a line's end except the armored-block scan (a plain `indexOf`), and look back at most
 * `LOOKBACK` characters.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'

export const MARKER_PREFIX = '[REDACTED:'
export const marker = (kind: string) => `${MARKER_PREFIX}${kind}]`

/** How far back a rule looks for the start of the line (a key prefix, a flag, a journal prefix). */
const LOOKBACK = 256
/** How many lines after `cat /run/secrets/x` count as the file's contents, at most. */
const MAX_PRINTED_LINES = 20

export interface Span {
  start: number
  end: number
  /** looked at and found harmless: the rule moves on past it but redacts nothing */
  keep?: boolean
}

// ---------------------------------------------------------------------------------------------
// Line helpers (all bounded)

export function lineEnd(text: string, pos: number): number {
  const i = text.indexOf('\n', pos)
  return i < 0 ? text.length : i
}
/** The start of pos's line, or null when it lies more than LOOKBACK characters back. */
export function lineStart(text: string, pos: number): number | null {
  const from = Math.max(0, pos - LOOKBACK)
  const i = text.slice(from, pos).lastIndexOf('\n')
  if (i >= 0) return from + i + 1
  return from === 0 ? 0 : null
}
/** `end` moved back over trailing blanks and `\r`. */
export function trimEnd(text: string, start: number, end: number): number {
  while (end > start && /[ \t\r]/.test(text[end - 1]!)) end--
  return end
}

/** A journal line as `nbs` stores it (`identifier: message`, `unit-start[42]: message`). */
export const JOURNAL_PREFIX = /^[\w@.-]+(?:\[\d+\])?: /

// ---------------------------------------------------------------------------------------------
// Values of key = value assignments

/** The key started its line (after a journal prefix, `export `, or a YAML `- `): env file, INI, YAML. */
const KEY_AT_LINE_START = /^(?:[\w@.-]+(?:\[\d+\])?:[ \t]+)?[ \t]*(?:export[ \t]+|-[ \t]+)?["']?[\w.-]*$/
/** An inline value ends at whitespace, a quote, or what separates it from the next thing in a query string, list or call. */
const INLINE_VALUE_END = /[\s"'`&,;<>)}\]]/

/**
 * Where the value starting at `pos` lies: inside quotes (an unterminated quote runs to the end of
 * the line), to the end of the line (`wholeLine`: a key that starts its line, where a YAML or env
 * value may contain spaces), or one inline token.
 */
export function valueSpan(text: string, pos: number, wholeLine: boolean): Span | null {
  const q = text[pos]
  let end = pos
  if (q === '"' || q === "'" || q === '`') {
    // never past the line's end (no indexOf to the end of a huge text per match)
    let i = pos + 1
    for (; i < text.length && text[i] !== q && text[i] !== '\n'; i++) if (text[i] === '\\' && q !== "'" && text[i + 1] !== '\n') i++
    end = i < text.length && text[i] === q ? i : trimEnd(text, pos + 1, Math.min(i, text.length))
    return end > pos + 1 ? { start: pos + 1, end } : null
  }
  if (wholeLine) end = trimEnd(text, pos, lineEnd(text, pos))
  else while (end < text.length && !INLINE_VALUE_END.test(text[end]!)) end++
  return end > pos ? { start: pos, end } : null
}

/** Values that are not secrets although they sit where one would: empty words, masks, references, paths, error messages. */
const BENIGN_WORDS = new Set(['null', 'none', 'nil', 'true', 'false', 'yes', 'no', 'on', 'off', 'undefined', 'unset', 'empty', 'required', 'optional', 'missing', 'hidden', 'redacted', 'incorrect', 'invalid', 'wrong', 'expired', 'failed', 'prompt', '{', '[', '(', '{}', '[]', '()', '{ }', '{};', '[];'])
/** `$VAR`, `${VAR}`, `$(cat file)`, `%VAR%`, `@placeholder@` (Nix substitute), `<token>`, `{{ template }}`, `***` */
const REFERENCE = /^(?:\$\{[^}\s]*\}|\$[A-Za-z_]\w*|\$\([^)]*\)|%[A-Za-z_]\w*%|@[A-Za-z_]\w*@|<[^<>]*>|\{\{[^{}]*\}\}|\*+)$/
/** An absolute or home path with at least two segments: `/run/secrets/db`, `~/.config/x` (the file, not its contents). */
const PATH_VALUE = /^(?:~|\.{1,2})?\/[\w.@+-]+(?:\/[\w.@+-]*)+$/
/** An error message where a value would be (`Failed to read password: No such file or directory`). */
const ERROR_TEXT = /^(?:no such file or directory|permission denied|not found|not set|is a directory|not a directory|authentication failed|access denied|(?:cannot|could not|failed to) [a-z]+)\b/i
/** `passwd: files systemd` in nsswitch.conf names lookup sources, not a password. */
const NSSWITCH = /^(?:(?:files|systemd|compat|db|nis|nisplus|sss|ldap|mymachines|winbind|resolve|myhostname|\[[!A-Za-z=]+\])[ \t]*)+$/

/** A Nix expression that refers to the secret instead of holding it: `config.sops.secrets.x.path;` */
const NIX_REFERENCE = /^(?:config|cfg|pkgs|lib|self|inputs|builtins|secrets)\.[\w.'"-]+;?$/

export function benignValue(value: string): boolean {
  const v = value.trim()
  return v === '' || v.startsWith(MARKER_PREFIX) || BENIGN_WORDS.has(v.toLowerCase()) || REFERENCE.test(v) || PATH_VALUE.test(v) || ERROR_TEXT.test(v) || /^[:=]/.test(v) || NSSWITCH.test(v) || NIX_REFERENCE.test(v)
}

/**
 * `token: expected expired, got valid`, `ok 1 - password: rejects empty input`: after `key: ` in
 * the middle of a line, one lower-case word followed by more words is prose (a test name, a log
 * message), not a value. A password would not be followed by a sentence.
 */
function prose(text: string, span: Span, sep: string): boolean {
  return /^:[ \t]/.test(sep) && /^[a-z]{1,20}$/.test(text.slice(span.start, span.end)) && /^[ \t]+[\w(]/.test(text.slice(span.end, span.end + 3))
}

/** Netrc (`machine h login u password p`) separates key and value with a space. */
const NETRC_CONTEXT = /(?:^|\s)(?:machine[ \t]+\S+(?:[ \t]+(?:login|account|port|protocol)[ \t]+\S+)*|default(?:[ \t]+(?:login|account|port|protocol)[ \t]+\S+)+)[ \t]+$/
/** `--password value`, `--db-token value` */
const FLAG_CONTEXT = /--[\w-]*$/

/**
 * Picks the value after a key (the match ends after the separator). A whitespace separator counts
 * only for a `--flag value` or a netrc line; `accept` may veto the value (entropy checks).
 */
export function keyValue(accept: (value: string) => boolean = () => true) {
  return (m: RegExpExecArray, text: string): Span | null => {
    const sep = m.groups?.sep ?? ''
    const ls = lineStart(text, m.index)
    const prefix = ls === null ? null : text.slice(ls, m.index)
    const assigned = /[:=]/.test(sep)
    if (!assigned && (prefix === null || !(FLAG_CONTEXT.test(prefix) || NETRC_CONTEXT.test(prefix)))) return null
    const pos = m.index + m[0].length
    if (!assigned && text[pos] === '-') return null
    const wholeLine = assigned && prefix !== null && KEY_AT_LINE_START.test(prefix)
    const span = valueSpan(text, pos, wholeLine)
    if (!span) return null
    const value = text.slice(span.start, span.end)
    if (wholeLine && YAML_BLOCK.test(value)) return yamlBlock(text, ls!, span.end)
    if (!benignValue(value) && accept(value) && !(!wholeLine && prose(text, span, sep.trimStart()))) return span
    // a harmless inline value is skipped over; a whole line (one per line) is not, so a later
    // key on it is still looked at
    return wholeLine ? null : { ...span, keep: true }
  }
}

/** `password: |` (or `>-`, …): the value is the more-indented lines below. */
const YAML_BLOCK = /^[|>][-+]?[0-9]?$/
function yamlBlock(text: string, keyLine: number, from: number): Span | null {
  const indent = (at: number) => {
    let i = at
    while (text[i] === ' ') i++
    return i - at
  }
  const keyIndent = indent(keyLine)
  let end = lineEnd(text, from)
  const start = end + 1
  let last = -1
  while (end < text.length) {
    const s = end + 1
    const e = lineEnd(text, s)
    const blank = trimEnd(text, s, e) === s
    if (!blank && indent(s) <= keyIndent) break
    if (!blank) last = trimEnd(text, s, e)
    end = e
  }
  return last > start ? { start, end: last } : null
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>()
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1)
  let h = 0
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length)
  return h
}
/** One token of at least 16 characters mixing letters and digits, random-looking: a key, not a name. */
export function highEntropy(value: string): boolean {
  if (value.length < 16 || !/^[A-Za-z0-9+/=_.~-]+$/.test(value)) return false
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(value)).length
  return classes >= 2 && /[0-9]/.test(value) && entropy(value) >= 3.2
}

/** The separator after a key: `=`, `:`, `=>` (quoted keys close their quote first) or, for flags and netrc, blanks. */
export const SEP = String.raw`["']?(?<sep>[ \t]*(?:=>|[:=])[ \t]*|[ \t]+)`
// ---------------------------------------------------------------------------------------------
// Armored blocks (PEM, OpenSSH, PGP, age)

/** A full line of base64 body (64 or 70 characters in practice) */
const BLOCK_BODY = /^[A-Za-z0-9+/=]{16,}$/
/** The short last body line, or a PGP checksum line: must show base64's digits, `+`, `/` or `=`, unlike a word */
const BLOCK_BODY_LAST = /^(?=[A-Za-z]*[0-9+/=])[A-Za-z0-9+/=]{2,15}$/
const BLOCK_HEADER = /^(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset):/

/**
 * `-----BEGIN <label>-----` … `-----END <label>-----` for labels `wanted` accepts. A block
 * without END (a truncated log) runs over the body-looking lines after BEGIN; an END without
 * BEGIN (a log tail that starts inside a key) takes the body-looking lines before it.
 */
export function armoredBlocks(wanted: RegExp) {
  return (text: string): Span[] => {
    const spans: Span[] = []
    const begin = /-----BEGIN ([A-Z0-9 ]{1,64})-----/g
    const noEnd = new Set<string>()
    for (let m; (m = begin.exec(text)); ) {
      const label = m[1]!
      if (!wanted.test(label)) continue
      const endMark = `-----END ${label}-----`
      const endAt = noEnd.has(label) ? -1 : text.indexOf(endMark, begin.lastIndex)
      let stop: number
      if (endAt >= 0) stop = endAt + endMark.length
      else {
        noEnd.add(label) // none later either: never search again
        stop = lineEnd(text, begin.lastIndex)
        let data = false
        while (stop < text.length) {
          const next = lineEnd(text, stop + 1)
          const line = text.slice(stop + 1, trimEnd(text, stop + 1, next))
          if (BLOCK_BODY.test(line)) data = true
          else if (BLOCK_BODY_LAST.test(line)) {
            stop = next
            break
          } else if (data || !(line === '' || BLOCK_HEADER.test(line))) break
          stop = next
        }
      }
      spans.push({ start: m.index, end: stop })
      begin.lastIndex = stop
    }
    const orphans: Span[] = []
    const end = /-----END ([A-Z0-9 ]{1,64})-----/g
    let k = 0
    for (let m; (m = end.exec(text)); ) {
      while (k < spans.length && spans[k]!.end <= m.index) k++
      if ((k < spans.length && spans[k]!.start <= m.index) || !wanted.test(m[1]!)) continue
      let start = m.index
      // walk back over the body lines before END (each region once: an END line is no body line)
      for (let n = 0; start > 0; n++) {
        const ls = text.lastIndexOf('\n', start - 1)
        if (ls < 0) break
        const prev = ls === 0 ? 0 : text.lastIndexOf('\n', ls - 1) + 1
        const line = text.slice(prev, trimEnd(text, prev, ls))
        if (!(BLOCK_BODY.test(line) || (n < 2 && BLOCK_BODY_LAST.test(line)))) break
        start = prev
      }
      orphans.push({ start, end: end.lastIndex })
    }
    return orphans.length ? [...spans, ...orphans].sort((a, b) => a.start - b.start) : spans
  }
}

// ---------------------------------------------------------------------------------------------
// /run/secrets contents (see the module comment)

export const RUN_SECRETS = String.raw`/run/(?:secrets|agenix|credentials)[\w.-]*/[^\s"'\`:=,;)}\]]+`
/** A command that prints a file (`cat`, `sudo head -n 5`, `jq . `), somewhere before the path on its line… */
const PRINT_COMMAND = /(?:^|[\s;|&(`$])(?:cat|tac|head|tail|less|more|bat|nl|xxd|od|hexdump|strings|base64|sops|age|rage|jq|yq|grep|egrep|rg|sed|awk|cut|sort|uniq)[ \t]/
/** …and the path is one of its arguments (or redirected in: `$(< /run/secrets/x)`). */
const ARGUMENT_END = /[ \t]["']?$/
const REDIRECT_END = /<[ \t]*["']?$/
const IS_RUN_SECRETS = new RegExp(RUN_SECRETS)
const HEAD_HEADER = new RegExp(String.raw`^==> ${RUN_SECRETS} <==$`)
/** A line where the output ends: a prompt, a `set -x` trace, a new `head` header. */
const PROMPT = /^(?:[$#%>] |\++ |\[[^\]\n]*@[^\]\n]*\][$#] |[\w.-]+@[\w.-]+:\S*[$#] |==> )/

export const COMMAND_END = /^["']?\)?["']?[ \t]*(?:$|[|;&>]|\d>|\r$)/

export function printedSecrets(text: string): Span[] {
  const spans: Span[] = []
  const path = new RegExp(RUN_SECRETS, 'g')
  for (let m; (m = path.exec(text)); ) {
    const ls = text.lastIndexOf('\n', m.index - 1) + 1
    const le = lineEnd(text, m.index)
    path.lastIndex = le // one look per line
    const line = text.slice(ls, trimEnd(text, ls, le))
    const jp = JOURNAL_PREFIX.exec(line)?.[0] ?? ''
    const content = line.slice(jp.length)
    const before = text.slice(ls + jp.length, m.index)
    if (!HEAD_HEADER.test(content) && !REDIRECT_END.test(before) && !(ARGUMENT_END.test(before) && PRINT_COMMAND.test(before))) continue
    // the path ends the command (`cat /run/secrets/x`, `… | jq`, `$(cat …)`), not a sentence
    // that mentions one (`output of cat /run/secrets/… 1ms` in a test report)
    if (!HEAD_HEADER.test(content) && !COMMAND_END.test(text.slice(m.index + m[0].length, le))) continue
    const substituted = /^\+\+/.test(content)
    let pos = le
    for (let n = 0; n < MAX_PRINTED_LINES && pos < text.length; n++) {
      const s = pos + 1
      const e = lineEnd(text, s)
      const te = trimEnd(text, s, e)
      const cs = jp && text.startsWith(jp, s) ? s + jp.length : s
      const c = text.slice(cs, te)
      if (substituted) {
        // `++ cat /run/secrets/x` → the next `+ …` line used the value: keep its `+ ` only
        if (!c.startsWith('+')) {
          pos = e
          continue
        }
        const vs = cs + /^\++ ?/.exec(c)![0].length
        if (vs < te && !text.startsWith(MARKER_PREFIX, vs)) spans.push({ start: vs, end: te })
        pos = e
        break
      }
      if (c.trim() === '' || PROMPT.test(c) || HEAD_HEADER.test(c) || IS_RUN_SECRETS.test(c)) break
      if (!c.startsWith(MARKER_PREFIX)) spans.push({ start: cs, end: te })
      pos = e
    }
    path.lastIndex = Math.max(path.lastIndex, pos)
  }
  return spans
}

/** Picks the value after a /run/secrets path used as a key (see the module comment, case 1). */
export function secretPathValue(m: RegExpExecArray, text: string): Span | null {
  let pos = m.index + m[0].length
  const quoted = m.groups?.open === '"'
  let wholeLine: boolean
  if (quoted) {
    const sep = /^"[ \t]*:[ \t]*/.exec(text.slice(pos, pos + 64))
    if (!sep) return null
    pos += sep[0].length
    wholeLine = false
  } else {
    const sep = /^(?:[ \t]*=[ \t]*|:(?=[^\s:]))/.exec(text.slice(pos, pos + 64))
    if (!sep) return null
    pos += sep[0].length
    wholeLine = true
  }
  const span = valueSpan(text, pos, wholeLine)
  return span && !benignValue(text.slice(span.start, span.end)) ? span : null
}

// ---------------------------------------------------------------------------------------------
// Nix's access-tokens (`access-tokens = github.com=… gitlab.example.org=PAT:…`)

export function nixAccessTokens(text: string): Span[] {
  const spans: Span[] = []
  const find = /access-tokens["']?(?:[ \t]*=[ \t]*["']?|[ \t]+["']?)/g
  // `host=value` items separated by blanks; `\s` in the classes keeps them on one line
  const item = /([^\s"'=]+)=([^\s"']+)[ \t]*/y
  for (let m; (m = find.exec(text)); ) {
    item.lastIndex = find.lastIndex
    for (let i; (i = item.exec(text)); ) {
      const vs = i.index + i[1]!.length + 1
      if (!i[2]!.startsWith(MARKER_PREFIX)) spans.push({ start: vs, end: vs + i[2]!.length })
      find.lastIndex = item.lastIndex
    }
  }
  return spans
}
// ---------------------------------------------------------------------------------------------
// Nix signing secret keys (`cache.example.org-1:` + 88 base64 characters)

/** DER prefix of a PKCS#8 Ed25519 private key: the 32-byte seed follows. */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex')

/**
 * A Nix secret key is `name:base64(seed ‖ public key)`, 64 bytes; a signature (`Sig:` in a
 * narinfo, `nix path-info --sigs`) has the same shape. They differ in one provable way: the last
 * 32 bytes of a secret key are the public key of its first 32, so the pick derives it and
 * compares (a signature never matches).
 */
export function nixSecretKey(m: RegExpExecArray): Span | null {
  const s = m.indices?.groups?.s
  if (!s) return null
  const raw = Buffer.from(m.input.slice(s[0], s[1]), 'base64')
  if (raw.length !== 64) return { start: s[0], end: s[1], keep: true }
  try {
    const pub = createPublicKey(createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' })
    return pub.subarray(-32).equals(raw.subarray(32)) ? { start: s[0], end: s[1] } : { start: s[0], end: s[1], keep: true }
  } catch {
    return { start: s[0], end: s[1], keep: true }
  }
}

// ---------------------------------------------------------------------------------------------
// Docker's `"auth": "<base64 of user:password>"`

/** A value that is base64 of `user:password` (Docker's config.json `auth`, a Basic credential). */
export function basicCredentials(value: string): boolean {
  if (value.length < 8 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false
  return /^[\x21-\x39\x3b-\x7e]*:[\x20-\x7e]+$/.test(Buffer.from(value, 'base64').toString('latin1'))
}
