/**
 * HAND-MADE test data: Nix's `--log-format internal-json` stderr as each Nix users run writes it.
 * Not captured: Debian ships only Nix 2.8 (captures-nix28.ts holds its real output, and the 2.8
 * entry here is modelled on those captures). Every other line is modelled on the source named in
 * its comment, read at that tag: NixOS/nix (`src/libutil/logging.cc` JSONLogger and SimpleLogger,
 * `src/libutil/position.cc` Pos::print, `src/libutil/error.cc` showErrorInfo, `src/libstore/build/…`
 * failure messages, `src/libcmd/installables.cc` throwBuildErrors), lix-project/lix (`lix/libutil/…`,
 * `lix/libstore/…`, `lix/libcmd/installables.cc`) and DeterminateSystems/nix-src (same paths as
 * upstream). Store hashes and build output are made up.
 */

/** What differs between the versions, with where each fact was read. */
export interface NixVariant {
  name: string
  /** the repository and tag the entry was modelled on */
  source: string
  /** `start` records carry `parent` (NixOS/nix ≥ 2.18.0 logging.cc startActivity; Lix; Determinate) */
  parent: boolean
  /**
   * Under IN_SYSTEMD=1 every record starts with `<3>`: the JSON logger writes through the simple
   * logger (`prevLogger.log(lvlError, "@nix " + …)`, which prefixes `<N>` when IN_SYSTEMD=1) up to
   * 2.26.x and in Lix; from 2.27.0 it writes to the fd itself (`writeLine(fd, …)`).
   */
  syslogPrefix: boolean
  /** every record gets `"sid":"<uuid v7>"` (Determinate v3.20.0+, logging.cc JSONLogger::write) */
  sid: boolean
  /**
   * a `result` of type 110 with a BuildResult `payload` (no `fields`) as each build ends
   * (Determinate: derivation-building-goal.cc doneFailure, build-result.cc to_json)
   */
  buildResultPayload: boolean
  /**
   * `file` is `Pos::print(out, showOrigin = true)`: `<origin>:<line>[:<col>]` (NixOS/nix ≥ 2.20.0
   * logging.cc to_json + position.cc; Lix lix/libutil/logging.cc + position.cc; Determinate);
   * before, the origin alone (2.13–2.19 PosAdapter::print) or ErrPos::file (≤ 2.12).
   */
  fileHasPosition: boolean
  /** the rendered `msg` of an evaluation error, traces first (≥ 2.13), blank lines inside (≤ 2.19) */
  evalMsg: (at: string) => string
  /** a builder that exited with `code` */
  builderFailed: (drv: string, out: string, code: number) => string
  /** a derivation whose `n` dependencies failed */
  dependencyFailed: (drv: string, out: string, n: number) => string
  /** the `--keep-going` summary naming every failed installable */
  keepGoingSummary: (drvs: string[]) => string
  /** this machine cannot build it: another platform */
  wrongPlatform: (drv: string) => string
  /** how this version's summary names a derivation (`drv`, or the `drv^out` installable) */
  installable: (drv: string) => string
}

const ESC = '\u001b'
const RED = `${ESC}[31;1m`
const MAGENTA = `${ESC}[35;1m`
const BLUE = `${ESC}[34;1m`
const NORMAL = `${ESC}[0m`
const ERROR = `${RED}error:${NORMAL} `

export const SOURCE = '/nix/store/91irihm0cm1c0qk3haq9jskhcsjadzhm-source'
export const FLAKE_NIX = `${SOURCE}/flake.nix`
export const DRV_A = '/nix/store/9x3lfq0b2ld7wz1s8c5vkmyh4nrj6ga2-hello-2.12.drv'
export const OUT_A = '/nix/store/p1g8cvwbhzz5dk4n6rs0yl3a7mqfj2xi-hello-2.12'
export const DRV_B = '/nix/store/2fk7c9w1ysm0lqd6hxrnb4pa8zv3gj5i-openssl-3.0.drv'
export const OUT_B = '/nix/store/q8l5vzn3kd1s0w9ym2xb7rhf4g6cpaj0-openssl-3.0'
export const DRV_TOP = '/nix/store/1a7sjxhl1hdfxp631fpfq5vcym3pjb7x-nixos-system-demo.drv'
export const OUT_TOP = '/nix/store/zd9c3m1yq5lbw0f8r7kxps4gnh2av6ij-nixos-system-demo'
export const DRV_ARM = '/nix/store/8s2ys741baq2m8f3gdhdmayrh9jpmx28-nixos-system-demo-aarch64.drv'
const FEATURES = 'benchmark, big-parallel, kvm, nixos-test'

