/**
 * The text `nbs init` writes: the config and the example check. Kept as templates with the few
 * values that vary (hosts, CI), so what a new user reads first is written by hand, with comments.
 */
import { shellQuote } from '../util/shell.js'

export type CiKind = 'github' | 'gitlab' | 'none'

/** The package name config and check files import from. */
export const PACKAGE_NAME = 'nixos-build-status'

export const CONFIG_FILE = 'nbs.config.ts'
export const EXAMPLE_CHECK_ID = 'flake-inputs-age'
export const EXAMPLE_CHECK_FILE = `checks/${EXAMPLE_CHECK_ID}.check.ts`
/** Where the CI reports go (the names GitLab's and the JUnit actions' examples use). */
export const JUNIT_FILE = 'nbs-junit.xml'
export const GITLAB_FILE = 'gl-code-quality-report.json'

/** A TypeScript string literal: single-quoted when plain, else JSON's (which TypeScript reads). */
function str(s: string): string {
  return /^[A-Za-z0-9 ._/@:+-]*$/.test(s) ? `'${s}'` : JSON.stringify(s)
}

/** Text inside a `//` comment: every JavaScript line terminator would end the comment and start code. */
const commentText = (s: string): string => s.replace(/[\r\n\u2028\u2029]+/g, ' ')

/** An object key: bare when an identifier, else a string literal. */
function key(s: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : str(s)
}

const REPORTERS: Record<CiKind, string[]> = {
  github: [
    '  // GitHub Actions (GITHUB_ACTIONS=true): pretty on the log, github for the annotations and the',
    '  // job summary, and a JUnit file for a test-report action. Naming reporters replaces the',
    "  // automatic pretty + github of Actions, so github is named here; elsewhere pretty alone.",
    `  reporters: process.env.GITHUB_ACTIONS === 'true' ? ['pretty', 'github', ${str(`junit:${JUNIT_FILE}`)}] : ['pretty'],`,
  ],
  gitlab: [
    "  // GitLab CI (GITLAB_CI=true): JUnit with file and line for the merge request's test tab, and",
    '  // Code Quality; upload both as artifacts:reports (junit, codequality) with when: always.',
    '  // Elsewhere pretty alone, so local runs leave no report files behind.',
    '  reporters:',
    "    process.env.GITLAB_CI === 'true'",
    `      ? ['pretty', [${str(`junit:${JUNIT_FILE}`)}, { fileAttributes: true }], ${str(`gitlab:${GITLAB_FILE}`)}]`,
    "      : ['pretty'],",
  ],
  none: [
    "  // reporters: ['pretty', 'junit:nbs-junit.xml'],   // default: pretty on the terminal",
  ],
}

export interface ConfigTemplate {
  /** nixosConfigurations names; undefined when they could not be read */
  hosts: string[] | undefined
  ci: CiKind
  /** why there are no hosts, for a comment in the file */
  hostsNote?: string
}

export function renderConfig(t: ConfigTemplate): string {
  const lines = [
    `// nbs's configuration, written by \`nbs init\`: every field is optional (README: Configuration).`,
    `import { defineConfig } from ${str(PACKAGE_NAME)}`,
    '',
    'export default defineConfig({',
    "  flake: '.', // this folder: a relative path is relative to this file",
  ]
  const hosts = t.hosts ?? []
  // one host: it is the one to check, on this machine or in CI; several: this machine's hostname picks
  if (hosts.length === 1) lines.push(`  host: ${str(hosts[0]!)}, // the flake's only nixosConfigurations entry (default: this machine's hostname)`)
  if (hosts.length) {
    lines.push(
      "  // the hosts of nixosConfigurations; give one a targetHost to check it over ssh (nbs check --on 'web-*'),",
      "  // e.g. { targetHost: 'root@web-1.example.org', tags: ['web'] }",
      '  hosts: {',
      ...hosts.map((h) => `    ${key(h)}: {},`),
      '  },',
    )
  } else {
    lines.push(
      `  // no hosts listed: ${commentText(t.hostsNote ?? 'the flake has no nixosConfigurations')}`,
      "  // hosts: { web1: { targetHost: 'root@web1.example.org', tags: ['web'] } },",
    )
  }
  lines.push(...REPORTERS[t.ci], '})', '')
  return lines.join('\n')
}

