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