// ── evaluation error texts (the message itself is the same everywhere) ──

const FRAME = ['            9|       args = [ "-c" "echo > $out" ];', '           10|       PATH = [ undefinedPackage ];', `             |                ${RED}^${NORMAL}`, '           11|     };']

/** 2.8: message first, blank lines around the position (real capture, captures-nix28.ts undefinedVariableJson). */
const evalMsg28 = (at: string) =>
  [`${ERROR}undefined variable '${MAGENTA}undefinedPackage${NORMAL}'`, '', `       ${BLUE}at ${MAGENTA}${at}${NORMAL}:`, '', ...FRAME].join('\n')

/**
 * 2.13–2.19: traces first, each `… ` frame and `at` followed by a blank line (NixOS/nix 2.18.0
 * tests/lang/eval-fail-assert.err.exp, src/libutil/error.cc showErrorInfo).
 */
const evalMsg218 = (at: string) =>
  [
    `${RED}error:${NORMAL}`,
    `       … while evaluating the attribute '${MAGENTA}nixosConfigurations.demo${NORMAL}'`,
    '',
    `         ${BLUE}at ${MAGENTA}${SOURCE}/flake.nix:3:5${NORMAL}:`,
    '',
    '            2|   outputs = { self }: {',
    '            3|     nixosConfigurations.demo = derivation {',
    `             |     ${RED}^${NORMAL}`,
    '',
    `       ${RED}error:${NORMAL} undefined variable '${MAGENTA}undefinedPackage${NORMAL}'`,
    '',
    `       ${BLUE}at ${MAGENTA}${at}${NORMAL}:`,
    '',
    ...FRAME,
  ].join('\n')

/** 2.20+, Lix, Determinate: the same without the blank lines (NixOS/nix 2.24.0 tests/functional/lang/eval-fail-scope-5.err.exp). */
const evalMsg224 = (at: string) =>
  [
    `${RED}error:${NORMAL}`,
    `       … while evaluating the attribute '${MAGENTA}nixosConfigurations.demo${NORMAL}'`,
    `         ${BLUE}at ${MAGENTA}${SOURCE}/flake.nix:3:5${NORMAL}:`,
    '            2|   outputs = { self }: {',
    '            3|     nixosConfigurations.demo = derivation {',
    `             |     ${RED}^${NORMAL}`,
    '',
    `       ${RED}error:${NORMAL} undefined variable '${MAGENTA}undefinedPackage${NORMAL}'`,
    `       ${BLUE}at ${MAGENTA}${at}${NORMAL}:`,
    ...FRAME,
  ].join('\n')

// ── build failures ──

/**
 * ≤ 2.28 and Lix: `builder for '%s' %s` (NixOS/nix 2.24.0 src/libstore/build/derivation-goal.cc;
 * Lix lix/libstore/build/derivation-goal.cc); no log tail in JSON mode (JSONLogger::isVerbose).
 */
const builderFor = (drv: string, _out: string, code: number) => `${ERROR}builder for '${MAGENTA}${drv}${NORMAL}' failed with exit code ${code}`
/** ≤ 2.28 and Lix: `%s dependencies of derivation '%s' failed to build` (same files). */
const dependenciesOf = (drv: string, _out: string, n: number) => `${ERROR}${MAGENTA}${n}${NORMAL} dependencies of derivation '${MAGENTA}${drv}${NORMAL}' failed to build`
/** ≥ 2.29: `Cannot build '%s'.` + `Reason: builder %s.` + showKnownOutputs (NixOS/nix 2.29.0 src/libstore/build/derivation-goal.cc; 2.35.0 derivation-building-goal.cc; Determinate HEAD). */
const cannotBuild = (drv: string, out: string, code: number) =>
  `${ERROR}Cannot build '${MAGENTA}${drv}${NORMAL}'.\n       Reason: ${RED}builder failed with exit code ${code}${NORMAL}.\n       Output paths:\n         ${MAGENTA}${out}${NORMAL}`
