// (d) Runs the benchmarks and prints one markdown table for the README.
// `node bench/run-all.mjs` after `npm run build`; exits 0 even when a target is missed.
import { cpus, loadavg } from 'node:os'
import { bench as builtins } from './builtin-checks.mjs'
import { bench as buildStream } from './build-stream.mjs'
import { bench as dag } from './dag-critical-path.mjs'
import { bench as fleet, missing as fleetMissing } from './fleet.mjs'
import { requireBuild, table } from './lib.mjs'
import { bench as perCheck } from './per-check-overhead.mjs'
import { bench as startup } from './startup.mjs'
import { bench as status } from './status.mjs'

requireBuild()
const load = () => loadavg()[0].toFixed(2)
const loadBefore = load()
const results = [startup(), dag(), perCheck(), builtins(), status()]
// nbs build on generated 1M/4M-line streams and a real 200,000-line Nix build: minutes
results.push(buildStream())
// real sshd and parallel-ssh; minutes (20 hosts over ssh, round-robin)
const noFleet = fleetMissing()
if (noFleet) console.error(`bench/fleet.mjs left out: ${noFleet}`)
else results.push(await fleet())
const rows = results.flatMap((r) => r.rows)

console.log(`nbs benchmarks: node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore} → ${load()}\n`)
console.log(table(rows))
console.log()
for (const r of results) console.log(`- ${r.title}${r.notes?.length ? `: ${r.notes[0]}` : ''}`)
if (noFleet) console.log(`- fleet benchmark left out: ${noFleet}`)
const missed = rows.filter((r) => r.ok === 'MISSED')
console.log(missed.length ? `\nMISSED: ${missed.map((r) => r.figure).join('; ')}` : '\nall targets met')
