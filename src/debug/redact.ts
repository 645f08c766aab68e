/**
 * Secret redaction for `nbs debug`: nothing in a diagnosis bundle leaves the machine before it
 * went through here.
 *
 * The rules are a table (`RULES`), applied in order, one pass over the text each. Every secret
 * becomes `[REDACTED:<kind>]`; where it helps a diagnosis the part around it survives: the key
 * name of an assignment (`password=[REDACTED:password]`), the scheme and host of a URL
 * (`https://[REDACTED:url-credentials]@git.example.org/…`), the auth scheme of a header
 * (`Authorization: Bearer [REDACTED:authorization]`).
 *
 * Guarantees:
 * - **Linear time.** Every pattern starts with a literal or a short fixed alternation, has no
 *   nested or overlapping quantifiers, and never scans past the end of a line except the
 *   armored-block scanner, which is a plain `indexOf` and remembers labels it found no END for.
 *   Context checks look back at most `LOOKBACK` characters.
 * - **Idempotent.** A marker is never matched as a secret again (no token pattern accepts `[`,
 *   and every rule skips a value that already starts with `[REDACTED:`), and the table is run
 *   again until a pass changes nothing, so redacting twice changes nothing more.
 * - **Look-alikes survive.** Nix store paths, drv paths, git revisions, SRI / nix base32 hashes,
 *   UUIDs, machine ids, public keys and certificates, URLs without a password, option names
 *   such as `secretFile`/`passwordFile` and the paths they hold are not secrets and stay
 *   byte-exact.
 *
 * `/run/secrets` (and `/run/secrets-for-users`, `/run/agenix`, systemd's `/run/credentials`):
 * a path there is NOT a secret and is always kept; its CONTENTS are. Redacted as `run-secrets`:
 * 1. the value of an assignment whose key is such a path: `"/run/secrets/db": "value"` (JSON),
 *    `/run/secrets/db=value`, and `/run/secrets/db:value` (grep's `path:line` output; a colon
 *    followed by a space is an error message like `cat: /run/secrets/db: No such file or
 *    directory` and is kept, and so is a value that is itself a path, as in a bind mount
 *    `/run/secrets/x:/etc/x`);
 * 2. the lines printed after a command that reads such a file (`cat`, `head`, `tail`, `less`,
 *    `base64`, `sops`, `grep`, `jq`, `< file`, …, also under `sudo` or `set -x`) or after a
 *    `==> /run/secrets/x <==` header of `head`/`tail`: every following line up to the first blank
 *    line, shell prompt (`$ `, `# `, `% `, `> `, `[user@host:~]$ `, `user@host:~$ `), `set -x`
 *    trace line (`+ …`), new header, or at most `MAX_PRINTED_LINES` lines. After a command
 *    substitution traced by `set -x` (`++ cat /run/secrets/x`), the next `+ …` line is where the
 *    value was used, so the rest of that line is redacted instead. A journal prefix
 *    (`unit-start[42]: `) on those lines is kept.
 *
 * A multi-line secret split over the elements of a string array (the log tail and journal lines
 * of a bundle are arrays of lines) is found because `redactValue` redacts such arrays as one
 * text; a block that collapses into one marker makes that array shorter.
 */

export interface Redaction {
  kind: string
  count: number
}
export interface RedactResult {
  text: string
  redactions: Redaction[]
  total: number
}

const MARKER_PREFIX = '[REDACTED:'
const marker = (kind: string) => `${MARKER_PREFIX}${kind}]`

/** How far back a rule looks for the start of the line (a key prefix, a flag, a journal prefix). */
const LOOKBACK = 256
/** How many lines after `cat /run/secrets/x` count as the file's contents, at most. */
const MAX_PRINTED_LINES = 20

interface Span {
  start: number
  end: number
  /** looked at and found harmless: the rule moves on past it but redacts nothing */
  keep?: boolean
}