const cannotBuildDeps = (drv: string, out: string, n: number) =>
  `${ERROR}Cannot build '${MAGENTA}${drv}${NORMAL}'.\n       Reason: ${RED}${n} ${n === 1 ? 'dependency' : 'dependencies'} failed${NORMAL}.\n       Output paths:\n         ${MAGENTA}${out}${NORMAL}`

/** `build of %s failed` with quoteStrings of the list, the list as one hint argument (coloured as one). */
const summary = (drvs: string[]) => `${ERROR}build of ${MAGENTA}${drvs.map((d) => `'${d}'`).join(', ')}${NORMAL} failed`

/**
 * ≤ 2.29 and Lix: `a '%s' with features {%s} is required to build '%s', but I am a '%s' with
 * features {%s}` (NixOS/nix 2.28.0 local-derivation-goal.cc, 2.29.0 derivation-builder.cc; Lix
 * lix/libstore/build/local-derivation-goal.cc; real 2.8 capture in real-nix.test.ts).
 */
const aIsRequired = (drv: string) =>
  `${ERROR}a '${MAGENTA}aarch64-linux${NORMAL}' with features {${MAGENTA}${NORMAL}} is required to build '${MAGENTA}${drv}${NORMAL}', but I am a '${MAGENTA}x86_64-linux${NORMAL}' with features {${MAGENTA}${FEATURES}${NORMAL}}`
/** 2.30–2.33: `Reason: required system or feature not available` (NixOS/nix 2.30.0 src/libstore/unix/build/derivation-builder.cc startBuilder; 2.33.0 derivation-building-goal.cc). */
const requiredSystem = (drv: string) =>
  `${ERROR}Cannot build '${MAGENTA}${drv}${NORMAL}'.\n       Reason: ${RED}required system or feature not available${NORMAL}\n       Required system: '${MAGENTA}aarch64-linux${NORMAL}' with features {}\n       Current system: '${MAGENTA}x86_64-linux${NORMAL}' with features {${FEATURES}}`
/** ≥ 2.34 and Determinate: `reject()` (NixOS/nix 2.35.0 src/libstore/build/derivation-building-goal.cc; Determinate HEAD, same file). */
const platformMismatch = (drv: string) =>
  `${ERROR}Cannot build '${MAGENTA}${drv}${NORMAL}'.\n       Reason: ${RED}platform mismatch${NORMAL}\n       Required system: '${MAGENTA}aarch64-linux${NORMAL}'\n       Current system: '${MAGENTA}x86_64-linux${NORMAL}'`

const bare = (drv: string) => drv
/** DerivedPath::Built::to_string: `drv^out` (NixOS/nix 2.35.0 src/libstore/derived-path.cc). */
const builtOut = (drv: string) => `${drv}^out`

