// Baseline for per-check-overhead.mjs: `node bench/spawn-baseline.mjs N CONCURRENCY [cmd ...]` spawns
// N processes (default `true`) with child_process.spawn, at most CONCURRENCY at once, collecting stdout
// and stderr like a check runner would. Prints {"ms": in-process time} on stdout.
import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'

const [n = '200', concurrency = '4', ...command] = process.argv.slice(2)
const [cmd, ...args] = command.length ? command : ['true']

const runOne = () =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => out.push(d))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} exited ${code}`))))
  })

const t0 = performance.now()
let next = 0
const worker = async () => {
  while (next < Number(n)) {
    next++
    await runOne()
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker))
process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0 })}\n`)
