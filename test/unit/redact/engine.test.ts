import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { describeRedactions, redactText, redactValue } from '../../../src/redact/engine.js'

// No secret sits literally in this file (secret scanners would rightly object): every sample is
// assembled at run time from fragments and a seeded generator.

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const UPPER_NUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const BASE64 = `${ALNUM}+/`
const BECH32 = 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L'
const HEX = '0123456789abcdef'
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'

/** A deterministic random-looking string: a real key's shape, never a real key. */
function rnd(n: number, seed: number, alphabet = ALNUM): string {
  let x = seed * 2654435761 + 1013904223
  let out = ''
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out += alphabet[(x >>> 8) % alphabet.length]
  }
  return out
}
const lines = (s: string, width = 64) => s.match(new RegExp(`.{1,${width}}`, 'g'))!.join('\n')
const BEGIN = (label: string) => `-----BEGIN ${label}-----`
const END = (label: string) => `-----END ${label}-----`
const PRIV = ['PRI', 'VATE KEY'].join('')

// the secret values (each one must be gone after redaction)
const ghp = ['gh', 'p_', rnd(36, 1)].join('')
const ghpat = ['github', '_pat_', rnd(22, 2), '_', rnd(59, 3)].join('')
const ghs = ['gh', 's_', rnd(36, 4)].join('')
const glpat = ['gl', 'pat-', rnd(20, 5)].join('')
const glrt = ['gl', 'rt-', rnd(24, 6)].join('')
const akia = ['AK', 'IA', rnd(16, 7, UPPER_NUM)].join('')
const awsSecret = rnd(40, 8, BASE64)
const xoxb = ['xo', 'xb-', rnd(12, 9, '0123456789'), '-', rnd(13, 10, '0123456789'), '-', rnd(24, 11)].join('')
const slackPath = ['T', rnd(8, 12, UPPER_NUM), '/B', rnd(8, 13, UPPER_NUM), '/', rnd(24, 14)].join('')
const skLegacy = ['s', 'k-', rnd(48, 15)].join('')
const skProj = ['s', 'k-proj-', rnd(40, 16), '_', rnd(40, 17)].join('')
const skAnt = ['s', 'k-ant-', 'api03-', rnd(80, 18), '-', rnd(6, 19)].join('')
const npmTok = ['np', 'm_', rnd(36, 20)].join('')
const npmrcTok = rnd(36, 21, `${HEX}-`)
const pem = (label: string, seed: number, bytes = 300) => {
  const body = lines(rnd(bytes, seed, BASE64))
  return { body, block: [BEGIN(label), body, END(label)].join('\n') }
}
const openssh = pem(`OPENSSH ${PRIV}`, 22)
const rsa = pem(`RSA ${PRIV}`, 23)
const pgpBody = lines(rnd(400, 24, BASE64))
const pgp = [BEGIN(`PGP ${PRIV} BLOCK`), '', pgpBody, `=${rnd(4, 25, BASE64)}`, END(`PGP ${PRIV} BLOCK`)].join('\n')
const ageKey = ['AGE-', 'SECRET-KEY-1', rnd(58, 26, BECH32)].join('')
const sopsData = rnd(32, 27, BASE64)
const sopsEnc = ['EN', 'C[AES256_GCM,data:', sopsData, ',iv:', rnd(43, 28, BASE64), '=,tag:', rnd(22, 29, BASE64), '==,type:str]'].join('')
const ageBlockBody = lines(rnd(200, 30, BASE64))
const jwt = ['ey', 'J', rnd(30, 31), '.ey', 'J', rnd(60, 32), '.', rnd(43, 33)].join('')
const bearer = rnd(40, 34)
const basic = Buffer.from(['deploy', ':', rnd(12, 35)].join('')).toString('base64')
const tailscale = ['ts', 'key-auth-', rnd(12, 36), 'CNTRL-', rnd(33, 37)].join('')
const google = ['AI', 'za', rnd(35, 38)].join('')
const stripe = ['s', 'k_live_', rnd(24, 39)].join('')
const hf = ['h', 'f_', rnd(34, 40)].join('')
const docker = ['dc', 'kr_pat_', rnd(27, 41)].join('')
const wgKey = `${rnd(43, 42, BASE64)}=`
const signingKey = rnd(44, 43)
const pw = (seed: number) => `${rnd(10, seed)}!${rnd(4, seed + 1)}`