/**
 * The example check: small, real, and passing on a fresh flake. It reads flake.lock (no Nix), so
 * it shows the programmatic form, options and a warning without making `nbs check` slower.
 */
export function renderExampleCheck(): string {
  return `// An example check written by \`nbs init\`: edit it, copy it, or delete it (README: Writing a check).
// Every input in flake.lock was updated within maxAgeDays; a stale one is a warning, which
// does not fail the run (unless --fail-on warning). No Nix needed: it reads the lock file.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { defineCheck, localFlakeDir, z } from ${str(PACKAGE_NAME)}

interface FlakeLock {
  root: string
  nodes: Record<string, { locked?: { lastModified?: number } }>
}

export default defineCheck({
  id: ${str(EXAMPLE_CHECK_ID)},
  title: 'every flake input was updated in the last maxAgeDays days',
  phase: 'pre-build',
  severity: 'warning',
  tags: ['flake'],
  // set in nbs.config.ts: options: { ${str(EXAMPLE_CHECK_ID)}: { maxAgeDays: 30 } }
  options: z.object({ maxAgeDays: z.number().positive().default(90) }),
  async run(ctx) {
    const local = localFlakeDir(ctx.flake)
    if ('error' in local) return ctx.skip(local.error)
    const text = await readFile(join(local.dir, 'flake.lock'), 'utf8').catch(() => undefined)
    if (text === undefined) return { message: 'no flake.lock: nothing is pinned yet (Nix writes it once the flake has inputs)' }
    const lock = JSON.parse(text) as FlakeLock
    const now = Date.now() / 1000
    const inputs = Object.entries(lock.nodes)
      .filter(([name, node]) => name !== lock.root && node.locked?.lastModified !== undefined)
      .map(([name, node]) => ({ name, days: Math.floor((now - node.locked!.lastModified!) / 86400) }))
      .sort((a, b) => b.days - a.days)
    const stale = inputs.filter((i) => i.days > ctx.options.maxAgeDays)
    if (stale.length) {
      ctx.fail(\`\${stale.map((i) => \`\${i.name} (\${i.days} days)\`).join(', ')} not updated for more than \${ctx.options.maxAgeDays} days: run nix flake update\`, { stale })
    }
    const oldest = inputs[0]
    return { message: oldest ? \`\${inputs.length} inputs, the oldest \${oldest.name} (\${oldest.days} days)\` : 'no locked inputs', data: { inputs } }
  },
})
`
}

export interface NextCommandsInput {
  hosts: string[] | undefined
  ci: CiKind
}

/** The three commands to run next, each with what it does. */
export function nextCommands(t: NextCommandsInput): { command: string; why: string }[] {
  const hosts = t.hosts ?? []
  // a flake's attribute name can hold anything: quoted, the printed command is safe to paste
  const ciHost = hosts.length === 1 ? '' : ` --host ${hosts[0] === undefined ? 'HOST' : shellQuote(hosts[0])}`
  const reports =
    t.ci === 'github' ? `GitHub: annotations, summary, ${JUNIT_FILE}` : t.ci === 'gitlab' ? `GitLab: ${JUNIT_FILE}, ${GITLAB_FILE}` : `add --reporter junit:${JUNIT_FILE} for a report file`
  return [
    { command: 'nbs list', why: `the checks found: nbs's built-ins and ${EXAMPLE_CHECK_FILE}` },
    { command: 'nbs check', why: hosts.length === 1 ? `run them for ${hosts[0]}` : "run them for this machine (its hostname names the configuration)" },
    { command: `nbs check${ciHost}`, why: `in CI${ciHost ? ', naming the host' : ''} (${reports})` },
  ]
}