/** One entry per Nix people run, oldest first. */
export const NIX_VARIANTS: NixVariant[] = [
  {
    name: 'Nix 2.8',
    source: 'NixOS/nix 2.8.0 (Debian 12); real captures in captures-nix28.ts',
    parent: false, // logging.cc startActivity: "FIXME: handle parent"
    syslogPrefix: true,
    sid: false,
    buildResultPayload: false,
    fileHasPosition: false, // ErrPos::file
    evalMsg: evalMsg28,
    builderFailed: builderFor,
    dependencyFailed: dependenciesOf,
    // `nix-store --realise --keep-going`: Store::buildPaths `showPaths(failed)` of drv paths (src/libstore/build/entry-points.cc); real capture in real-nix.test.ts
    keepGoingSummary: summary,
    wrongPlatform: aIsRequired,
    installable: bare,
  },
  {
    name: 'Nix 2.18',
    source: 'NixOS/nix 2.18.0',
    parent: true,
    syslogPrefix: true,
    sid: false,
    buildResultPayload: false,
    fileHasPosition: false, // PosAdapter::print: the origin alone
    evalMsg: evalMsg218,
    builderFailed: builderFor,
    dependencyFailed: dependenciesOf,
    // `nix build` rethrows the first failure (installables.cc); nix-store's summary: drvReq->to_string, a bare path (entry-points.cc)
    keepGoingSummary: summary,
    wrongPlatform: aIsRequired,
    installable: bare,
  },
  {
    name: 'Nix 2.24',
    source: 'NixOS/nix 2.24.0',
    parent: true,
    syslogPrefix: true, // still prevLogger.log (logging.cc JSONLogger::write)
    sid: false,
    buildResultPayload: false,
    fileHasPosition: true,
    evalMsg: evalMsg224,
    builderFailed: builderFor,
    dependencyFailed: dependenciesOf,
    keepGoingSummary: summary, // installables.cc throwBuildErrors (2.23+): failedResult->path.to_string(store)
    wrongPlatform: aIsRequired,
    installable: builtOut,
  },
  {
    name: 'Nix 2.28',
    source: 'NixOS/nix 2.28.0',
    parent: true,
    syslogPrefix: false, // 2.27+: writeLine(fd, …)
    sid: false,
    buildResultPayload: false,
    fileHasPosition: true,
    evalMsg: evalMsg224,
    builderFailed: builderFor,
    dependencyFailed: dependenciesOf,
    keepGoingSummary: summary,
    wrongPlatform: aIsRequired,
    installable: builtOut,
  },
  {
    name: 'Nix 2.29',
    source: 'NixOS/nix 2.29.0',
    parent: true,
    syslogPrefix: false,
    sid: false,
    buildResultPayload: false,
    fileHasPosition: true,
    evalMsg: evalMsg224,
    builderFailed: cannotBuild,
    dependencyFailed: cannotBuildDeps,
    keepGoingSummary: summary,
    wrongPlatform: aIsRequired, // 2.29.0 derivation-builder.cc still says `a '%s' … is required to build`
    installable: builtOut,
  },
  {
    name: 'Nix 2.30–2.33',
    source: 'NixOS/nix 2.30.0, 2.33.0',
    parent: true,
    syslogPrefix: false,
    sid: false,
    buildResultPayload: false,
    fileHasPosition: true,
    evalMsg: evalMsg224,
    builderFailed: cannotBuild,
    dependencyFailed: cannotBuildDeps,
    keepGoingSummary: summary,
    wrongPlatform: requiredSystem,
    installable: builtOut,
  },
  {
    name: 'Nix 2.34+',
    source: 'NixOS/nix 2.35.0',
    parent: true,
    syslogPrefix: false,
    sid: false,
    buildResultPayload: false,
    fileHasPosition: true,
    evalMsg: evalMsg224,
    builderFailed: cannotBuild,
    dependencyFailed: cannotBuildDeps,
    keepGoingSummary: summary,
    wrongPlatform: platformMismatch,
    installable: builtOut,
  },
  {
    name: 'Lix',
    source: 'lix-project/lix 2.93.0 … 2.95.3',
    parent: true,
    syslogPrefix: true, // lix/libutil/logging.cc JSONLogger::write: prevLogger.log(lvlError, …); SimpleLogger `<N>` when IN_SYSTEMD=1
    sid: false,
    buildResultPayload: false,
    fileHasPosition: true, // lix/libutil/position.cc Pos::print(showOrigin)
    evalMsg: evalMsg224,
    builderFailed: builderFor,
    dependencyFailed: dependenciesOf,
    keepGoingSummary: summary, // lix/libcmd/installables.cc throwBuildErrors: path.to_string(store)
    wrongPlatform: aIsRequired,
    installable: builtOut,
  },
  {
    name: 'Determinate Nix',
    source: 'DeterminateSystems/nix-src v3.20.0 … HEAD',
    parent: true,
    syslogPrefix: false,
    sid: true,
    buildResultPayload: true,
    fileHasPosition: true,
    evalMsg: evalMsg224,
    builderFailed: cannotBuild,
    dependencyFailed: cannotBuildDeps,
    keepGoingSummary: summary,
    wrongPlatform: platformMismatch,
    installable: builtOut,
  },
]

/** A session id as Determinate writes it (boost time_generator_v7, logging.cc getSessionId). */
export const SID = '0198c2f4-6b1e-7c3a-9d2f-5e8a1b4c7d90'

type Value = string | number | boolean | bigint | null | Value[] | { [key: string]: Value }

/**
 * One record line as `JSONLogger::write` writes it: nlohmann's `json.dump(-1, ' ', false, replace)`
 * of a std::map, so compact with keys sorted; ids are 64-bit (`pid << 32 | counter`), given as
 * bigint. `systemd`: written under IN_SYSTEMD=1.
 */
export function nixRecord(v: NixVariant, fields: { [key: string]: Value }, systemd = false): string {
  const all: { [key: string]: Value } = { ...fields }
  if (all.action === 'start' && !v.parent) delete all.parent
  if (v.sid) all.sid = SID
  return `${systemd && v.syslogPrefix ? '<3>' : ''}@nix ${dump(all)}`
}

