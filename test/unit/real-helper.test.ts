/**
 * test/helpers/real.ts itself: a suite whose component is missing fails under CI=true with one line
 * naming the package, and is skipped with that reason otherwise. Proven by running vitest in a
 * subprocess on a tiny test file, with NBS_TEST_MISSING making the Nix probe answer "missing".
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { hasNix } from '../helpers/nix.js'
import { REPO_ROOT } from '../helpers/project.js'

const dir = mkdtempSync(join(tmpdir(), 'nbs-real-helper-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'))
writeFileSync(
  join(dir, 'needs.test.ts'),
  `import { expect, it } from 'vitest'
import { needs } from ${JSON.stringify(join(REPO_ROOT, 'test/helpers/real.ts'))}
needs('nix').describe('a suite on real Nix', () => { it('runs', () => expect(1).toBe(1)) })
needs('nix').it('a test on real Nix', () => expect(1).toBe(1))
`,
)
writeFileSync(join(dir, 'vitest.config.mjs'), 'export default { test: { include: ["needs.test.ts"] } }\n')

const vitest = (env: Record<string, string | undefined>) =>
  execa(process.execPath, [join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', dir, '--reporter', 'verbose'], {
    cwd: dir,
    reject: false,
    // CI, GITHUB_ACTIONS etc. from the outer run must not leak in: this test sets CI itself
    env: { CI: undefined, GITHUB_ACTIONS: undefined, NO_COLOR: '1', FORCE_COLOR: undefined, ...env },
    extendEnv: true,
  })

describe('needs(component)', () => {
  it('CI=true and nix missing: the run fails, with one line naming the Debian package', async () => {
    const r = await vitest({ CI: 'true', NBS_TEST_MISSING: 'nix' })
    const out = `${r.stdout}\n${r.stderr}`
    expect(r.exitCode).not.toBe(0)
    expect(out).toContain('Error: CI=true and nix missing: install Debian\'s Nix: apt-get install nix-bin')
    expect(out).toMatch(/2 failed/)
  })

  it('outside CI, nix missing: skipped with the reason in the title, and the run passes', async () => {
    const r = await vitest({ NBS_TEST_MISSING: 'nix' })
    expect(r.exitCode, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toContain('a suite on real Nix — skipped: nix missing: install Debian\'s Nix: apt-get install nix-bin')
    expect(r.stdout).toMatch(/2 skipped/)
  })

  it('component present: the tests run', async () => {
    const r = await vitest({ CI: 'true', NBS_TEST_MISSING: 'not-a-component' })
    expect(r.stdout).not.toMatch(/skipped/)
    expect(r.exitCode, r.stdout).toBe(hasNix() ? 0 : 1)
  })
})
