/**
 * The secret kinds as data: one entry per shape, applied in order by the engine (engine.ts). Every
 * secret becomes `[REDACTED:<kind>]`; where it helps a diagnosis the part around it survives: the
 * key name of an assignment (`password=[REDACTED:password]`), the scheme and host of a URL
 * (`https://[REDACTED:url-credentials]@git.example.org/…`), the auth scheme of a header
 * (`Authorization: Bearer [REDACTED:authorization]`), the name of a Nix signing key.
 *
 * Look-alikes survive: Nix store paths, drv paths, git revisions, SRI / nix base32 hashes, UUIDs,
 * machine ids, public keys, certificates and signatures, URLs without a password, option names
 * such as `secretFile`/`passwordFile` and the paths they hold, test output such as `PASS: name`.
 *
 * `/run/secrets` (and `/run/secrets-for-users`, `/run/agenix`, systemd's `/run/credentials`): a
 * path there is NOT a secret and is always kept; its CONTENTS are (see `printedSecrets` and
 * `secretPathValue` in scanners.ts).
 */
import {
  armoredBlocks,
  basicCredentials,
  benignValue,
  highEntropy,
  keyValue,
  MARKER_PREFIX,
  nixAccessTokens,
  nixSecretKey,
  printedSecrets,
  RUN_SECRETS,
  secretPathValue,
  SEP,
  trimEnd,
  type Span,
} from './scanners.js'

/** A regex rule: every match is handed to `pick`, which says what to redact (the `s` group by default). */
export interface PatternRule {
  kind: string
  /** global and `d` (indices): the engine reads `indices` */
  find: RegExp
  pick?: (m: RegExpExecArray, text: string) => Span | null
}
/** A rule that needs more than one match: it returns its spans in order. */
export interface ScanRule {
  kind: string
  scan: (text: string) => Span[]
}
export type Rule = PatternRule | ScanRule
/** Key names (the END of a key: `DB_PASSWORD`, `githubToken`, `client_secret`) per kind. */
export const KEY_WORDS = {
  // also the env-file short forms DB_PASS= and MYSQL_PWD=; a bare `pass` only before `=`, so
  // test output (`PASS: name`, `--- PASS: TestX`) is not a password
  password: String.raw`pass(?:word|wd|phrase)|(?<=[_.-])pass|(?<![a-z0-9])pass(?=["']?[ \t]*=)|(?<![a-z])pwd`,
  // WireGuard/WPA pre-shared keys (`psk = "…"`, `pskRaw`, `PresharedKey`) are secrets whatever they look like
  secret: String.raw`secret[_-]?key|private[_-]?key|secret|(?<![a-z])psk(?:raw)?|pre[_-]?shared[_-]?key`,
  token: String.raw`token`,
  'api-key': String.raw`api[_-]?key|apikey|access[_-]?key`,
  // `Cookie: session=…` headers and `session_cookie=…` values carry a login
  cookie: String.raw`cookie`,
  // kubeconfig: the client key and certificate (base64 of PEM) identify a user of the cluster
  'kubeconfig-credential': String.raw`client-key-data|client-certificate-data`,
} as const

/** A cookie is a login when some value in it looks like a session id, not `theme=dark`. */
const sessionLike = (v: string) => /[A-Za-z0-9+/=_%.-]{16,}/.test(v) || highEntropy(v)

const keyRule = (kind: keyof typeof KEY_WORDS): PatternRule => ({
  kind,
  find: new RegExp(`(?:${KEY_WORDS[kind]})${SEP}`, 'gid'),
  pick: keyValue(kind === 'cookie' ? sessionLike : undefined),
})
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

