/**
 * The prometheus reporter against its real consumers: Debian's promtool (`check metrics`) and a real
 * prometheus-node-exporter started here on a 127.0.0.1 port with only the textfile collector, scraped
 * over HTTP like Prometheus does. The exporter is stopped by its pid; no service is involved.
 */
import { mkdirSync, mkdtempSync, watch, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { afterAll, expect, it } from 'vitest'
import { renderPrometheus } from '../../src/reporters/prometheus.js'
import { check, report } from '../helpers/report-fixtures.js'
import { CLI, nbs } from '../helpers/project.js'
import { jsonProjects } from '../helpers/json-projects.js'
import { needs } from '../helpers/real.js'
import { freePort } from '../helpers/sshd.js'

const project = jsonProjects()

const CHECKS = JSON.stringify([
  { id: 'ok', command: ['true'] },
  { id: 'broken', command: ['false'] },
  { id: 'after-broken', needs: ['broken'], command: ['true'] },
  { id: 'slow', command: ['sleep', '0.2'] },
])

/** promtool's verdict on a textfile: exit code and what it printed (it lints as well as parses). */
async function promtoolCheck(text: string) {
  const r = await execa('promtool', ['check', 'metrics'], { input: text, reject: false, timeout: 30_000 })
  return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr}`.trim() }
}

interface Exporter {
  pid: number
  scrape(): Promise<string>
  stop(): Promise<void>
}

const running: Exporter[] = []
afterAll(async () => {
  for (const e of running.splice(0)) await e.stop()
})

/** A real node_exporter serving only the textfile collector of `dir` on a free loopback port. */
async function startExporter(dir: string): Promise<Exporter> {
  const port = await freePort()
  const child: ResultPromise = execa(
    'prometheus-node-exporter',
    [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${dir}`],
    { reject: false, stdin: 'ignore', buffer: { stdout: false, stderr: true }, maxBuffer: 1024 * 1024 },
  )
  const pid = child.pid!
  let exited = false
  void child.then(() => (exited = true))
  const url = `http://127.0.0.1:${port}/metrics`
  const scrape = async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
    if (!res.ok) throw new Error(`GET ${url}: ${res.status}`)
    return res.text()
  }
  const stop = async () => {
    if (!exited) process.kill(pid, 'SIGTERM')
    await child
  }
  const exporter = { pid, scrape, stop }
  running.push(exporter)
  for (const t0 = Date.now(); ; ) {
    if (exited) throw new Error(`prometheus-node-exporter exited at once: ${String((await child).stderr)}`)
    try {
      await scrape()
      return exporter
    } catch (e) {
      if (Date.now() - t0 > 15_000) throw new Error(`prometheus-node-exporter not answering on ${url}: ${(e as Error).message}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

const nbsLines = (metrics: string) => metrics.split('\n').filter((l) => l.startsWith('nbs_'))

needs('promtool', 'node-exporter').describe('prometheus reporter: promtool and a real node_exporter read what nbs writes', () => {
  it('nbs check --reporter prometheus:DIR/nbs.prom: promtool passes it, node_exporter serves every nbs_* sample with no scrape error, mode 0644 under umask 077', async () => {
    const dir = project({ 'checks/a.check.json': CHECKS })
    const textdir = join(dir, 'textfiles')
    mkdirSync(textdir)
    const exporter = await startExporter(textdir)
    // umask 077 as a hardened service has: the exporter runs as another user and must still read the file
    const r = await execa('sh', ['-c', 'umask 077 && exec "$@"', 'sh', process.execPath, CLI, 'check', '--reporter', 'prometheus:textfiles/nbs.prom'], {
      cwd: dir,
      reject: false,
      env: { NO_COLOR: '1' },
      stdin: 'ignore',
    })
    expect(r.exitCode, r.stderr).toBe(1) // `broken` failed
    const file = join(textdir, 'nbs.prom')
    expect(statSync(file).mode & 0o777).toBe(0o644)
    expect(readdirSync(textdir)).toEqual(['nbs.prom']) // no temp file left behind
    const text = readFileSync(file, 'utf8')
    expect(await promtoolCheck(text)).toEqual({ exitCode: 0, output: '' })
    // pretty still took stdout, since the only reporter named writes a file
    expect(r.stdout).toContain('broken')

    const served = await exporter.scrape()
    expect(served).toMatch(/^node_textfile_scrape_error 0$/m)
    expect(served).toContain(`node_textfile_mtime_seconds{file="${file}"}`)
    const lines = nbsLines(served)
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^nbs_check_success\{check="ok",host="[^"]+",phase="[^"]+"\} 1$/),
      expect.stringMatching(/^nbs_check_success\{check="broken",host="[^"]+",phase="[^"]+"\} 0$/),
      expect.stringMatching(/^nbs_check_success\{check="slow",host="[^"]+",phase="[^"]+"\} 1$/),
      expect.stringMatching(/^nbs_check_skipped\{check="after-broken",host="[^"]+",phase="[^"]+"\} 1$/),
      'nbs_checks{status="passed"} 2',
      'nbs_checks{status="failed"} 1',
      'nbs_checks{status="errored"} 0',
      'nbs_checks{status="skipped"} 1',
      'nbs_run_success 0',
    ]))
    expect(lines.some((l) => l.startsWith('nbs_check_success{check="after-broken"'))).toBe(false)
    const slow = Number(lines.find((l) => l.startsWith('nbs_check_duration_seconds{check="slow"'))!.split(' ')[1])
    expect(slow).toBeGreaterThanOrEqual(0.2)
    expect(slow).toBeLessThan(30)
    const finished = Number(lines.find((l) => l.startsWith('nbs_run_timestamp_seconds '))!.split(' ')[1])
    expect(Math.abs(finished - Date.now() / 1000)).toBeLessThan(120)
    // node_exporter serves HELP and TYPE as written: gauges
    expect(served).toContain('# TYPE nbs_check_success gauge')
    expect(served).toMatch(/^# HELP nbs_run_success /m)
  }, 60_000)

  it('hostile host names and check ids: promtool passes the file and node_exporter serves the same label values', async () => {
    const hostile = ['x"} 1\nnbs_run_success 1\n#', 'back\\slash', '"quoted"', 'new\nline', 'ünïcödé ✓', 'a}b{c=d,e="f"', 'lone \ud800', 'tab\tcr\rnul\0']
    const text = renderPrometheus(report({ health: hostile.map((h, i) => check({ id: `${h}/${i}`, host: `${h}@${i}`, status: i % 2 ? 'failed' : 'passed' })) }))
    expect(await promtoolCheck(text)).toEqual({ exitCode: 0, output: '' })
    const textdir = mkdtempSync(join(tmpdir(), 'nbs-prom-'))
    try {
      writeFileSync(join(textdir, 'nbs.prom'), text, { mode: 0o644 })
      const served = await (await startExporter(textdir)).scrape()
      expect(served).toMatch(/^node_textfile_scrape_error 0$/m)
      expect(nbsLines(served).filter((l) => l.startsWith('nbs_check_success{'))).toHaveLength(hostile.length)
      // the injected `nbs_run_success 1` stayed inside a label: the one real sample says the run failed
      expect(nbsLines(served).filter((l) => l.startsWith('nbs_run_success '))).toEqual(['nbs_run_success 0'])
      // the exporter re-escapes what it parsed: the same escapes come back, so the values survived intact
      expect(served).toContain('check="x\\"} 1\\nnbs_run_success 1\\n#/0",host="x\\"} 1\\nnbs_run_success 1\\n#@0"')
      expect(served).toContain('check="back\\\\slash/1",host="back\\\\slash@1"')
      expect(served).toContain('check="new\\nline/3"')
      expect(served).toContain('check="ünïcödé ✓/4"')
      expect(served).toContain('check="lone \ufffd/6"')
    } finally {
      rmSync(textdir, { recursive: true, force: true })
    }
  }, 60_000)

  it('the collector never reads half a file: nbs.prom only ever appears by rename, and scrapes all through repeated runs see no error and all 200 checks or none', async () => {
    const dir = project({ 'checks/a.check.json': JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ id: `c${i}`, command: ['true'] }))) })
    const textdir = join(dir, 'textfiles')
    mkdirSync(textdir)
    const exporter = await startExporter(textdir)
    let done = false
    const errors: string[] = []
    let scrapes = 0
    const scraper = (async () => {
      while (!done) {
        const served = await exporter.scrape()
        scrapes++
        if (/^node_textfile_scrape_error 1$/m.test(served)) errors.push(served.split('\n').filter((l) => l.startsWith('node_textfile')).join('\n'))
        const n = nbsLines(served).filter((l) => l.startsWith('nbs_check_success{')).length
        if (n !== 0 && n !== 200) errors.push(`${n} nbs_check_success samples`)
      }
    })()
    // the collector reads `*.prom`: nbs.prom may only ever appear by a rename, never be written in
    // place, and the temp file must not match `*.prom` (a torn read is too rare to catch by scraping)
    const events: string[] = []
    const watcher = watch(textdir, (event, name) => events.push(`${event} ${String(name)}`))
    for (let run = 0; run < 3; run++) {
      const r = await nbs(['check', '--reporter', 'prometheus:textfiles/nbs.prom'], { cwd: dir })
      expect(r.exitCode, r.stderr).toBe(0)
    }
    done = true
    await scraper
    watcher.close()
    expect(errors).toEqual([])
    expect(events.filter((e) => e.endsWith(' nbs.prom')).length).toBeGreaterThan(0)
    expect(events.filter((e) => e === 'change nbs.prom')).toEqual([])
    expect(events.filter((e) => e.endsWith('.prom') && !e.endsWith(' nbs.prom'))).toEqual([])
    expect(scrapes).toBeGreaterThan(3)
  }, 120_000)
})

it('prometheus without a path (command line or config) exits 3 with one line naming the reporter and a path to give', async () => {
  const dir = project({ 'checks/a.check.json': CHECKS })
  const r = await nbs(['check', '--reporter', 'prometheus'], { cwd: dir })
  expect(r.exitCode).toBe(3)
  expect(r.stderr.trim().split('\n')).toEqual([
    'nbs check: --reporter prometheus: the prometheus reporter writes a file, not stdout; give it a path, e.g. prometheus:/var/lib/prometheus/node-exporter/nbs.prom',
  ])
  const fromConfig = project({ 'checks/a.check.json': CHECKS }, { reporters: ['prometheus:-'] })
  const c = await nbs(['check'], { cwd: fromConfig })
  expect(c.exitCode).toBe(3)
  expect(c.stderr.trim()).toMatch(/^nbs check: nbs\.config\.json: reporters: prometheus:-: the prometheus reporter writes a file, not stdout; give it a path/)
})
