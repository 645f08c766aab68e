// Baseline for per-check-overhead.mjs: `node bench/spawn-baseline.mjs [--execa] N CONCURRENCY [cmd ...]`
// spawns N processes (default `true`), at most CONCURRENCY at once, collecting stdout and stderr like a
// check runner would: with child_process.spawn, or with --execa through execa with the options nbs's
// process runner uses (nbs runs every child through execa, so this isolates nbs's own overhead).
// Prints {"ms": in-process time} on stdout.
import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'

const useExeca = process.argv[2] === '--execa'
const [n = '200', concurrency = '4', ...command] = process.argv.slice(useExeca ? 3 : 2)
const [cmd, ...args] = command.length ? command : ['true']
const { execa } = useExeca ? await import('execa') : {}

const runExeca = async () => {
  const child = execa(cmd, args, { reject: false, stdin: 'ignore', buffer: false, detached: true })
  const out = []
  child.stdout.on('data', (d) => out.push(d))
  child.stderr.on('data', (d) => out.push(d))
  const r = await child
  if (r.exitCode !== 0) throw new Error(`${cmd} exited ${r.exitCode}`)
  return Buffer.concat(out)
}

const runSpawn = () =>
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
    await (useExeca ? runExeca() : runSpawn())
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker))
process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0 })}\n`)
