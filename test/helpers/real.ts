/**
 * Suites that need a real component (Nix, systemd-nspawn, root…). Outside CI a missing component
 * skips the suite, with the reason in its title. Under CI (`CI=true`) it FAILS with one line that
 * names what to install: a CI machine that lacks Nix must not pass while testing nothing.
 *
 *   needs('nix').describe('nbs status', () => { … })
 *   needs('nix').it('live: …', () => { … })
 *
 * `NBS_TEST_MISSING=nix,git` makes those probes answer "missing" (to test this helper itself).
 */
import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { describe, it, type TestFunction } from 'vitest'
import { hasNix } from './nix.js'

interface Component {
  /** true when present */
  probe(): boolean
  /** what to do about it, one clause */
  fix: string
}

const runs = (file: string, args: string[]) => spawnSync(file, args, { stdio: 'ignore' }).status === 0
const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}
/** Whether `file` can be started at all (its exit code does not matter). */
const onPath = (file: string) => spawnSync(file, ['-?'], { stdio: 'ignore' }).error === undefined
const isRoot = () => process.getuid?.() === 0

/**
 * The Python that has Debian's python3-tap (tappy): /usr/bin/python3 first, since a python3 earlier
 * on PATH (pyenv, a venv) does not see Debian's dist-packages. Undefined when none has it.
 */
export function tappyPython(): string | undefined {
  return ['/usr/bin/python3', 'python3'].find((py) => runs(py, ['-c', 'import tap.loader, tap.parser, yaml, more_itertools']))
}

export const COMPONENTS = {
  nix: { probe: hasNix, fix: 'install Debian\'s Nix: apt-get install nix-bin' },
  git: { probe: () => runs('git', ['--version']), fix: 'apt-get install git' },
  root: { probe: isRoot, fix: 'run the tests as root' },
  'journal-remote': { probe: () => executable('/lib/systemd/systemd-journal-remote'), fix: 'apt-get install systemd-journal-remote' },
  nspawn: {
    probe: () => isRoot() && runs('systemd-nspawn', ['--version']) && runs('debootstrap', ['--version']),
    fix: 'run as root with apt-get install systemd-container debootstrap',
  },
  // started by the tests themselves on 127.0.0.1 (test/helpers/sshd.ts), never as a service
  sshd: {
    probe: () => executable('/usr/sbin/sshd') && runs('ssh', ['-V']) && onPath('ssh-keygen'),
    fix: 'apt-get install openssh-server openssh-client (the tests start their own sshd; no service needed)',
  },
  fish: { probe: () => executable('/usr/bin/fish'), fix: 'apt-get install fish' },
  zsh: { probe: () => runs('zsh', ['-c', 'true']), fix: 'apt-get install zsh' },
  // Python's TAP consumer, run through its own loader and unittest runner (what its `tappy` CLI does)
  tappy: { probe: () => tappyPython() !== undefined, fix: 'apt-get install python3-tap python3-yaml python3-more-itertools' },
  // Prometheus's own linter for the text exposition format
  promtool: { probe: () => runs('promtool', ['--version']), fix: 'apt-get install prometheus (the tests run only its promtool; no service needed)' },
  // started by the tests themselves on 127.0.0.1 with only the textfile collector, never as a service
  'node-exporter': {
    probe: () => runs('prometheus-node-exporter', ['--version']),
    fix: 'apt-get install prometheus-node-exporter (the tests start their own exporter; no service needed)',
  },
  // packs nbs and installs the tarball into a scratch prefix (test/e2e/package.test.ts)
  npm: { probe: () => runs('npm', ['--version']), fix: 'install npm (it comes with Node.js; Debian: apt-get install npm)' },
  // the client side only: the container's own root brings its sshd
  'ssh-client': { probe: () => runs('ssh', ['-V']) && onPath('ssh-keygen'), fix: 'apt-get install openssh-client' },
} satisfies Record<string, Component>

export type ComponentName = keyof typeof COMPONENTS

const probed = new Map<ComponentName, boolean>()

/** Whether a component is here (probed once per test file); honours NBS_TEST_MISSING. */
export function present(name: ComponentName): boolean {
  const forced = (process.env.NBS_TEST_MISSING ?? '').split(',').map((s) => s.trim())
  if (forced.includes(name)) return false
  if (!probed.has(name)) probed.set(name, COMPONENTS[name].probe())
  return probed.get(name)!
}

/** One line: what is missing and how to get it; undefined when everything is here. */
export function missingReason(names: readonly ComponentName[]): string | undefined {
  const missing = names.filter((n) => !present(n))
  if (!missing.length) return undefined
  return `${missing.join(', ')} missing: ${missing.map((n) => COMPONENTS[n].fix).join('; ')}`
}

const underCI = () => process.env.CI === 'true'

/** A test that fails with only `message` (no stack: the line is the whole story). */
const failing = (message: string) => () => {
  const e = new Error(message)
  e.stack = `Error: ${message}`
  throw e
}

/** `describe` and `it` that run when every named component is here; see the module comment. */
export function needs(...names: ComponentName[]) {
  const reason = missingReason(names)
  return {
    describe(title: string, fn: () => void): void {
      if (reason === undefined) describe(title, fn)
      else if (underCI()) describe(title, () => it(`needs ${names.join(', ')}`, failing(`CI=true and ${reason}`)))
      else describe.skip(`${title} — skipped: ${reason}`, fn)
    },
    it(title: string, fn: TestFunction, timeout?: number): void {
      if (reason === undefined) it(title, fn, timeout)
      else if (underCI()) it(title, failing(`CI=true and ${reason}`))
      else it.skip(`${title} — skipped: ${reason}`, fn)
    },
  }
}