interface SecretSample {
  name: string
  text: string
  /** what must be gone */
  secrets: string[]
  kind: string
  /** what must survive (key names, hosts, surrounding log lines) */
  keep?: string[]
}

const SECRETS: SecretSample[] = [
  { name: 'env-file short password keys', text: `DB_PASS=${rnd(16, 90)}\nMYSQL_PWD=${rnd(12, 91)}`, secrets: [rnd(16, 90), rnd(12, 91)], kind: 'password', keep: ['DB_PASS=', 'MYSQL_PWD='] },
  { name: 'Cookie header', text: `> Cookie: session=${rnd(24, 92)}; theme=dark`, secrets: [rnd(24, 92)], kind: 'cookie', keep: ['> Cookie: '] },
  { name: 'OpenSSH private key block', text: `writing key:\n${openssh.block}\ndone`, secrets: openssh.body.split('\n'), kind: 'private-key', keep: ['writing key:\n', '\ndone'] },
  { name: 'RSA PEM key in a build log', text: `building '/nix/store/${rnd(32, 44, NIX32)}-x.drv'...\n${rsa.block}\nerror: builder failed`, secrets: rsa.body.split('\n'), kind: 'private-key', keep: ['error: builder failed', 'building'] },
  { name: 'PGP private key block', text: pgp, secrets: pgpBody.split('\n'), kind: 'private-key' },
  { name: 'private key cut off at the end of a log', text: `x\n${BEGIN(`EC ${PRIV}`)}\n${lines(rnd(200, 45, BASE64))}`, secrets: lines(rnd(200, 45, BASE64)).split('\n'), kind: 'private-key', keep: ['x\n'] },
  { name: 'log tail starting inside a private key', text: `${lines(rnd(200, 46, BASE64))}\n${END(`OPENSSH ${PRIV}`)}\nbuild finished`, secrets: lines(rnd(200, 46, BASE64)).split('\n'), kind: 'private-key', keep: ['build finished'] },
  { name: 'Authorization: Bearer (curl -v)', text: `> GET /api HTTP/1.1\n> Authorization: Bearer ${bearer}\n> Accept: */*`, secrets: [bearer], kind: 'authorization', keep: ['Authorization: Bearer ', '> Accept: */*'] },
  { name: 'Authorization: Basic in curl -H', text: `curl -H "Authorization: Basic ${basic}" https://cache.example.org/nix-cache-info`, secrets: [basic], kind: 'authorization', keep: ['https://cache.example.org/nix-cache-info'] },
  { name: 'Authorization in a JSON dump', text: `{"headers":{"authorization":"token ${rnd(30, 47)}","accept":"json"}}`, secrets: [rnd(30, 47)], kind: 'authorization', keep: ['"accept":"json"'] },
  { name: 'bare Bearer token', text: `request failed, sent Bearer ${bearer} to upstream`, secrets: [bearer], kind: 'bearer-token', keep: ['to upstream'] },
  { name: 'GitHub classic token', text: `export GITHUB_TOKEN=${ghp}`, secrets: [ghp], kind: 'github-token', keep: ['GITHUB_TOKEN='] },
  { name: 'GitHub fine-grained PAT', text: `token: ${ghpat}`, secrets: [ghpat], kind: 'github-token' },
  { name: 'GitHub app token in a clone URL', text: `fetching https://x-access-token:${ghs}@github.com/o/r.git`, secrets: [ghs], kind: 'github-token', keep: ['@github.com/o/r.git'] },
  { name: 'GitLab personal access token', text: `GITLAB_TOKEN="${glpat}"`, secrets: [glpat], kind: 'gitlab-token' },
  { name: 'GitLab runner token', text: `gitlab-runner[12]: token=${glrt} registered`, secrets: [glrt], kind: 'gitlab-token', keep: ['registered'] },
  { name: 'AWS access key id', text: `aws_access_key_id = ${akia}`, secrets: [akia], kind: 'aws-access-key-id' },
  { name: 'AWS secret access key', text: `[default]\naws_secret_access_key = ${awsSecret}\nregion = eu-central-1`, secrets: [awsSecret], kind: 'aws-secret-key', keep: ['region = eu-central-1', 'aws_secret_access_key = '] },
  { name: 'Slack bot token', text: `SLACK_BOT=${xoxb}`, secrets: [xoxb], kind: 'slack-token' },
  { name: 'Slack webhook', text: `posting to https://hooks.slack.com/services/${slackPath}`, secrets: [slackPath], kind: 'slack-webhook', keep: ['https://hooks.slack.com/services/'] },
  { name: 'OpenAI legacy key', text: `OPENAI=${skLegacy}`, secrets: [skLegacy], kind: 'openai-key' },
  { name: 'OpenAI project key', text: `using key ${skProj} for llm`, secrets: [skProj], kind: 'openai-key', keep: ['for llm'] },
  { name: 'Anthropic key', text: `x-api: ${skAnt}`, secrets: [skAnt], kind: 'anthropic-key' },
  { name: 'npm token', text: `npm token create → ${npmTok}`, secrets: [npmTok], kind: 'npm-token' },
  { name: '.npmrc _authToken on any registry host', text: `//npm.internal.example:4873/:_authToken=${npmrcTok}`, secrets: [npmrcTok], kind: 'npm-token', keep: ['//npm.internal.example:4873/:_authToken='] },
  { name: 'env file password', text: `DB_PASSWORD=${pw(48)}\nDB_USER=app`, secrets: [pw(48)], kind: 'password', keep: ['DB_PASSWORD=', 'DB_USER=app'] },
  { name: 'YAML password with spaces', text: `db:\n  password: correct ${rnd(6, 50)} battery staple\n  user: app`, secrets: [`correct ${rnd(6, 50)} battery staple`], kind: 'password', keep: ['  user: app'] },
  { name: 'YAML block scalar password', text: `db:\n  password: |\n    ${pw(70)}\n    ${pw(71)}\n  user: app`, secrets: [pw(70), pw(71)], kind: 'password', keep: ['  password: |\n', '\n  user: app'] },
  { name: 'JSON password', text: `{"user":"app","password":"${pw(51)}"}`, secrets: [pw(51)], kind: 'password', keep: ['"user":"app"'] },
  { name: 'Nix string password', text: `initialPassword = "${pw(52)}";`, secrets: [pw(52)], kind: 'password', keep: ['initialPassword = "'] },
  { name: 'passwd: value', text: `passwd: ${pw(53)}`, secrets: [pw(53)], kind: 'password' },
  { name: 'netrc password', text: `machine cache.example.org login nix password ${pw(54)}`, secrets: [pw(54)], kind: 'password', keep: ['machine cache.example.org login nix password '] },
  { name: '--password flag', text: `mysql --user app --password ${pw(55)} -h db`, secrets: [pw(55)], kind: 'password', keep: ['-h db'] },
  { name: 'client_secret assignment', text: `client_secret=${rnd(32, 56)}`, secrets: [rnd(32, 56)], kind: 'secret' },
  { name: 'X-Api-Key header', text: `X-Api-Key: ${rnd(32, 57)}`, secrets: [rnd(32, 57)], kind: 'api-key' },
  { name: 'token in a query string', text: `GET https://api.example.org/v1/items?token=${rnd(24, 58)}&page=2`, secrets: [rnd(24, 58)], kind: 'token', keep: ['&page=2', 'https://api.example.org/v1/items?token='] },
  { name: 'token assignment of no known shape', text: `HCLOUD_TOKEN=${rnd(64, 59)}`, secrets: [rnd(64, 59)], kind: 'token' },
  { name: 'URL with credentials', text: `DATABASE_URL=postgres://app:${pw(60)}@db.example.org:5432/app`, secrets: [pw(60), 'app:'], kind: 'url-credentials', keep: ['postgres://', '@db.example.org:5432/app'] },
  { name: 'age secret key', text: `# created: 2024-01-01\n# public key: age1${rnd(58, 61, BECH32.toLowerCase())}\n${ageKey}`, secrets: [ageKey], kind: 'age-secret-key', keep: ['# public key: age1'] },
  { name: 'sops encrypted value', text: `db_host: db\ndb_password: ${sopsEnc}`, secrets: [sopsData], kind: 'sops-encrypted', keep: ['db_host: db'] },
  { name: 'sops age-wrapped data key', text: `sops:\n    age:\n        - enc: |\n            ${BEGIN('AGE ENCRYPTED FILE')}\n${ageBlockBody}\n            ${END('AGE ENCRYPTED FILE')}`, secrets: ageBlockBody.split('\n'), kind: 'encrypted-block', keep: ['sops:\n    age:'] },
  { name: 'JSON with a /run/secrets path as key', text: `{"/run/secrets/db-password": "${pw(62)}"}`, secrets: [pw(62)], kind: 'run-secrets', keep: ['/run/secrets/db-password'] },
  { name: 'output of cat /run/secrets/…', text: `[root@host:~]# cat /run/secrets/db-password\n${pw(63)}\n[root@host:~]# systemctl restart db`, secrets: [pw(63)], kind: 'run-secrets', keep: ['cat /run/secrets/db-password', 'systemctl restart db'] },
  { name: 'set -x trace of $(cat /run/secrets/…)', text: `app-start: ++ cat /run/agenix/api\napp-start: + exec app --key-from-env ${rnd(20, 64)}\napp-start: + true`, secrets: [rnd(20, 64)], kind: 'run-secrets', keep: ['app-start: + true', 'app-start: + '] },
  { name: 'head output of several secret files', text: `==> /run/secrets/a <==\n${rnd(20, 65)}\n\n==> /run/secrets/b <==\n${rnd(20, 66)}`, secrets: [rnd(20, 65), rnd(20, 66)], kind: 'run-secrets' },
  { name: 'grep output from /run/secrets', text: `/run/secrets/smtp:${rnd(20, 67)}`, secrets: [rnd(20, 67)], kind: 'run-secrets', keep: ['/run/secrets/smtp:'] },
  { name: 'JWT (Cachix auth token)', text: `cachix authtoken ${jwt}`, secrets: [jwt], kind: 'jwt' },
  { name: 'Nix access-tokens', text: `access-tokens = github.com=${ghp} gitlab.example.org=PAT:${rnd(20, 68)}`, secrets: [ghp, rnd(20, 68)], kind: 'nix-access-token', keep: ['github.com=', 'gitlab.example.org='] },
  { name: 'WireGuard PrivateKey', text: `[Interface]\nPrivateKey = ${wgKey}\nListenPort = 51820`, secrets: [wgKey], kind: 'secret', keep: ['ListenPort = 51820'] },
  { name: 'high-entropy *_key assignment', text: `signing_key: ${signingKey}`, secrets: [signingKey], kind: 'secret' },
  { name: 'Tailscale auth key', text: `tailscale up --auth-key=${tailscale}`, secrets: [tailscale], kind: 'tailscale-key' },
  { name: 'Google API key', text: `maps: ${google}`, secrets: [google], kind: 'google-api-key' },
  { name: 'Stripe live key', text: `STRIPE=${stripe}`, secrets: [stripe], kind: 'stripe-key' },
  { name: 'Hugging Face token', text: `HF=${hf}`, secrets: [hf], kind: 'huggingface-token' },
  { name: 'Docker Hub PAT', text: `docker login -u me -p ${docker}`, secrets: [docker], kind: 'docker-token' },
]