function dump(x: Value): string {
  if (typeof x === 'bigint') return x.toString()
  if (Array.isArray(x)) return `[${x.map(dump).join(',')}]`
  if (x !== null && typeof x === 'object') {
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${dump(x[k]!)}`)
      .join(',')}}`
  }
  return JSON.stringify(x)
}

/** An error record (logEI): `msg`, `raw_msg` (the hint alone) and the position fields, null when unknown. */
function errorRecord(v: NixVariant, msg: string, systemd: boolean, pos?: { file: string; line: number; column: number }, trace?: Value[], raw = msg.replace(/^\S*error:\S* /, '').replace(/\n {7}/g, '\n')): string {
  return nixRecord(v, { action: 'msg', column: pos?.column ?? null, file: pos?.file ?? null, level: 0, line: pos?.line ?? null, msg, raw_msg: raw, ...(trace ? { trace } : {}) }, systemd)
}

/** The `file` field for a position, as this version writes it. */
function fileField(v: NixVariant, origin: string, line: number, column: number): string {
  return v.fileHasPosition ? `${origin}:${line}:${column}` : origin
}

/** `nix eval` of the undefined-variable fixture flake: the error at flake.nix:10:16. `showTrace`: with `--show-trace`. */
export function evalErrorStream(v: NixVariant, opts: { systemd?: boolean; showTrace?: boolean } = {}): string {
  const pid = 0x1f2a3n << 32n
  const systemd = opts.systemd ?? false
  const trace = opts.showTrace
    ? [{ column: 5, file: fileField(v, FLAKE_NIX, 3, 5), line: 3, raw_msg: `while evaluating the attribute '${MAGENTA}nixosConfigurations.demo${NORMAL}'` }]
    : undefined
  return [
    nixRecord(v, { action: 'start', id: pid, level: 4, parent: 0, text: `copying '/home/alice/nixos-config' to the store`, type: 0 }, systemd),
    nixRecord(v, { action: 'stop', id: pid }, systemd),
    errorRecord(v, v.evalMsg(`${FLAKE_NIX}:10:16`), systemd, { file: fileField(v, FLAKE_NIX, 10, 16), line: 10, column: 16 }, trace, `undefined variable '${MAGENTA}undefinedPackage${NORMAL}'`),
  ].join('\n')
}

/** APPLY's own error: `attribute 'system' missing` inside nbs's `--apply` expression (position «string»:1:12). */
export const APPLY_TEXT = 'c: let t = c.config.system.build.toplevel; in {\n  drv = t.drvPath; out = t.outPath;\n}'
export function applyErrorStream(v: NixVariant): string {
  // ≤ 2.12 ErrPos::file is the source text itself (real 2.8: see real-nix.test.ts); 2.13+ the origin `«string»`
  const file = v.name === 'Nix 2.8' ? APPLY_TEXT : fileField(v, '«string»', 1, 12)
  const msg = `${ERROR}attribute '${MAGENTA}system${NORMAL}' missing\n       ${BLUE}at ${MAGENTA}«string»:1:12${NORMAL}:\n            1| c: let t = c.config.system.build.toplevel; in {\n             |            ${RED}^${NORMAL}`
  return errorRecord(v, msg, false, { file, line: 1, column: 12 })
}

/**
 * `--keep-going` build of two installables, both failing (`hello` exit 2, `openssl` exit 1), as
 * the version's `nix build` (or 2.8/2.18 `nix-store --realise`) writes it: the realise, builds and
 * copy-paths aggregates, the "will be built" list, two builds with phases and log lines, the
 * progress counters, then at the end the errors (Store::buildPaths / throwBuildErrors log every
 * failure but the first, then the summary naming both).
 */