/** A regex rule: every match is handed to `pick`, which says what to redact (the `s` group by default). */
interface PatternRule {
  kind: string
  /** global and `d` (indices): the engine reads `indices` */
  find: RegExp
  pick?: (m: RegExpExecArray, text: string) => Span | null
}
/** A rule that needs more than one match: it returns its spans in order. */
interface ScanRule {
  kind: string
  scan: (text: string) => Span[]
}
type Rule = PatternRule | ScanRule

// ---------------------------------------------------------------------------------------------
// Line helpers (all bounded)

function lineEnd(text: string, pos: number): number {
  const i = text.indexOf('\n', pos)
  return i < 0 ? text.length : i
}
/** The start of pos's line, or null when it lies more than LOOKBACK characters back. */
function lineStart(text: string, pos: number): number | null {
  const from = Math.max(0, pos - LOOKBACK)
  const i = text.slice(from, pos).lastIndexOf('\n')
  if (i >= 0) return from + i + 1
  return from === 0 ? 0 : null
}
/** `end` moved back over trailing blanks and `\r`. */
function trimEnd(text: string, start: number, end: number): number {
  while (end > start && /[ \t\r]/.test(text[end - 1]!)) end--
  return end
}

/** A journal line as `nbs` stores it (`identifier: message`, `unit-start[42]: message`). */
const JOURNAL_PREFIX = /^[\w@.-]+(?:\[\d+\])?: /

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
function valueSpan(text: string, pos: number, wholeLine: boolean): Span | null {
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

function benignValue(value: string): boolean {
  const v = value.trim()
  return v === '' || v.startsWith(MARKER_PREFIX) || BENIGN_WORDS.has(v.toLowerCase()) || REFERENCE.test(v) || PATH_VALUE.test(v) || ERROR_TEXT.test(v) || /^[:=]/.test(v) || NSSWITCH.test(v)
}

/** Netrc (`machine h login u password p`) separates key and value with a space. */
const NETRC_CONTEXT = /(?:^|\s)(?:machine[ \t]+\S+(?:[ \t]+(?:login|account|port|protocol)[ \t]+\S+)*|default(?:[ \t]+(?:login|account|port|protocol)[ \t]+\S+)+)[ \t]+$/
/** `--password value`, `--db-token value` */
const FLAG_CONTEXT = /--[\w-]*$/

/**
 * Picks the value after a key (the match ends after the separator). A whitespace separator counts
 * only for a `--flag value` or a netrc line; `accept` may veto the value (entropy checks).
 */
function keyValue(accept: (value: string) => boolean = () => true) {
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
    if (!benignValue(value) && accept(value)) return span
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
function highEntropy(value: string): boolean {
  if (value.length < 16 || !/^[A-Za-z0-9+/=_.~-]+$/.test(value)) return false
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(value)).length
  return classes >= 2 && /[0-9]/.test(value) && entropy(value) >= 3.2
}

/** The separator after a key: `=`, `:`, `=>` (quoted keys close their quote first) or, for flags and netrc, blanks. */
const SEP = String.raw`["']?(?<sep>[ \t]*(?:=>|[:=])[ \t]*|[ \t]+)`

/** Key names (the END of a key: `DB_PASSWORD`, `githubToken`, `client_secret`) per kind. */
const KEY_WORDS = {
  // also the env-file short forms DB_PASS= and MYSQL_PWD= (a whole word after _ or at the start)
  password: String.raw`pass(?:word|wd|phrase)|(?<![a-z])pass|(?<![a-z])pwd`,
  secret: String.raw`secret[_-]?key|private[_-]?key|secret`,
  token: String.raw`token`,
  'api-key': String.raw`api[_-]?key|apikey|access[_-]?key`,
  // `Cookie: session=…` headers and `session_cookie=…` values carry a login
  cookie: String.raw`cookie`,
} as const

const keyRule = (kind: keyof typeof KEY_WORDS): PatternRule => ({
  kind,
  find: new RegExp(`(?:${KEY_WORDS[kind]})${SEP}`, 'gid'),
  pick: keyValue(),
})

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
function armoredBlocks(wanted: RegExp) {
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

const RUN_SECRETS = String.raw`/run/(?:secrets|agenix|credentials)[\w.-]*/[^\s"'\`:=,;)}\]]+`
/** A command that prints a file (`cat`, `sudo head -n 5`, `jq . `), somewhere before the path on its line… */
const PRINT_COMMAND = /(?:^|[\s;|&(`$])(?:cat|tac|head|tail|less|more|bat|nl|xxd|od|hexdump|strings|base64|sops|age|rage|jq|yq|grep|egrep|rg|sed|awk|cut|sort|uniq)[ \t]/
/** …and the path is one of its arguments (or redirected in: `$(< /run/secrets/x)`). */
const ARGUMENT_END = /[ \t]["']?$/
const REDIRECT_END = /<[ \t]*["']?$/
const IS_RUN_SECRETS = new RegExp(RUN_SECRETS)
const HEAD_HEADER = new RegExp(String.raw`^==> ${RUN_SECRETS} <==$`)
/** A line where the output ends: a prompt, a `set -x` trace, a new `head` header. */
const PROMPT = /^(?:[$#%>] |\++ |\[[^\]\n]*@[^\]\n]*\][$#] |[\w.-]+@[\w.-]+:\S*[$#] |==> )/

function printedSecrets(text: string): Span[] {
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
function secretPathValue(m: RegExpExecArray, text: string): Span | null {
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

function nixAccessTokens(text: string): Span[] {
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
// The table, one entry per shape. Order matters: whole blocks first, then tokens of a known
// shape (so a token in an assignment or a URL is counted as what it is), then headers, URLs,
// /run/secrets keys and assignments by key name, then the generic high-entropy fallback, then
// the lines printed from /run/secrets files.

/** The `s` group must mix letters and digits (a real key does; a word like `sk-learn-…` does not). */
const mixed = (m: RegExpExecArray): Span | null => {
  const s = m.indices?.groups?.s ?? m.indices?.[0]
  if (!s) return null
  const v = m.input.slice(s[0], s[1])
  return /[0-9]/.test(v) && /[A-Za-z]/.test(v) ? { start: s[0], end: s[1] } : null
}

const RULES: Rule[] = [
  // PEM (`RSA`/`EC`/`DSA`/`ENCRYPTED`/plain), OpenSSH and PGP private keys; certificates, public keys
  // and signatures are not secret and survive.
  { kind: 'private-key', scan: armoredBlocks(/PRIVATE KEY/) },
  // sops keeps its data key wrapped for each recipient as an age file or a PGP message; any armored
  // ciphertext goes with it (useless to a reader, and not ours to hand out).
  { kind: 'encrypted-block', scan: armoredBlocks(/^(?:AGE ENCRYPTED FILE|PGP MESSAGE)$/) },
  // sops-encrypted values: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]` (base64 has no `]`).
  { kind: 'sops-encrypted', find: /ENC\[AES256_GCM,[^[\]\s]*\]/gd },
  // age identities (bech32, upper case) and plugin identities (`AGE-PLUGIN-YUBIKEY-1…`).
  { kind: 'age-secret-key', find: /AGE-SECRET-KEY-1[0-9A-Z]{20,}|AGE-PLUGIN-[A-Z0-9]+-1[0-9A-Z]{20,}/gd },
  // An `Authorization`/`Proxy-Authorization` header in curl -v output, a JSON dump or a config: the
  // scheme stays, everything after it on the line (or inside the quotes) goes.
  {
    kind: 'authorization',
    find: /authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:Bearer|Basic|Token|Digest|Negotiate|NTLM|Bot|OAuth|AWS4-HMAC-SHA256|Key|ApiKey)[ \t]+)?/gid,
    pick: (m, text) => {
      const pos = m.index + m[0].length
      let end = pos
      while (end < text.length && !/["'`\n]/.test(text[end]!)) end++
      end = trimEnd(text, pos, end)
      if (end <= pos) return null
      return benignValue(text.slice(pos, end)) ? { start: pos, end, keep: true } : { start: pos, end }
    },
  },
  // GitHub: classic/OAuth/user-to-server/server/refresh tokens (`ghp_` … + 36) and fine-grained PATs.
  { kind: 'github-token', find: /(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})/gd },
  // GitLab: personal/deploy/runner/trigger/feed/… tokens (`glpat-`, `gldt-`, `glrt-`, …, with the
  // `.01.xxx` suffix of routable tokens) and runner registration tokens.
  { kind: 'gitlab-token', find: /(?<![A-Za-z0-9])(?:gl(?:pat|dt|rt|ptt|ft|imt|agent|soat|cbt|oas|ffct|cit)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*|GR1348941[A-Za-z0-9_-]{20,})/gd },
  // AWS access key ids: a four-letter type prefix and 16 upper-case base32 characters, nothing more.
  { kind: 'aws-access-key-id', find: /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}(?![A-Z0-9])/gd },
  // AWS secret keys have no shape of their own: found by their key name (`aws_secret_access_key`,
  // `AWS_SECRET_ACCESS_KEY`, `"SecretAccessKey"`).
  { kind: 'aws-secret-key', find: new RegExp(`secret[_-]?access[_-]?key${SEP}`, 'gid'), pick: keyValue() },
  // Slack bot/user/app/refresh/config tokens.
  { kind: 'slack-token', find: /(?<![A-Za-z0-9])(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})/gd },
  // Slack incoming webhooks: the path is the credential, the host stays.
  { kind: 'slack-webhook', find: /hooks\.slack\.com\/(?:services|workflows|triggers)\/(?<s>[A-Za-z0-9_/-]{8,})/gd },
  // Anthropic (`sk-ant-api03-…`), before the OpenAI shape that would also match it.
  { kind: 'anthropic-key', find: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}/gd },
  // OpenAI-style `sk-…`, `sk-proj-…`, `sk-svcacct-…`: not inside a longer word (`disk-…`, `task-…`),
  // and the body must mix letters and digits.
  { kind: 'openai-key', find: /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?(?<s>[A-Za-z0-9_-]{20,})/gd, pick: (m) => (mixed(m) ? { start: m.index, end: m.index + m[0].length } : null) },
  // Stripe secret and restricted keys.
  { kind: 'stripe-key', find: /(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/gd },
  // Google API keys.
  { kind: 'google-api-key', find: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/gd },
  // Hugging Face and Docker Hub access tokens.
  { kind: 'huggingface-token', find: /(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}/gd },
  { kind: 'docker-token', find: /(?<![A-Za-z0-9])dckr_pat_[A-Za-z0-9_-]{20,}/gd },
  // Tailscale auth/API/OAuth keys (`services.tailscale.authKeyFile` holds one).
  { kind: 'tailscale-key', find: /(?<![A-Za-z0-9])tskey-[a-z]+-[A-Za-z0-9-]{16,}/gd },
  // npm automation/publish tokens, and `_authToken`/`_auth`/`_password` in .npmrc lines
  // (`//any.registry.host/:_authToken=…`, any host).
  { kind: 'npm-token', find: /(?<![A-Za-z0-9])npm_[A-Za-z0-9]{30,}/gd },
  { kind: 'npm-token', find: /(?<![A-Za-z0-9])_(?:authToken|auth|password)(?<sep>[ \t]*=[ \t]*)/gd, pick: keyValue() },
  // JSON Web Tokens (Cachix auth tokens are JWTs): header and payload both start with `{"`.
  { kind: 'jwt', find: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/gd },
  // A bare `Bearer <token>` (outside an Authorization header): the token must not be a plain word.
  { kind: 'bearer-token', find: /(?<![A-Za-z0-9])[Bb]earer[ \t]+(?<s>[A-Za-z0-9._~+/=-]{12,})/gd, pick: (m) => {
    const s = m.indices!.groups!.s!
    return /[^A-Za-z]/.test(m.input.slice(s[0], s[1])) ? { start: s[0], end: s[1] } : null
  } },
  // Nix's `access-tokens = host=token …` (nix.conf, NIX_CONFIG, `--option access-tokens`): hosts stay.
  { kind: 'nix-access-token', scan: nixAccessTokens },
  // `scheme://user:password@host`: user and password go, scheme and host stay. The password may
  // contain `@` (the last one before the host wins); `user@host` without a password is kept.
  {
    kind: 'url-credentials',
    find: /:\/\/(?<s>[^\s/?#@:"'<>]+:[^\s/?#"'<>]*)@(?=[\w[])/gd,
    pick: (m) => {
      const s = m.indices!.groups!.s!
      return m.input.slice(s[0], s[1]).includes(MARKER_PREFIX) ? null : { start: s[0], end: s[1] }
    },
  },
  // A /run/secrets path used as a key (before the key names: `"/run/secrets/db-password": …` is
  // the file's contents, not a password assignment).
  { kind: 'run-secrets', find: new RegExp(`(?<open>")?${RUN_SECRETS}`, 'gd'), pick: secretPathValue },
  // Assignments by key name, in env files, INI, YAML, JSON, Nix, query strings, `--flag value`
  // and netrc: the key must END with the word (`DB_PASSWORD=`, `"client_secret":`, `githubToken:`),
  // so `passwordFile`, `secretFile`, `tokenPath`, `PasswordAuthentication` and prose survive.
  keyRule('password'),
  keyRule('secret'),
  keyRule('token'),
  keyRule('api-key'),
  keyRule('cookie'),
  // Any other `…key` (`signing_key`, `PresharedKey`, `encryptionKey`, not `publicKey`/`pubkey`):
  // only a high-entropy value, so `key = "name"` and cache keys of words survive.
  {
    kind: 'secret',
    find: new RegExp(`(?<![Pp][Uu][Bb](?:[Ll][Ii][Cc])?[_. -]?)(?:(?<![A-Za-z0-9])(?:key|Key|KEY)|(?<=[a-z0-9])Key)${SEP}`, 'gd'),
    pick: keyValue(highEntropy),
  },
  // Lines printed from /run/secrets files: see the module comment.
  { kind: 'run-secrets', scan: printedSecrets },
]

// the engine loops on `exec` and reads `indices`: a rule without `g` would never end
for (const rule of RULES) if ('find' in rule && !(rule.find.global && rule.find.hasIndices)) throw new Error(`redact rule ${rule.kind}: the pattern needs the g and d flags`)

// ---------------------------------------------------------------------------------------------
// Engine

function spansOf(rule: PatternRule, text: string): Span[] {
  const spans: Span[] = []
  const re = rule.find
  re.lastIndex = 0
  for (let m; (m = re.exec(text)); ) {
    const span = rule.pick ? rule.pick(m, text) : defaultPick(m)
    if (span) {
      if (!span.keep) spans.push(span)
      if (span.end > re.lastIndex) re.lastIndex = span.end
    } else if (m[0] === '') re.lastIndex++
  }
  return spans
}
function defaultPick(m: RegExpExecArray): Span {
  const s = m.indices?.groups?.s
  return s ? { start: s[0], end: s[1] } : { start: m.index, end: m.index + m[0].length }
}

function applyRule(rule: Rule, text: string, tally: Map<string, number>): string {
  const spans = 'scan' in rule ? rule.scan(text) : spansOf(rule, text)
  if (spans.length === 0) return text
  const parts: string[] = []
  let last = 0
  let n = 0
  for (const { start, end } of spans) {
    if (start < last || end <= start || text.startsWith(MARKER_PREFIX, start)) continue
    parts.push(text.slice(last, start), marker(rule.kind))
    last = end
    n++
  }
  if (n === 0) return text
  parts.push(text.slice(last))
  tally.set(rule.kind, (tally.get(rule.kind) ?? 0) + n)
  return parts.join('')
}

function toRedactions(tally: Map<string, number>): Redaction[] {
  return [...tally].map(([kind, count]) => ({ kind, count })).sort((a, b) => b.count - a.count || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0))
}

/**
 * All rules, again until nothing changes: a redaction can create a word boundary a pattern needs
 * (`AKIA…ghp_…` glued together: `ghp_` only starts a token once the key id before it is a
 * marker). Markers are never redacted again, so each pass that changes something leaves fewer
 * unredacted characters; a clean text takes one pass, a text with secrets usually two.
 */
const MAX_PASSES = 4
function redactInto(text: string, tally: Map<string, number>): string {
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const before = text
    for (const rule of RULES) text = applyRule(rule, text, tally)
    if (text === before) break
  }
  return text
}

/** Redacts secrets in text; each becomes `[REDACTED:<kind>]` (keeping a key name, URL scheme and host, auth scheme where that helps diagnosis). */
export function redactText(text: string): RedactResult {
  const tally = new Map<string, number>()
  const out = redactInto(text, tally)
  const redactions = toRedactions(tally)
  return { text: out, redactions, total: redactions.reduce((n, r) => n + r.count, 0) }
}

const KEY_IS_RUN_SECRETS = new RegExp(`^${RUN_SECRETS}$`)
/** Object keys that name a secret, per kind: the same key words as the text rules, at the END of the key. */
const KEY_KINDS: [RegExp, string][] = [
  [/authorization$/i, 'authorization'],
  [/secret[_-]?access[_-]?key$/i, 'aws-secret-key'],
  ...Object.entries(KEY_WORDS).map(([kind, words]): [RegExp, string] => [new RegExp(`(?:${words})$`, 'i'), kind]),
]
const GENERIC_KEY = /(?:(?<![A-Za-z0-9])(?:key|Key|KEY)|(?<=[a-z0-9])Key)$/
const PUBLIC_KEY = /pub(?:lic)?[_. -]?key$/i

/** The kind a value is redacted as because of its object KEY (`{ "password": "…" }`), if any. */
function kindForKey(key: string, value: string): string | undefined {
  if (benignValue(value)) return undefined
  if (KEY_IS_RUN_SECRETS.test(key)) return 'run-secrets'
  for (const [re, kind] of KEY_KINDS) if (re.test(key)) return kind
  if (GENERIC_KEY.test(key) && !PUBLIC_KEY.test(key) && highEntropy(value)) return 'secret'
  return undefined
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function redactDeep(value: unknown, tally: Map<string, number>, key?: string): unknown {
  if (typeof value === 'string') {
    const kind = key === undefined ? undefined : kindForKey(key, value)
    if (kind && !value.startsWith(MARKER_PREFIX)) {
      tally.set(kind, (tally.get(kind) ?? 0) + 1)
      return marker(kind)
    }
    return redactInto(value, tally)
  }
  if (Array.isArray(value)) {
    // lines of one text (a log tail, journal lines): redact them together so a key block or the
    // output after `cat /run/secrets/x` is seen across elements
    if (value.length > 1 && value.every((v) => typeof v === 'string' && !v.includes('\n'))) return redactInto(value.join('\n'), tally).split('\n')
    return value.map((v) => redactDeep(v, tally))
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, tally, k)
    return out
  }
  return value
}

/** Deep: every string in a JSON-able value (keys kept), one combined count. */
export function redactValue<T>(value: T): { value: T; redactions: Redaction[]; total: number } {
  const tally = new Map<string, number>()
  const out = redactDeep(value, tally) as T
  const redactions = toRedactions(tally)
  return { value: out, redactions, total: redactions.reduce((n, r) => n + r.count, 0) }
}

/** One line for the bundle: "12 secrets redacted (3 github-token, 2 password, …)" or "no secrets found". */
export function describeRedactions(r: Redaction[]): string {
  const list = r.filter((x) => x.count > 0)
  const total = list.reduce((n, x) => n + x.count, 0)
  if (total === 0) return 'no secrets found'
  return `${total} secret${total === 1 ? '' : 's'} redacted (${list.map((x) => `${x.count} ${x.kind}`).join(', ')})`
}