const STORE = `/nix/store/${rnd(32, 100, NIX32)}`
const GIT_REV = rnd(40, 101, HEX)
const SRI = `sha256-${rnd(43, 102, BASE64)}=`
const SRI2 = `sha256-${rnd(43, 103, BASE64)}=`

/** Innocent look-alikes: all must survive byte-exact. */
const INNOCENT: [string, string][] = [
  ['words that end in pass', 'compass: north\nbypass=true\nsurpass the limit'],
  ['a cookie setting name', 'services.nginx.cookieFile = "/etc/nginx/cookie"'],
  ['Nix store path', `${STORE}-hello-2.12.1/bin/hello`],
  ['drv path', `building '${STORE}-nixos-system-host-24.05.20240601.${GIT_REV.slice(0, 7)}.drv'...`],
  ['nix log hint', `error: builder for '${STORE}-foo-1.0.drv' failed with exit code 2;\n       For full logs, run 'nix log ${STORE}-foo-1.0.drv'.`],
  ['git revision', `rev = "${GIT_REV}"; shortRev = "${GIT_REV.slice(0, 7)}";`],
  ['flake.lock entry', `"locked": {\n  "lastModified": 1717000000,\n  "narHash": "${SRI}",\n  "owner": "NixOS",\n  "rev": "${GIT_REV}",\n  "type": "github"\n}`],
  ['hash mismatch error', `error: hash mismatch in fixed-output derivation '${STORE}-src.drv':\n         specified: ${SRI}\n            got:    ${SRI2}`],
  ['nix base32 hash', `sha256 = "${rnd(52, 104, NIX32)}";`],
  ['UUID', `fileSystems."/".device = "/dev/disk/by-uuid/${rnd(8, 105, HEX)}-${rnd(4, 106, HEX)}-${rnd(4, 107, HEX)}-${rnd(4, 108, HEX)}-${rnd(12, 109, HEX)}";`],
  ['machine id and boot id', `machine-id ${rnd(32, 110, HEX)}\n-- Boot ${rnd(32, 111, HEX)} --`],
  ['systemd unit names', 'sops-install-secrets.service, agenix.service, systemd-cryptsetup@luks\\x2droot.service, user@1000.service failed'],
  ['journal line about secrets', 'systemd[1]: Started Secret Service. gnome-keyring-daemon: unlocked login keyring'],
  ['password as a word in prose', 'sudo: a password is required; the password prompt timed out'],
  ['sshd option', 'PasswordAuthentication no\nPermitRootLogin prohibit-password\nKbdInteractiveAuthentication no'],
  ['nsswitch passwd line', 'passwd:    files systemd\ngroup:     files [success=merge] systemd'],
  ['secretFile option with its path', 'services.foo.secretFile = "/run/secrets/foo";\nservices.bar.passwordFile = config.sops.secrets."bar/password".path;'],
  ['sops.secrets declarations', 'sops.secrets."db/password".owner = "postgres";\nsops.secrets."db-password" = { };'],
  ['secret file path in an error', 'cat: /run/secrets/db: No such file or directory\nsops-install-secrets: /run/secrets/x: permission denied'],
  ['credential paths in units', 'LoadCredential=db:/run/secrets/db\nEnvironmentFile=/run/secrets/env\nBindReadOnlyPaths=/run/secrets/x:/etc/x'],
  ['references instead of values', 'password=$DB_PASSWORD\ntoken = "${GITHUB_TOKEN}"\napi_key: <your key>\nsecret = @secret@'],
  ['sk- inside longer words', `/dev/disk/by-id/nvme-disk-${rnd(24, 112)} task-${rnd(24, 113)} risk-assessment-2024`],
  ['sk- in a package name', 'sk-learn is not scikit-learn'],
  ['IP addresses', 'listening on 192.168.1.10:8080 and [2001:db8::1]:443, peer 10.0.0.1'],
  ['email addresses', 'Contact alice@example.org or bob+nix@sub.example.com'],
  ['URLs without credentials', 'https://cache.nixos.org/nix-cache-info git+ssh://git@github.com/o/r.git ssh://git@github.com:22/o/r postgres://localhost:5432/db http://[::1]:8080/'],
  ['narinfo base64', `StorePath: ${STORE}-x\nNarHash: sha256:${rnd(52, 114, NIX32)}\nSig: cache.nixos.org-1:${rnd(86, 115, BASE64)}==`],
  ['public keys', `trusted-public-keys = cache.nixos.org-1:${rnd(43, 116, BASE64)}=\nPublicKey = ${rnd(43, 117, BASE64)}=\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${rnd(43, 118, BASE64)} root@host`],
  ['certificate and public key blocks', [BEGIN('CERTIFICATE'), lines(rnd(300, 119, BASE64)), END('CERTIFICATE'), BEGIN('PUBLIC KEY'), lines(rnd(100, 120, BASE64)), END('PUBLIC KEY')].join('\n')],
  ['age recipient', `age1${rnd(58, 121, BECH32.toLowerCase())}`],
  ['nix.conf secret-key-files', 'secret-key-files = /etc/nix/cache-priv-key.pem\nnetrc-file = /etc/nix/netrc'],
  ['ssh passphrase prompt', "Enter passphrase for key '/root/.ssh/id_ed25519':"],
  ['JSON parser message', 'SyntaxError: Unexpected token } in JSON at position 5; max_tokens=100'],
  ['Bearer as a word', 'Bearer authentication failed; bearer token missing'],
  ['low-entropy key names', 'key = "nixos";\nprimaryKey: id\ncache-key: linux-nix-store'],
  ['netrc-like words in prose', 'using the default password for machine setup; machine host login'],
  ['error with password word', 'psql: error: password authentication failed for user "app"\nFailed to read password: No such file or directory'],
  ['unit description with Token', 'Started Token Refresher. tokenFile = "/run/keys/token";'],
]