export const RULES: Rule[] = [
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
  // Nix signing secret keys (`nix key generate-secret`, `secret-key-files`): `name:` + base64 of 64
  // bytes (the literal `:` first keeps the scan linear). A signature has the same shape; the pick
  // proves which it is (see nixSecretKey).
  { kind: 'nix-signing-key', find: /:(?<s>[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])/gd, pick: nixSecretKey },
  // crypt(3) password hashes (`/etc/shadow`, `hashedPassword`, htpasswd): offline-crackable.
  { kind: 'password-hash', find: /(?<![\w$])\$(?:1|5|6|y|gy|7|2[abxy]?|apr1|argon2(?:id|i|d)|scrypt|pbkdf2[\w-]*)\$[./A-Za-z0-9$=,+-]{20,}/gd },
  { kind: 'password-hash', find: /(?<=^|[\s"':])\{SSHA?\}(?<s>[A-Za-z0-9+/]{20,}={0,2})/gmd },
  // .pgpass: `host:port:database:user:password`, one per line.
  { kind: 'pgpass', find: /^[\w.*-]+:(?:\d{1,5}|\*):[\w*.-]+:[\w*.@-]+:(?<s>[^\s:].*)$/gmd },
  // An `Authorization`/`Proxy-Authorization` header in curl -v output, a JSON dump or a config: the
  // scheme stays, everything after it on the line (or inside the quotes) goes.
  {
    kind: 'authorization',
    find: /authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:Bearer|Basic|Token|Digest|Negotiate|NTLM|Bot|OAuth|AWS4-HMAC-SHA256|Key|ApiKey)[ \t]+)?/gid,
    pick: (m, text) => {
      const pos = m.index + m[0].length
      let end = pos
      // after a one-token scheme, the credential is one token: `Basic in curl -H` is prose
      if (/(?:Bearer|Basic|Token)[ \t]+$/i.test(m[0])) {
        while (end < text.length && /[A-Za-z0-9._~+/=:-]/.test(text[end]!)) end++
        const v = text.slice(pos, end)
        return v.length >= 8 && !/^[a-z]+$/.test(v) ? { start: pos, end } : end > pos ? { start: pos, end, keep: true } : null
      }
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
  // Google OAuth client secrets.
  { kind: 'google-oauth-secret', find: /(?<![A-Za-z0-9])GOCSPX-[A-Za-z0-9_-]{28}/gd },
  { kind: 'stripe-key', find: /(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/gd },
  // Google API keys.
  { kind: 'google-api-key', find: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/gd },
  // Azure SAS tokens: the `sig=` of a signed URL or connection string.
  { kind: 'azure-sas', find: /[?&;]sig=(?<s>[A-Za-z0-9%+/=]{20,})/gd },
  // More providers with a prefix of their own: SendGrid, Shopify, DigitalOcean, PyPI, Vault,
  // Grafana service accounts, Linear, Postman, Mailgun, Twilio API keys.
  { kind: 'sendgrid-key', find: /(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/gd },
  { kind: 'shopify-token', find: /(?<![A-Za-z0-9])shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}/gd },
  { kind: 'digitalocean-token', find: /(?<![A-Za-z0-9])do[opr]_v1_[a-f0-9]{64}/gd },
  { kind: 'pypi-token', find: /(?<![A-Za-z0-9])pypi-AgE[A-Za-z0-9_-]{50,}/gd },
  { kind: 'vault-token', find: /(?<![A-Za-z0-9])hv[sbr]\.[A-Za-z0-9_-]{24,}/gd },
  { kind: 'grafana-token', find: /(?<![A-Za-z0-9])gl(?:sa|c)_[A-Za-z0-9_=+/-]{32,}/gd },
  { kind: 'linear-key', find: /(?<![A-Za-z0-9])lin_(?:api|oauth)_[A-Za-z0-9]{40}/gd },
  { kind: 'postman-key', find: /(?<![A-Za-z0-9])PMAK-[a-f0-9]{24}-[a-f0-9]{34}/gd },
  { kind: 'mailgun-key', find: /(?<![A-Za-z0-9])key-[a-f0-9]{32}(?![A-Za-z0-9])/gd },
  { kind: 'twilio-key', find: /(?<![A-Za-z0-9])SK[a-f0-9]{32}(?![A-Za-z0-9])/gd },
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
    find: /:\/\/(?<s>[^\s/?#@:"'<>]+:[^\s/?#"'<>]*|:[^\s/?#"'<>]+)@(?=[\w[])/gd,
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
  keyRule('kubeconfig-credential'),
  // Docker's config.json `"auth": "<base64 of user:password>"` (and any `auth` key holding one)
  { kind: 'docker-auth', find: new RegExp(`(?<![A-Za-z0-9])auth${SEP}`, 'gid'), pick: keyValue(basicCredentials) },
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