// Redaction benchmark: recall and precision on the corpus (test/fixtures/redact), throughput on
// the corpus and on a 20 MB build log. Run after `npm run build`: node bench/redact.mjs
import { redactText } from '../dist/redact/engine.js'
import { loadBenign, score } from '../test/fixtures/redact/corpus.mjs'

const redact = (t) => redactText(t).text
score(redact) // warm up
const s = score(redact)
const pct = (x) => `${(x * 100).toFixed(3)} %`
console.log(`secrets: ${s.secretCases} cases, ${s.secretKinds} kinds; recall ${pct(s.recall)}${s.missed.length ? ` (missed: ${s.missed.map((m) => m.file).join(', ')})` : ''}`)
console.log(`benign: ${s.benignLines} lines in ${s.benignFiles} files (${s.benignRealLines} from real material); precision ${pct(s.precision)} (${s.wrong.length} lines changed)`)
for (const w of s.wrong) console.log(`  ${w.file}:${w.line}: ${w.before}`)
console.log(`corpus throughput: ${(s.bytes / 1e6 / (s.ms / 1000)).toFixed(1)} MB/s (${(s.bytes / 1e6).toFixed(2)} MB)`)
const big = loadBenign().map((f) => f.text).join('\n')
const log = big.repeat(Math.ceil(20e6 / big.length)).slice(0, 20e6)
const t0 = performance.now()
redact(log)
const ms = performance.now() - t0
console.log(`20 MB log throughput: ${(20 / (ms / 1000)).toFixed(1)} MB/s`)
if (s.recall < 1 || s.precision < 0.999) process.exitCode = 1