describe('redactText: secrets', () => {
  it('has a corpus of at least 25 secret shapes', () => expect(SECRETS.length).toBeGreaterThanOrEqual(25))

  it.each(SECRETS.map((s) => [s.name, s] as const))('%s', (_, s) => {
    const r = redactText(s.text)
    for (const secret of s.secrets) expect(r.text, `${secret} left in\n${r.text}`).not.toContain(secret)
    expect(r.redactions.map((x) => x.kind)).toContain(s.kind)
    expect(r.text).toContain(`[REDACTED:${s.kind}]`)
    for (const keep of s.keep ?? []) expect(r.text).toContain(keep)
    expect(r.total).toBe(r.redactions.reduce((n, x) => n + x.count, 0))
    // idempotent
    const again = redactText(r.text)
    expect(again.text).toBe(r.text)
    expect(again.total).toBe(0)
  })

  it('keeps the key name, the URL scheme and host, the auth scheme', () => {
    expect(redactText(`password=${pw(200)}`).text).toBe('password=[REDACTED:password]')
    expect(redactText(`https://me:${pw(201)}@git.example.org/repo.git`).text).toBe('https://[REDACTED:url-credentials]@git.example.org/repo.git')
    expect(redactText(`Authorization: Bearer ${bearer}`).text).toBe('Authorization: Bearer [REDACTED:authorization]')
    expect(redactText(`"/run/secrets/x": "${pw(202)}"`).text).toBe('"/run/secrets/x": "[REDACTED:run-secrets]"')
  })

  it('redacts the value of a quoted key with an unterminated quote up to the end of the line', () => {
    expect(redactText(`"password": "${pw(203)}\nnext`).text).toBe('"password": "[REDACTED:password]\nnext')
  })
})

