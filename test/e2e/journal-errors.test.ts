import { lutimes, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdirSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeJournalRoot } from '../helpers/journal.js'
import { nbs } from '../helpers/project.js'

// journal-errors through the real CLI on real journal files (systemd-journal-remote) under --root:
// its severity comes from its options, its options are validated before anything runs, and a root
// without a persistent journal is a skip. (Live readers, privileged or not: systemd-container.test.ts.)
const temp: string[] = []
const tempDir = async (prefix: string) => {
  const d = await mkdtemp(join(tmpdir(), prefix))
  temp.push(d)
  return d
}
afterAll(async () => void (await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })))))

/** The root says which host it is (`/etc/hostname`), so its machine checks run: the name, for --host. */
function nameRoot(root: string): string {
  mkdirSync(join(root, 'etc'), { recursive: true })
  writeFileSync(join(root, 'etc/hostname'), 'journalhost\n')
  return 'journalhost'
}

/** `nbs check --only journal-errors --root ROOT` with these journal-errors options; the check's result and the exit code. */
async function journalCheck(root: string, options?: Record<string, unknown>) {
  const dir = await tempDir('nbs-journal-project-')
  writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ include: [], ...(options ? { options: { 'journal-errors': options } } : {}) }))
  const r = await nbs(['check', '--reporter', 'json', '--root', root, '--host', nameRoot(root), '--only', 'journal-errors'], { cwd: dir })
  const check = r.stdout ? JSON.parse(r.stdout).phases.flatMap((p: { checks: unknown[] }) => p.checks)[0] : undefined
  return { exitCode: r.exitCode, stderr: r.stderr, check, report: r.stdout ? JSON.parse(r.stdout) : undefined }
}

let root = ''
beforeAll(async () => {
  root = await writeJournalRoot(
    [
      { agoMs: 3 * 3_600_000, priority: 3, identifier: 'kernel', message: 'ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0]' },
      { agoMs: 10 * 60_000, priority: 3, unit: 'nginx.service', message: 'bind() to 0.0.0.0:80 failed' },
    ],
    await tempDir('nbs-journal-root-'),
  )
})

describe('journal-errors severity comes from its options', () => {
  it('is a warning by default: a failed journal-errors shows but does not fail nbs check', async () => {
    const { exitCode, check, report } = await journalCheck(root)
    expect(check).toMatchObject({ status: 'failed', severity: 'warning', title: 'journal errors stay under the threshold' })
    expect(check.message).toBe('2 journal errors since boot (max 0): kernel: ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0]; nginx.service: bind() to 0.0.0.0:80 failed')
    expect(report.status).toBe('passed')
    expect(exitCode).toBe(0)
  })

  it("severity: 'error' makes it a gate", async () => {
    const { exitCode, check } = await journalCheck(root, { severity: 'error' })
    expect(check).toMatchObject({ status: 'failed', severity: 'error' })
    expect(exitCode).toBe(1)
  })

  it('a warning still fails the run with --fail-on warning', async () => {
    const dir = await tempDir('nbs-journal-project-')
    writeFileSync(join(dir, 'nbs.config.json'), JSON.stringify({ include: [] }))
    const r = await nbs(['check', '--reporter', 'json', '--root', root, '--host', nameRoot(root), '--only', 'journal-errors', '--fail-on', 'warning'], { cwd: dir })
    expect(r.exitCode).toBe(1)
  })

  it('ignore and maxErrors apply: the ACPI noise ignored, the bind error under the threshold', async () => {
    const { exitCode, check } = await journalCheck(root, { severity: 'error', ignore: ['^ACPI BIOS Error'], maxErrors: 1 })
    expect(check).toMatchObject({ status: 'passed', message: '1 journal error since boot (max 1): nginx.service: bind() to 0.0.0.0:80 failed' })
    expect(check.details).toMatchObject({ count: 1, ignored: 1 })
    expect(exitCode).toBe(0)
  })
})

describe('journal-errors options are validated before anything runs', () => {
  it('a bad ignore regex is exit 3 naming options.journal-errors.ignore[N] and the error', async () => {
    const { exitCode, stderr, report } = await journalCheck(root, { ignore: ['^fine$', '[unclosed'] })
    expect(exitCode).toBe(3)
    expect(report).toBeUndefined()
    expect(stderr).toMatch(/nbs\.config\.json: options\.journal-errors\.ignore\[1\]: invalid regular expression: .*\[unclosed.*Unterminated character class/)
  })

  it('a window that is neither boot, activation nor a duration is exit 3', async () => {
    const { exitCode, stderr } = await journalCheck(root, { since: 'yesterday' })
    expect(exitCode).toBe(3)
    expect(stderr).toMatch(/options\.journal-errors\.since: "boot", "activation" or a duration such as "1h"/)
  })
})

describe('journal-errors windows and skips under --root', () => {
  it('a root without var/log/journal (volatile journal) is skipped with that reason', async () => {
    const volatile = await tempDir('nbs-volatile-root-')
    const { exitCode, check } = await journalCheck(volatile, { severity: 'error' })
    expect(check).toMatchObject({ status: 'skipped', message: `no persistent journal under ${volatile} (journald storage is volatile)` })
    expect(exitCode).toBe(0)
  })

  it('a persistent journal that holds no boot yet (an image never booted) is skipped, not an error', async () => {
    const empty = await tempDir('nbs-unbooted-root-')
    await mkdir(join(empty, 'var/log/journal'), { recursive: true })
    const { exitCode, check } = await journalCheck(empty, { severity: 'error' })
    expect(check).toMatchObject({ status: 'skipped', message: expect.stringContaining('holds no record of that boot') })
    expect(exitCode).toBe(0)
  })

  it("since: 'activation' counts what came after the current-system link, and names the window", async () => {
    const activated = await tempDir('nbs-activated-root-')
    await writeJournalRoot(
      [
        { agoMs: 2 * 3_600_000, priority: 3, identifier: 'kernel', message: 'ACPI Error: AE_NOT_FOUND' },
        { agoMs: 5 * 60_000, priority: 3, identifier: 'kernel', message: 'Out of memory: Killed process 4242 (postgres)' },
      ],
      activated,
    )
    await mkdir(join(activated, 'run'))
    await symlink('/nix/store/0000000000000000000000000000000b-nixos-system-demo', join(activated, 'run/current-system'))
    const at = Math.floor(Date.now() / 1000) - 3600
    await lutimes(join(activated, 'run/current-system'), at, at)
    const { check } = await journalCheck(activated, { since: 'activation' })
    expect(check).toMatchObject({ status: 'failed', message: '1 journal error since activation (max 0): kernel: Out of memory: Killed process 4242 (postgres)' })
    expect(check.details.activatedAt).toBe(new Date(at * 1000).toISOString())
    const hour = await journalCheck(activated, { since: '3h' })
    expect(hour.check.message).toMatch(/^2 journal errors in the last 3h \(max 0\)/)
  })

  it("since: 'activation' on a root without /run/current-system is a skip naming the window", async () => {
    const { check } = await journalCheck(root, { since: 'activation' })
    expect(check).toMatchObject({ status: 'skipped', message: `since activation: no /run/current-system link on root ${root}: the activation time is unknown, so "since: activation" cannot apply` })
  })
})
