/**
 * Real consumers of our reports, used as oracles: Perl's TAP::Parser (what prove runs), npm
 * tap-parser, and xmllint with the two JUnit XSDs. Lenient parsers are not oracles (report-formats §0.5).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Parser, type FinalResults, type Result } from 'tap-parser'
import { afterAll } from 'vitest'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const schemaDir = join(repoRoot, 'test/fixtures/schemas')
export const XSDS = {
  ant: join(schemaDir, 'junit-ant.xsd'),
  jenkins: join(schemaDir, 'junit-jenkins-xunit.xsd'),
} as const

const workDir = mkdtempSync(join(tmpdir(), 'nbs-consumers-'))
// Modules are isolated per test file, so this runs once for each file that uses the helpers.
afterAll(() => rmSync(workDir, { recursive: true, force: true }))
let fileCounter = 0

/** Writes `content` to a fresh temp file and returns its path. */
export function tempFile(content: string, ext: string): string {
  const file = join(workDir, `report-${process.pid}-${++fileCounter}.${ext}`)
  writeFileSync(file, content, 'utf8')
  return file
}

const MAX_BUFFER = 256 * 1024 * 1024

export interface ProveTest {
  number: number
  ok: boolean
  actual_ok: boolean
  description: string
  directive: string
  explanation: string
  yaml?: Record<string, unknown>
}

export interface ProveResult {
  parse_errors: string[]
  tests_run: number
  passed: number
  failed: number
  todo: number
  skipped: number
  plan: string
  version: number
  tests: ProveTest[]
  comments: string[]
  unknown: string[]
}

// Reads each file as raw bytes, like prove does, and reports everything as JSON (strings decoded).
const PERL = String.raw`
use strict; use warnings; use TAP::Parser; use JSON::PP; use Encode ();
sub dec { my $s = shift; return undef unless defined $s; return Encode::decode('UTF-8', $s, Encode::FB_CROAK | Encode::LEAVE_SRC) }
sub deep { my $v = shift; my $r = ref $v;
  return { map { dec($_) => deep($v->{$_}) } keys %$v } if $r eq 'HASH';
  return [ map { deep($_) } @$v ] if $r eq 'ARRAY';
  return dec($v) }
my @out;
for my $file (@ARGV) {
  open my $fh, '<:raw', $file or die "$file: $!"; my $tap = do { local $/; <$fh> }; close $fh;
  my $p = TAP::Parser->new({ tap => $tap });
  my (@tests, @comments, @unknown);
  while (my $r = $p->next) {
    if ($r->is_test) { push @tests, { number => $r->number + 0, ok => $r->is_ok ? JSON::PP::true : JSON::PP::false,
        actual_ok => $r->is_actual_ok ? JSON::PP::true : JSON::PP::false, description => dec($r->description),
        directive => $r->directive, explanation => dec($r->explanation) } }
    elsif ($r->is_yaml) { $tests[-1]{yaml} = deep($r->data) if @tests }
    elsif ($r->is_comment) { push @comments, dec($r->comment) }
    elsif ($r->is_unknown) { push @unknown, dec($r->raw) }
  }
  push @out, { parse_errors => [ map { dec($_) } $p->parse_errors ], tests_run => $p->tests_run + 0,
    passed => scalar($p->passed), failed => scalar($p->failed), todo => scalar($p->todo),
    skipped => scalar($p->skipped), plan => $p->plan // '', version => $p->version + 0,
    tests => \@tests, comments => \@comments, unknown => \@unknown };
}
print JSON::PP->new->canonical->utf8->encode(\@out);
`

/** Parses TAP documents with Perl's TAP::Parser (prove's parser), one process for all of them. */
export function proveParse(docs: string[]): ProveResult[] {
  const files = docs.map((d) => tempFile(d, 'tap'))
  const run = spawnSync('perl', ['-e', PERL, ...files], { encoding: 'utf8', maxBuffer: MAX_BUFFER })
  if (run.status !== 0) throw new Error(`perl TAP::Parser failed: ${run.stderr}`)
  return JSON.parse(run.stdout) as ProveResult[]
}