describe('redactText: innocent look-alikes', () => {
  it('has a corpus of at least 25 look-alikes', () => expect(INNOCENT.length).toBeGreaterThanOrEqual(25))

  it.each(INNOCENT)('%s survives', (_, text) => {
    const r = redactText(text)
    expect(r.text).toBe(text)
    expect(r.total).toBe(0)
    expect(r.redactions).toEqual([])
  })

  it('all of them together survive, and next to a secret too', () => {
    const all = INNOCENT.map(([, t]) => t).join('\n')
    expect(redactText(all).text).toBe(all)
    const mixed = `${all}\nGITHUB_TOKEN=${ghp}\n${all}`
    const r = redactText(mixed)
    expect(r.text).toBe(`${all}\nGITHUB_TOKEN=[REDACTED:github-token]\n${all}`)
    expect(r.redactions).toEqual([{ kind: 'github-token', count: 1 }])
  })
})

describe('counts', () => {
  it('counts per kind, most frequent first', () => {
    const text = [`a ${ghp}`, `b ${['gh', 'o_', rnd(36, 300)].join('')}`, `c ${ghs}`, `DB_PASSWORD=${pw(301)}`, `"password": "${pw(302)}"`, `id ${akia}`].join('\n')
    const r = redactText(text)
    expect(r.redactions).toEqual([
      { kind: 'github-token', count: 3 },
      { kind: 'password', count: 2 },
      { kind: 'aws-access-key-id', count: 1 },
    ])
    expect(r.total).toBe(6)
  })

  it('counts a secret once', () => {
    expect(redactText(`GITHUB_TOKEN=${ghp}`).redactions).toEqual([{ kind: 'github-token', count: 1 }])
    expect(redactText(`Authorization: Bearer ${jwt}`).redactions).toEqual([{ kind: 'authorization', count: 1 }])
    expect(redactText(`db_password: ${sopsEnc}`).redactions).toEqual([{ kind: 'sops-encrypted', count: 1 }])
  })

  it('an empty text has nothing', () => expect(redactText('')).toEqual({ text: '', redactions: [], total: 0 }))
})