export function keepGoingStream(v: NixVariant, opts: { systemd?: boolean } = {}): string {
  const systemd = opts.systemd ?? false
  const id = (n: number) => (0x2b4c1n << 32n) + BigInt(n)
  const r = (fields: { [key: string]: Value }) => nixRecord(v, fields, systemd)
  const progress = (done: number, expected: number, running: number, failed: number) =>
    r({ action: 'result', fields: [done, expected, running, failed], id: id(2), type: 105 })
  const log = (build: number, line: string) => r({ action: 'result', fields: [line], id: id(build), type: 101 })
  const buildResult = (build: number, drv: string, code: number) =>
    v.buildResultPayload
      ? [
          r({
            action: 'result',
            id: id(build),
            payload: { errorMsg: `builder failed with exit code ${code}`, isNonDeterministic: false, path: `${drv}^*`, startTime: 1760000000, status: 'PermanentFailure', stopTime: 1760000004, success: false, timesBuilt: 0 },
            type: 110,
          }),
        ]
      : []
  return [
    r({ action: 'start', id: id(1), level: 0, parent: 0, text: '', type: 102 }),
    r({ action: 'start', id: id(2), level: 0, parent: 0, text: '', type: 104 }),
    r({ action: 'start', id: id(3), level: 0, parent: 0, text: '', type: 103 }),
    r({ action: 'msg', level: 3, msg: 'these 2 derivations will be built:' }),
    r({ action: 'msg', level: 3, msg: `  ${DRV_A}` }),
    r({ action: 'msg', level: 3, msg: `  ${DRV_B}` }),
    progress(0, 2, 0, 0),
    r({ action: 'start', fields: [DRV_A, '', 1, 1], id: id(4), level: 3, parent: id(1), text: `building '${DRV_A}'`, type: 105 }),
    r({ action: 'start', fields: [DRV_B, '', 1, 1], id: id(5), level: 3, parent: id(1), text: `building '${DRV_B}'`, type: 105 }),
    progress(0, 2, 2, 0),
    r({ action: 'result', fields: ['buildPhase'], id: id(4), type: 104 }),
    log(4, 'checking for gcc... gcc'),
    log(5, 'running tests'),
    log(4, 'hello.c:3:1: error: expected declaration'),
    log(5, 'FAIL: test_ssl_new (1 of 212)'),
    log(4, 'make: *** [Makefile:3: all] Error 2'),
    progress(0, 2, 1, 1),
    ...buildResult(4, DRV_A, 2),
    r({ action: 'stop', id: id(4) }),
    progress(0, 2, 0, 2),
    ...buildResult(5, DRV_B, 1),
    r({ action: 'stop', id: id(5) }),
    r({ action: 'stop', id: id(3) }),
    r({ action: 'stop', id: id(2) }),
    r({ action: 'stop', id: id(1) }),
    errorRecord(v, v.builderFailed(DRV_B, OUT_B, 1), systemd),
    errorRecord(v, v.builderFailed(DRV_A, OUT_A, 2), systemd),
    errorRecord(v, v.keepGoingSummary([v.installable(DRV_A), v.installable(DRV_B)]), systemd),
  ].join('\n')
}

/** A toplevel whose one dependency failed: the builder's error, then the toplevel's. */
export function dependencyStream(v: NixVariant): string {
  const id = (n: number) => (0x3c5d2n << 32n) + BigInt(n)
  const r = (fields: { [key: string]: Value }) => nixRecord(v, fields)
  return [
    r({ action: 'start', id: id(1), level: 0, parent: 0, text: '', type: 102 }),
    r({ action: 'start', fields: [DRV_A, '', 1, 1], id: id(2), level: 3, parent: id(1), text: `building '${DRV_A}'`, type: 105 }),
    r({ action: 'result', fields: ['make: *** [Makefile:3: all] Error 2'], id: id(2), type: 101 }),
    errorRecord(v, v.builderFailed(DRV_A, OUT_A, 2), false),
    r({ action: 'stop', id: id(2) }),
    r({ action: 'stop', id: id(1) }),
    errorRecord(v, v.dependencyFailed(DRV_TOP, OUT_TOP, 1), false),
  ].join('\n')
}

/** A toplevel for aarch64-linux on an x86_64-linux machine without builders. */
export function wrongPlatformStream(v: NixVariant, opts: { systemd?: boolean } = {}): string {
  const systemd = opts.systemd ?? false
  const id = (n: number) => (0x4d6e3n << 32n) + BigInt(n)
  const r = (fields: { [key: string]: Value }) => nixRecord(v, fields, systemd)
  return [
    r({ action: 'msg', level: 3, msg: 'this derivation will be built:' }),
    r({ action: 'msg', level: 3, msg: `  ${DRV_ARM}` }),
    r({ action: 'start', id: id(1), level: 0, parent: 0, text: '', type: 102 }),
    r({ action: 'stop', id: id(1) }),
    errorRecord(v, v.wrongPlatform(DRV_ARM), systemd),
  ].join('\n')
}
