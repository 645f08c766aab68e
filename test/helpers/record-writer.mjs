/**
 * Child process for the kill -9 test: writes build records into DIR in a tight loop, continuing
 * the sequence from the newest record there, until it is killed. Loads the TypeScript sources with
 * jiti (a dependency), so it needs no build. Prints `ready` once the loop starts.
 */
import { createJiti } from 'jiti'

const dir = process.argv[2]
if (!dir) throw new Error('usage: record-writer.mjs DIR')
const jiti = createJiti(import.meta.url, { fsCache: false })
const { writeBuildRecord, readHistory, readLastBuild } = await jiti.import('../../src/records/store.ts')

/** A record big enough (a ~2 KB log tail) that a 100-record history takes many write(2)s. */
export function makeRecord(seq) {
  const gen = (n) => ({ generation: `g${n}`, generationRaw: String(n), commit: 'abc1234', homeManagerGeneration: null, currentSystem: null, profilePath: null })
  return {
    buildStart: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    buildEnd: new Date(Date.UTC(2025, 0, 1, 0, 1, seq)).toISOString(),
    buildDuration: 60, target: 'os', action: 'switch', tool: 'nixos-rebuild', flakePath: '/etc/nixos',
    exitCode: seq % 3 ? 0 : 1, success: seq % 3 !== 0, hostname: 'writer', user: 'root', command: `nixos-rebuild switch #${seq}`,
    preGeneration: gen(seq), postGeneration: gen(seq + 1), buildLogPath: `${dir}/last-build.log`,
    errors: '', errorDetails: [{ message: `error ${seq}`, kind: 'build', logTail: Array.from({ length: 40 }, (_, i) => `line ${i} of build ${seq}`) }],
    nixVersion: '2.24.0', interrupted: false, recordVersion: 1, seq,
  }
}

const newest = Math.max((await readLastBuild(dir))?.seq ?? 0, (await readHistory(dir)).records[0]?.seq ?? 0)
let seq = newest
process.stdout.write('ready\n')
for (;;) await writeBuildRecord(dir, makeRecord(++seq))