describe('redactValue', () => {
  const input = {
    generatedAt: '2024-06-01T00:00:00.000Z',
    nbsVersion: '0.1.0',
    count: 3,
    ok: true,
    nothing: null,
    status: { hostname: 'host', notes: [`remote uses ${ghp}`, 'fine'], generation: { generation: 42, store: `${STORE}-nixos-system` } },
    buildLogTail: ['building foo', ...openssh.block.split('\n'), 'error: foo failed'],
    failedUnits: [{ unit: 'db.service', description: 'DB', journal: ['db-start: ++ cat /run/secrets/db', `db-start: + PGPASS=${pw(400)} psql`, 'db-start: + exit 1'] }],
    config: { password: pw(401), secretFile: '/run/secrets/x', apiKey: rnd(32, 402), name: 'x', '/run/secrets/y': pw(403) },
  }
  const frozen = JSON.stringify(input)

  it('redacts every string, keeps keys and other values, counts once over all', () => {
    const { value, redactions, total } = redactValue(input)
    const out = JSON.stringify(value)
    for (const s of [ghp, ...openssh.body.split('\n'), pw(400), pw(401), rnd(32, 402), pw(403)]) expect(out).not.toContain(s)
    // object keys (array indices aside: lines of one key block collapse into one marker)
    const keys = (v: unknown): string[] => (Array.isArray(v) ? v.flatMap(keys) : v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [k, ...keys(x)]) : [])
    expect(keys(value)).toEqual(keys(input))
    expect(value.count).toBe(3)
    expect(value.ok).toBe(true)
    expect(value.nothing).toBeNull()
    expect(value.status.generation).toEqual(input.status.generation)
    expect(value.status.notes).toEqual(['remote uses [REDACTED:github-token]', 'fine'])
    expect(value.buildLogTail).toEqual(['building foo', '[REDACTED:private-key]', 'error: foo failed'])
    expect(value.failedUnits[0]!.journal).toEqual(['db-start: ++ cat /run/secrets/db', 'db-start: + [REDACTED:run-secrets]', 'db-start: + exit 1'])
    expect(value.config).toEqual({ password: '[REDACTED:password]', secretFile: '/run/secrets/x', apiKey: '[REDACTED:api-key]', name: 'x', '/run/secrets/y': '[REDACTED:run-secrets]' })
    expect(redactions).toEqual([
      { kind: 'run-secrets', count: 2 },
      { kind: 'api-key', count: 1 },
      { kind: 'github-token', count: 1 },
      { kind: 'password', count: 1 },
      { kind: 'private-key', count: 1 },
    ])
    expect(total).toBe(6)
    expect(JSON.stringify(input)).toBe(frozen) // not mutated
  })

  it('is idempotent and leaves clean values equal', () => {
    const once = redactValue(input).value
    const twice = redactValue(once)
    expect(twice.value).toEqual(once)
    expect(twice.total).toBe(0)
    const clean = { a: [1, 'x', { b: STORE }], c: INNOCENT.map(([, t]) => t) }
    expect(redactValue(clean)).toEqual({ value: clean, redactions: [], total: 0 })
  })

  it('passes scalars through', () => {
    expect(redactValue(`x ${ghp}`).value).toBe('x [REDACTED:github-token]')
    expect(redactValue(5)).toEqual({ value: 5, redactions: [], total: 0 })
    expect(redactValue(null).value).toBeNull()
  })
})

