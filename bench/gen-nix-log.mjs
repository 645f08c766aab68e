// A realistic `nix build --log-format internal-json -v` stream (Nix ≥ 2.18 shape, with `parent`),
// modelled on real records (reference/nix.md §1.8, Debian Nix 2.8 captures): evaluation messages,
// substitutions (108 → 100 → 101 with byte progress), interleaved builds (start 105, phases 104,
// build log lines 101 — the bulk —, stop), 105 counters on the 103/104 aggregates, 106 on the
// realise activity, msgs at levels 0–4 (with `trace:` at level 0). Deterministic (seeded).
//
//   node bench/gen-nix-log.mjs --lines N [--out FILE] [--fail] [--no-prefix] [--seed S] [--jobs J] [--fetches F]
//
// Shapes: --jobs is how many builds run at once (default 3, their lines interleaved); --fetches the
// number of substitutions (each a short-lived 108 > 100 > 101 activity tree with byte progress;
// default a third of the derivations).
// Prints to stdout without --out. --fail ends with a failed build: its log lines, the ≤ 2.28
// `builder for '…' failed with exit code 2` error and `1 dependencies of derivation '…' failed to
// build`. --no-prefix drops `@nix ` (the json-log-path form, and what jq reads). The line count is
// N give or take the few closing records. Also importable: nixLogLines({ lines, fail, seed, prefix, jobs, fetches }).
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

const LOCAL_ID = 5415953760418n // pid << 32 | counter, as Nix makes them
const DAEMON_ID = 17752014662402062n // a daemon worker's ids: above 2^53
const CACHE = 'https://cache.nixos.org'
const PHASES = ['unpackPhase', 'patchPhase', 'configurePhase', 'buildPhase', 'checkPhase', 'installPhase', 'fixupPhase']
const PHASE_SHARE = [0.03, 0.01, 0.2, 0.6, 0.1, 0.04, 0.02]
const NAMES = ['openssl-3.0.14', 'systemd-256.8', 'linux-6.6.63', 'glibc-2.40-36', 'python3-3.12.8', 'nginx-1.26.2', 'postgresql-16.6', 'curl-8.11.0', 'util-linux-2.39.4', 'mesa-24.2.8', 'rustc-1.83.0', 'git-2.47.1']
const ESC = '\u001b'

/** Deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Yields the stream's lines (without newline). */
export function* nixLogLines({ lines = 100_000, fail = false, seed = 1, prefix = true, jobs = 3, fetches: fetchCount } = {}) {
  const rand = rng(seed)
  const int = (n) => Math.floor(rand() * n)
  const pick = (xs) => xs[int(xs.length)]
  const hash = () => {
    let s = ''
    for (let i = 0; i < 32; i++) s += '0123456789abcdfghijklmnpqrsvwxyz'[int(32)]
    return s
  }
  const P = prefix ? '@nix ' : ''
  let count = 0
  let localN = 0n
  let daemonN = 0n
  const localId = () => String(LOCAL_ID + localN++)
  const daemonId = () => String(DAEMON_ID + daemonN++)
  // keys in Nix's (alphabetical) order
  const line = (l) => (count++, l)
  const start = (id, level, parent, text, type, fields) =>
    line(`${P}{"action":"start",${fields ? `"fields":${JSON.stringify(fields)},` : ''}"id":${id},"level":${level},"parent":${parent},"text":${JSON.stringify(text)},"type":${type}}`)
  const stop = (id) => line(`${P}{"action":"stop","id":${id}}`)
  const result = (id, type, fields) => line(`${P}{"action":"result","fields":${JSON.stringify(fields)},"id":${id},"type":${type}}`)
  const msg = (level, text) => line(`${P}{"action":"msg","level":${level},"msg":${JSON.stringify(text)}}`)
  const errMsg = (text, raw) =>
    line(`${P}{"action":"msg","column":null,"file":null,"level":0,"line":null,"msg":${JSON.stringify(text)},"raw_msg":${JSON.stringify(raw)}}`)

  const total = Math.max(3, Math.ceil(lines / 400)) // derivations to build (more than the lines allow)
  const fetches = fetchCount ?? Math.max(1, Math.round(total / 3))
  const drvs = Array.from({ length: total }, (_, i) => `/nix/store/${hash()}-${pick(NAMES).replace(/-[\d.]+.*$/, '')}-${i}.drv`)
  const system = `/nix/store/${hash()}-nixos-system-demo-24.11.20241231.drv`

  // header: evaluation, the plan, the aggregates
  yield msg(4, "evaluating file '/nix/store/2d0jcp8rl3jvi4jsqyv9v5y9bg2w0vx2-source/flake.nix'")
  const query = localId()
  yield start(query, 6, 0, 'querying info about missing paths', 0)
  yield stop(query)
  yield msg(3, `these ${total + 1} derivations will be built:`)
  for (const d of drvs.slice(0, 40)) yield msg(3, `  ${d}`)
  yield msg(3, `these ${fetches} paths will be fetched (${(fetches * 4.2).toFixed(2)} MiB download, ${(fetches * 17.9).toFixed(2)} MiB unpacked):`)
  const realise = localId()
  const builds = localId()
  const copies = localId()
  yield start(realise, 0, 0, '', 102)
  yield start(builds, 0, 0, '', 104)
  yield start(copies, 0, 0, '', 103)
  yield result(builds, 105, [0, total + 1, 0, 0])
  yield result(copies, 105, [0, fetches, 0, 0])
  yield result(realise, 106, [101, fetches * 4_404_019])
  yield result(realise, 106, [100, fetches * 18_769_100])

  // substitutions: 108 substitute > 100 copyPath > 101 fileTransfer, with byte progress
  let fetched = 0
  for (let f = 0; f < fetches; f++) {
    const path = `/nix/store/${hash()}-${pick(NAMES)}`
    const [sub, copy, dl] = [localId(), localId(), localId()]
    const size = 1_000_000 + int(8_000_000)
    const nar = size * 4
    yield start(sub, 0, 0, '', 108, [path, CACHE])
    yield start(copy, 3, sub, `copying path '${path}' from '${CACHE}'`, 100, [path, CACHE, 'local'])
    yield result(copies, 105, [fetched, fetches, 1, 0])
    yield start(dl, 4, copy, `downloading '${CACHE}/nar/${hash()}.nar.xz'`, 101, [`${CACHE}/nar/${hash()}.nar.xz`])
    for (let k = 1; k <= 4; k++) yield result(dl, 105, [Math.round((size * k) / 4), size, 0, 0])
    yield stop(dl)
    yield result(copy, 105, [nar, nar, 0, 0])
    yield stop(copy)
    yield stop(sub)
    fetched++
    yield result(copies, 105, [fetched, fetches, 0, 0])
  }

  // builds, up to `jobs` at once, lines interleaved
  const lineFor = (d) => {
    const r = int(100)
    const file = `src/${pick(['core', 'net', 'util', 'io'])}/${pick(['main', 'buffer', 'parse', 'hash', 'conn'])}${int(90)}.c`
    if (d.phase === 'configurePhase') return r < 70 ? `checking for ${pick(['stdint.h', 'unistd.h', 'pthread_create', 'gcc option -fPIC', 'dlopen in -ldl'])}... ${pick(['yes', 'no', 'yes (cached)'])}` : `config.status: creating ${file.replace('.c', '.h')}`
    if (d.phase === 'checkPhase') return r < 10 ? `${ESC}[32mPASS${ESC}[0m: tests/${file.replace('.c', '')} ${int(900)}` : `ok ${int(500)} - ${pick(['parses "quoted" input', 'handles \\backslash', 'round-trips ‘unicode’ ✓', 'rejects empty'])}`
    if (r < 55) return `gcc -DHAVE_CONFIG_H -I. -I./include -O2 -pipe -fstack-protector-strong -c ${file} -o ${file.replace('.c', '.o')}`
    if (r < 80) return `  CC       ${file.replace('.c', '.lo')}`
    if (r < 90) return `[ ${int(100)}%] Building C object CMakeFiles/app.dir/${file}.o`
    if (r < 97) return `${file}:${int(900)}:${int(80)}: warning: unused variable ‘tmp’ [-Wunused-variable]`
    return `make[${int(4)}]: Entering directory '/build/source/${file.split('/')[1]}'`
  }
  const open = []
  let next = 0
  let done = 0
  const budget = lines - (fail ? 9 : 4)
  while (count < budget - open.length && (next < drvs.length || open.length)) {
    if (open.length < jobs && next < drvs.length && (open.length === 0 || int(Math.ceil(120 / jobs)) === 0)) {
      const drv = drvs[next++]
      const id = daemonId()
      const n = 40 + Math.floor(rand() ** 3 * 2500)
      const b = { id, drv, n, left: n, phase: PHASES[0] }
      open.push(b)
      yield start(id, 3, 0, `building '${drv}'`, 105, [drv, '', 1, 1])
      yield result(builds, 105, [done, total + 1, open.length, 0])
      yield result(id, 104, [b.phase])
      continue
    }
    const b = open[int(open.length)]
    // next phase when its share of the lines is used up
    const used = (b.n - b.left) / b.n
    let share = 0
    let idx = 0
    while (idx < PHASES.length - 1 && used >= (share += PHASE_SHARE[idx])) idx++
    if (PHASES[idx] !== b.phase) {
      b.phase = PHASES[idx]
      yield result(b.id, 104, [b.phase])
      continue
    }
    if (b.left > 0) {
      b.left--
      yield result(b.id, 101, [lineFor(b)])
      // sprinkled messages at every level, trace: at level 0 as builtins.trace prints it
      if (int(400) === 0) {
        const level = int(5)
        yield msg(level, [
          'trace: warning: the option `services.xserver.layout` has been renamed to `services.xserver.xkb.layout`',
          "warning: Git tree '/etc/nixos' is dirty",
          'building on remote machine is disabled',
          `copying path '/nix/store/${hash()}-source' from '${CACHE}'`,
          `querying info about '/nix/store/${hash()}-${pick(NAMES)}' on '${CACHE}'`,
        ][level])
      }
      continue
    }
    open.splice(open.indexOf(b), 1)
    done++
    yield stop(b.id)
    yield result(builds, 105, [done, total + 1, open.length, 0])
  }
  // the budget is used up: the oldest open build fails (with --fail), the others finish
  const failing = fail ? (open.shift() ?? { id: daemonId(), drv: drvs[next] ?? drvs[0] }) : undefined
  for (const b of open) {
    done++
    yield stop(b.id)
  }
  const red = (s) => `${ESC}[31;1m${s}${ESC}[0m`
  const mag = (s) => `${ESC}[35;1m${s}${ESC}[0m`
  if (fail) {
    const b = failing
    if (!b.n) yield start(b.id, 3, 0, `building '${b.drv}'`, 105, [b.drv, '', 1, 1])
    yield result(b.id, 101, [`${b.drv.slice(44, -4)}: tests failed`])
    yield result(b.id, 101, ['make: *** [Makefile:1342: check] Error 2'])
    yield result(builds, 105, [done, total + 1, 0, 1])
    yield stop(b.id)
    yield stop(copies)
    yield stop(builds)
    yield stop(realise)
    yield errMsg(`${red('error:')} builder for '${mag(b.drv)}' failed with exit code 2`, `builder for '${mag(b.drv)}' failed with exit code 2`)
    yield errMsg(`${red('error:')} 1 dependencies of derivation '${mag(system)}' failed to build`, `1 dependencies of derivation '${mag(system)}' failed to build`)
  } else {
    yield result(builds, 105, [done + 1, total + 1, 0, 0])
    yield stop(copies)
    yield stop(builds)
    yield stop(realise)
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '100000' },
      out: { type: 'string' },
      fail: { type: 'boolean', default: false },
      'no-prefix': { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '3' },
      fetches: { type: 'string' },
    },
  })
  const out = values.out ? createWriteStream(values.out) : process.stdout
  out.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : (console.error(e), 1))) // `| head` is fine
  let buf = ''
  const shape = { jobs: Number(values.jobs), ...(values.fetches !== undefined && { fetches: Number(values.fetches) }) }
  for (const l of nixLogLines({ lines: Number(values.lines), fail: values.fail, seed: Number(values.seed), prefix: !values['no-prefix'], ...shape })) {
    buf += `${l}\n`
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain')
      buf = ''
    }
  }
  out.write(buf)
  if (values.out) {
    out.end()
    await once(out, 'finish')
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) await main()