/** Runs `prove -e cat file.tap`: the harness verdict (exit status, `Result: PASS|FAIL|NOTESTS`). */
export function proveRun(doc: string): { status: number | null; output: string } {
  const run = spawnSync('prove', ['-e', 'cat', tempFile(doc, 'tap')], { encoding: 'utf8', maxBuffer: MAX_BUFFER })
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

export interface TapJsResult {
  results: Result[]
  final: FinalResults
  /** non-TAP lines (invalid YAML also lands here) */
  extra: string[]
  comments: string[]
}

/** Parses with npm tap-parser; `final.failures` holds tapErrors. */
export function tapParse(doc: string, strict = false): Promise<TapJsResult> {
  return new Promise((resolve) => {
    const results: Result[] = []
    const extra: string[] = []
    const comments: string[] = []
    const parser = new Parser({ strict }, (final) => resolve({ results, final, extra, comments }))
    parser.on('assert', (r: Result) => results.push(r))
    parser.on('extra', (s: string) => extra.push(s))
    parser.on('comment', (s: string) => comments.push(s))
    parser.end(doc)
  })
}

/** tapErrors only (failures of failing test points are Results without `tapError`). */
export const tapErrors = (final: FinalResults): unknown[] =>
  final.failures.filter((f) => typeof (f as { tapError?: unknown }).tapError === 'string')

/** `xmllint --noout --schema xsd files…`: status 0 valid, 1 not well-formed, 3 schema-invalid. */
export function xmllintValidate(files: string[], xsd: string): { status: number | null; stderr: string } {
  const run = spawnSync('xmllint', ['--noout', '--schema', xsd, ...files], { encoding: 'utf8', maxBuffer: MAX_BUFFER })
  return { status: run.status, stderr: run.stderr }
}

/** Evaluates an XPath expression with xmllint (a real XML parser, entities decoded); xmllint appends one LF. */
export function xpath(file: string, expr: string): string {
  const run = spawnSync('xmllint', ['--xpath', expr, file], { encoding: 'utf8', maxBuffer: MAX_BUFFER })
  if (run.status !== 0) throw new Error(`xmllint --xpath ${expr}: ${run.stderr}`)
  return run.stdout.replace(/\n$/, '')
}

/** Control characters no output of ours may contain: C0 except TAB and LF. */
export const FORBIDDEN_C0 = /[\x00-\x08\x0B-\x1F]/

/** A consumer's count of a run, normalised: passed (TODO included), failed (errors included), skipped. */
export interface Tally {
  passed: number
  failed: number
  skipped: number
  /** TAP: failed points marked `# TODO` (counted in `passed`) */
  todo?: number
  /** the consumer's verdict on the whole run */
  verdict: 'passed' | 'failed'
}

export interface TappyResult {
  /** tappy's exit status is `not wasSuccessful()`: the run's verdict */
  successful: boolean
  testsRun: number
  failures: number
  skipped: number
  expectedFailures: number
  unexpectedSuccesses: number
  /** one per test point tappy saw, in order; rule errors (plan, bail out) have number null */
  points: { number: number | null; description: string; outcome: 'passed' | 'failed' | 'skipped' | 'todo' | 'unexpected-success' }[]
}

/**
 * The JUnit consumers' counting rules as report-formats.md ("Measured consumer behaviour") states
 * them, applied to the XML read by a real parser (Python's expat): dorny and mikepenz count
 * `<error>` as failed (mikepenz counts a case with `<skipped>` as skipped whatever else it holds);
 * GitLab keeps failed and error apart and collapses duplicate (suite, classname, name) per status;
 * EnricoMi takes its verdict and counts from the `<testsuite>` attributes, cases from distinct
 * (classname, name). Each says the run failed when it counts any failure or error.
 */
export type JunitConsumer = 'dorny' | 'mikepenz' | 'gitlab' | 'enricomi'
export const JUNIT_CONSUMERS: readonly JunitConsumer[] = ['dorny', 'mikepenz', 'gitlab', 'enricomi']

const PYTHON_CONSUMERS = String.raw`
import sys, json, unittest, hashlib
import xml.etree.ElementTree as ET
from tap.loader import Loader

def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t

def tappy(path):
    loader = Loader()
    whole = unittest.TestResult()
    loader.load([path]).run(whole)
    points = []
    for adapter in flatten(loader.load([path])):
        r = unittest.TestResult()
        adapter(r)
        outcome = ('failed' if r.failures or r.errors else 'skipped' if r.skipped else 'todo' if r.expectedFailures
                   else 'unexpected-success' if r.unexpectedSuccesses else 'passed')
        line = adapter._line
        points.append({'number': int(line.number) if line.number not in (None, '') else None,
                       'description': line.description, 'outcome': outcome})
    return {'successful': whole.wasSuccessful(), 'testsRun': whole.testsRun, 'failures': len(whole.failures) + len(whole.errors),
            'skipped': len(whole.skipped), 'expectedFailures': len(whole.expectedFailures),
            'unexpectedSuccesses': len(whole.unexpectedSuccesses), 'points': points}

def tally(p, f, s):
    return {'passed': p, 'failed': f, 'skipped': s, 'verdict': 'failed' if f else 'passed'}

def junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else list(root.iter('testsuite'))
    cases = [(s, c, {e.tag for e in c} & {'failure', 'error', 'skipped'}) for s in suites for c in s.findall('testcase')]
    out = {}
    d = [('failed' if k & {'failure', 'error'} else 'skipped' if 'skipped' in k else 'passed') for _, _, k in cases]
    out['dorny'] = tally(d.count('passed'), d.count('failed'), d.count('skipped'))
    m = [('skipped' if 'skipped' in k or c.get('status') in ('disabled', 'ignored') else 'failed' if k & {'failure', 'error'} else 'passed') for _, c, k in cases]
    out['mikepenz'] = tally(m.count('passed'), m.count('failed'), m.count('skipped'))
    seen = set()
    g = {'success': 0, 'failed': 0, 'error': 0, 'skipped': 0}
    for s, c, k in cases:
        status = 'failed' if 'failure' in k else 'error' if 'error' in k else 'skipped' if 'skipped' in k else 'success'
        key = (status, hashlib.sha256('{}_{}_{}'.format(s.get('name'), c.get('classname'), c.get('name')).encode()).hexdigest())
        if key in seen:
            continue
        seen.add(key)
        g[status] += 1
    out['gitlab'] = tally(g['success'], g['failed'] + g['error'], g['skipped'])
    n = lambda a: sum(int(s.get(a) or 0) for s in suites)
    tests, fails, errs, skips = n('tests'), n('failures'), n('errors'), n('skipped')
    e = tally(tests - fails - errs - skips, fails + errs, skips)
    e['cases'] = len({(c.get('classname'), c.get('name')) for _, c, _ in cases})
    out['enricomi'] = e
    # every suite's attributes against its own cases
    bad = []
    for s in suites:
        own = [{x.tag for x in c} for c in s.findall('testcase')]
        want = {'tests': len(own), 'failures': sum('failure' in k for k in own), 'errors': sum('error' in k for k in own),
                'skipped': sum('skipped' in k for k in own)}
        got = {a: int(s.get(a) or 0) for a in want}
        if got != want:
            bad.append({'suite': s.get('name'), 'attributes': got, 'cases': want})
    out['mismatches'] = bad
    return out

print(json.dumps([tappy(f) if f.endswith('.tap') else junit(f) for f in sys.argv[1:]]))
`

/**
 * Runs tappy (Debian's python3-tap: its Loader and unittest, as its CLI does) over TAP documents
 * and the JUnit consumers' counting rules over JUnit documents, in one Python process.
 */
export type JunitTallies = Record<JunitConsumer, Tally & { cases?: number }> & {
  /** suites whose tests/failures/errors/skipped attributes disagree with their own cases */
  mismatches: { suite: string; attributes: Record<string, number>; cases: Record<string, number> }[]
}

export function pythonConsumers(python: string, docs: { tap: string[]; junit: string[] }): { tappy: TappyResult[]; junit: JunitTallies[] } {
  const files = [...docs.tap.map((d) => tempFile(d, 'tap')), ...docs.junit.map((d) => tempFile(d, 'xml'))]
  const run = spawnSync(python, ['-c', PYTHON_CONSUMERS, ...files], { encoding: 'utf8', maxBuffer: MAX_BUFFER })
  if (run.status !== 0) throw new Error(`python consumers failed: ${run.stderr}`)
  const all = JSON.parse(run.stdout) as unknown[]
  return { tappy: all.slice(0, docs.tap.length) as TappyResult[], junit: all.slice(docs.tap.length) as JunitTallies[] }
}

/** tappy's count in the normalised form: a TODO that failed is a pass (unittest's expected failure). */
export function tappyTally(t: TappyResult): Tally {
  const checks = t.points.filter((p) => p.number !== null)
  const by = (o: TappyResult['points'][number]['outcome']) => checks.filter((p) => p.outcome === o).length
  return {
    passed: by('passed') + by('todo'),
    failed: by('failed') + by('unexpected-success'),
    skipped: by('skipped'),
    todo: by('todo'),
    verdict: t.successful ? 'passed' : 'failed',
  }
}

/** prove's count (TAP::Parser) normalised: `passed` holds skips and TODOs, so take the skips out. */
export function proveTally(p: ProveResult, harnessStatus: number | null): Tally {
  return { passed: p.passed - p.skipped, failed: p.failed, skipped: p.skipped, todo: p.todo, verdict: harnessStatus === 0 ? 'passed' : 'failed' }
}

/** tap-parser's count normalised: its `fail` holds failed TODOs too, its `ok` is the verdict. */
export function tapParserTally(t: TapJsResult): Tally {
  const todo = t.results.filter((r) => !r.ok && r.todo).length
  return {
    passed: t.final.pass - t.final.skip + todo,
    failed: t.final.fail - todo,
    skipped: t.final.skip,
    todo,
    verdict: t.final.ok ? 'passed' : 'failed',
  }
}