describe('describeRedactions', () => {
  it('says so when nothing was found', () => {
    expect(describeRedactions([])).toBe('no secrets found')
    expect(describeRedactions([{ kind: 'jwt', count: 0 }])).toBe('no secrets found')
  })
  it('counts and lists the kinds', () => {
    expect(describeRedactions([{ kind: 'jwt', count: 1 }])).toBe('1 secret redacted (1 jwt)')
    expect(describeRedactions([
      { kind: 'github-token', count: 3 },
      { kind: 'password', count: 2 },
      { kind: 'url-credentials', count: 7 },
    ])).toBe('12 secrets redacted (3 github-token, 2 password, 7 url-credentials)')
    expect(describeRedactions(redactText(`a ${ghp} b ${ghs} password=${pw(500)}`).redactions)).toBe('3 secrets redacted (2 github-token, 1 password)')
  })
})

// Not timing tests (the figures are in bench/): a bound 5–10× above what a loaded 2-core machine
// takes, so only backtracking or rescanning (seconds to minutes at these sizes) fails them.
const LINEAR_BOUND_MS = 5000

describe('performance: linear time', () => {
  it('redacts a 5 MB build log with secrets sprinkled in, without backtracking', () => {
    const filler = [
      `building '${STORE}-hello-2.12.1.drv'...`,
      `copying path '${STORE}-glibc-2.39-52' from 'https://cache.nixos.org'...`,
      'checking for gcc... gcc; checking whether the C compiler works... yes',
      `unpacking source archive /build/source.tar.gz ${SRI}`,
      `  CC       src/main.o  -DVERSION="${GIT_REV}" -I${STORE}-zlib-1.3/include`,
      'systemd[1]: Started Session 12 of User alice. password prompt, token refresh, secretFile = "/run/secrets/x"',
    ]
    const secrets = [`GITHUB_TOKEN=${ghp}`, `Authorization: Bearer ${bearer}`, `DB_PASSWORD=${pw(600)}`, `postgres://app:${pw(601)}@db/app`, jwt]
    const out: string[] = []
    let size = 0
    for (let i = 0; size < 5 * 2 ** 20; i++) {
      const line = i % 1000 === 999 ? secrets[(i / 1000) % secrets.length | 0]! : filler[i % filler.length]!
      out.push(line)
      size += line.length + 1
    }
    const text = out.join('\n')
    const t = performance.now()
    const r = redactText(text)
    const ms = performance.now() - t
    expect(ms).toBeLessThan(LINEAR_BOUND_MS)
    expect(r.total).toBe(Math.floor(out.length / 1000))
    for (const s of [ghp, bearer, pw(600), pw(601), jwt]) expect(r.text).not.toContain(s)
  })

  // each input is a pattern's worst case if it backtracked or rescanned: 1 MiB each
  const M = 2 ** 20
  const worst: [string, string][] = [
    ['one long word', 'a'.repeat(M)],
    ['one long base64 line', rnd(M, 700, BASE64)],
    ['password= repeated', 'password='.repeat(M / 9)],
    ['unterminated quotes', 'password="'.repeat(M / 10)],
    ['BEGIN without END', `${BEGIN(`RSA ${PRIV}`)}\n`.repeat(M / 32)],
    ['END without BEGIN', `${END(`RSA ${PRIV}`)}\n`.repeat(M / 30)],
    ['scheme separators', '://a:'.repeat(M / 5)],
    ['/run/secrets keys', '"/run/secrets/x'.repeat(M / 15)],
    ['cat /run/secrets lines', 'cat /run/secrets/x\n'.repeat(M / 19)],
    ['many cats before a path', `${'cat '.repeat(M / 4)}/run/secrets/x`],
    ['key = repeated', ' key = '.repeat(M / 7)],
    ['token flags', '--token '.repeat(M / 8)],
    ['Authorization repeated', 'Authorization: '.repeat(M / 15)],
    ['JWT prefixes', 'eyJaaaaaaaaaa.'.repeat(M / 14)],
    ['access-tokens repeated', 'access-tokens = '.repeat(M / 16)],
    ['ENC[ without ]', 'ENC[AES256_GCM,'.repeat(M / 15)],
  ]
  it.each(worst)('%s: no backtracking', (_, text) => {
    const t = performance.now()
    redactText(text)
    expect(performance.now() - t).toBeLessThan(LINEAR_BOUND_MS)
  })
})

describe('properties', () => {
  const pieces = ['password', 'token', 'secret', 'key', 'Key', 'api_key', '=', ': ', ' ', '"', "'", '\n', '--', '/run/secrets/x', 'cat ', '++ ', '+ ', '$ ', 'https://', 'u:p@h', '@', ':', 'Bearer ', 'Authorization: ', ghp, jwt, akia, `${BEGIN(`RSA ${PRIV}`)}\n`, `${END(`RSA ${PRIV}`)}\n`, rnd(20, 800, BASE64), 'access-tokens = ', 'a=b ', 'ENC[AES256_GCM,data:x]', '[REDACTED:x]', 'files', 'no']
  it('redacting is idempotent and never throws', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 24 }), (parts) => {
        const once = redactText(parts.join(''))
        const twice = redactText(once.text)
        expect(twice.text).toBe(once.text)
        expect(twice.total).toBe(0)
      }),
      { numRuns: 3000 },
    )
  })
})
