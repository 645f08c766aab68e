/**
 * The flake and modules, as far as this machine can check them (nixpkgs cannot be fetched here, so
 * nothing is built or evaluated against the real module system): every .nix file parses; the
 * modules declare the options, types and defaults nix/options.md (the README's tables) documents,
 * read from the modules' own source; the flake has the outputs the README promises; and the check
 * service's command line, evaluated from the very file the module imports, is one the built CLI
 * accepts: its JUnit, JSON and TAP reports appear and its Prometheus textfile passes promtool.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { execa } from 'execa'
import { afterEach, describe, expect, it } from 'vitest'
import { NIX_ENV } from '../helpers/nix.js'
import { CLI, REPO_ROOT } from '../helpers/project.js'
import { needs } from '../helpers/real.js'

const NIX_FILES = ['flake.nix', ...readdirSync(join(REPO_ROOT, 'nix')).filter((f) => f.endsWith('.nix')).map((f) => `nix/${f}`)]

/** nix-instantiate offline, from the repository root. */
async function nixInstantiate(args: string[]) {
  const r = await execa('nix-instantiate', args, { cwd: REPO_ROOT, env: NIX_ENV, reject: false, timeout: 60_000 })
  return r
}

/** `nix-instantiate --eval --strict --json` of an expression: the parsed value, or a thrown error with Nix's message. */
async function nixEval(expr: string): Promise<unknown> {
  const r = await nixInstantiate(['--eval', '--strict', '--json', '-E', expr])
  if (r.exitCode !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout)
}

interface OptionRow {
  name: string
  type: string
  default: string
}

/** A module's options as it declares them (test/fixtures/nix/module-options.nix). */
async function declaredOptions(module: string): Promise<OptionRow[]> {
  const rows = (await nixEval(`import ./test/fixtures/nix/module-options.nix { module = import ./${module}; }`)) as OptionRow[]
  return rows.map(({ name, type, default: d }) => ({ name, type, default: d })).sort((a, b) => a.name.localeCompare(b.name))
}

/** The table between `<!-- marker -->` and `<!-- /marker -->`, as option rows (backticks dropped). */
function documentedOptions(text: string, marker: string): OptionRow[] {
  const section = text.split(`<!-- ${marker} -->`)[1]?.split(`<!-- /${marker} -->`)[0]
  if (section === undefined) throw new Error(`no <!-- ${marker} --> section`)
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|').slice(1, 4).map((c) => c.trim().replace(/^`(.*)`$/, '$1')))
    .map(([name, type, d]) => ({ name: name!, type: type!, default: d! }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

needs('nix').describe('Nix files', () => {
  it.each(NIX_FILES)('%s parses (nix-instantiate --parse)', async (file) => {
    const r = await nixInstantiate(['--parse', file])
    expect(r.exitCode, r.stderr).toBe(0)
  })

  it.each([
    ['nix/nixos-module.nix', 'nixos-options'],
    ['nix/hm-module.nix', 'hm-options'],
  ])('%s declares exactly the options, types and defaults of the %s table', async (module, marker) => {
    const table = readFileSync(join(REPO_ROOT, 'nix/options.md'), 'utf8')
    const declared = await declaredOptions(module)
    expect(declared.length).toBeGreaterThan(2)
    expect(documentedOptions(table, marker)).toEqual(declared)
    // the README carries the same table once the section is in it
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
    if (readme.includes(`<!-- ${marker} -->`)) expect(documentedOptions(readme, marker)).toEqual(declared)
  })

  it('the flake has every output the README names, for the four systems, without nixpkgs (a stand-in input)', async () => {
    // outputs is called with a stand-in nixpkgs: only attribute names are read, nothing is built
    const outputs = (await nixEval(`
      let
        flake = import ./flake.nix;
        lib = { genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names); getExe = _: "/bin/nbs"; };
        nixpkgs = { inherit lib; legacyPackages = lib.genAttrs systems (s: { stdenv.hostPlatform.system = s; }); };
        systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
        self = flake.outputs { inherit self nixpkgs; };
        names = builtins.attrNames;
      in {
        top = names self;
        packages = builtins.mapAttrs (_: names) self.packages;
        apps = builtins.mapAttrs (_: names) self.apps;
        devShells = names self.devShells;
        formatter = names self.formatter;
        nixosModules = names self.nixosModules;
        homeModules = names self.homeModules;
        homeManagerModules = names self.homeManagerModules;
        sameHomeModule = self.homeModules.default == self.homeManagerModules.default;
        overlay = builtins.isFunction self.overlays.default;
        input = flake.inputs.nixpkgs.url;
      }`)) as Record<string, unknown>
    const systems = ['aarch64-darwin', 'aarch64-linux', 'x86_64-darwin', 'x86_64-linux']
    expect(outputs).toEqual({
      top: ['apps', 'devShells', 'formatter', 'homeManagerModules', 'homeModules', 'nixosModules', 'overlays', 'packages'],
      packages: Object.fromEntries(systems.map((s) => [s, ['default', 'nbs']])),
      apps: Object.fromEntries(systems.map((s) => [s, ['default']])),
      devShells: systems,
      formatter: systems,
      nixosModules: ['default'],
      homeModules: ['default'],
      homeManagerModules: ['default'],
      sameHomeModule: true,
      overlay: true,
      input: 'github:NixOS/nixpkgs/nixos-unstable',
    })
  })

  it('the package is nixos-build-status at package.json\'s version, runs `nbs`, and leaves tests out of its source', () => {
    const pkg = readFileSync(join(REPO_ROOT, 'nix/package.nix'), 'utf8')
    expect(pkg).toContain('pname = "nixos-build-status"')
    expect(pkg).toContain('inherit (packageJson) version')
    expect(pkg).toContain('mainProgram = "nbs"')
    expect(pkg).toMatch(/importNpmLock \{ npmRoot = src; \}/)
    const fileset = pkg.split('lib.fileset.unions [')[1]!.split(']')[0]!
    expect(fileset).not.toMatch(/test|bench|examples/)
    // nix, systemctl and journalctl stay the system's: PATH is only appended to
    expect(pkg).toMatch(/"--suffix"\s+"PATH"/)
    expect(pkg).not.toMatch(/--prefix|"--set"\s+"PATH"/)
  })
})

needs('zsh', 'fish').it('the package installs bash, zsh and fish completions, each written by the installed nbs and accepted by its shell', async () => {
  const pkg = readFileSync(join(REPO_ROOT, 'nix/package.nix'), 'utf8')
  expect(pkg).toMatch(/nativeBuildInputs = \[ installShellFiles \]/)
  const install = /installShellCompletion --cmd nbs((?:\s*\\?\s*--\w+ <\(\$out\/bin\/nbs [^)]*\))+)/.exec(pkg)
  expect(install).not.toBeNull()
  const shells = [...install![1]!.matchAll(/--(\w+) <\(\$out\/bin\/nbs ([^)]*)\)/g)].map((m) => [m[1]!, m[2]!.split(' ')] as const)
  expect(shells.map(([shell]) => shell)).toEqual(['bash', 'zsh', 'fish'])
  for (const [shell, args] of shells) {
    const script = await execa(process.execPath, [CLI, ...args])
    expect(args).toEqual(['completion', shell])
    const file = join(mkdtempSync(join(tmpdir(), 'nbs-completion-')), `nbs.${shell}`)
    writeFileSync(file, script.stdout)
    const parsed = await execa(shell, ['-n', file], { reject: false })
    rmSync(dirname(file), { recursive: true })
    expect(parsed.exitCode, `${shell}: ${parsed.stderr}`).toBe(0)
  }
})

needs('nix', 'promtool').describe('the check service runs a command line the CLI accepts', () => {
  const scratch: string[] = []
  afterEach(() => scratch.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('the module imports nix/check-command.nix for its ExecStart', () => {
    const module = readFileSync(join(REPO_ROOT, 'nix/nixos-module.nix'), 'utf8')
    expect(module).toMatch(/checkArgs = import \.\/check-command\.nix \{/)
    expect(module).toMatch(/ExecStart = utils\.escapeSystemdExecArgs \(\[ \(lib\.getExe finalPackage\) \] \+\+ checkArgs\)/)
    expect(module).toMatch(/SuccessExitStatus = "1"/)
  })

  it.each([
    ['checks pass', ['true'], 0],
    ['a check fails (exit 1: the unit still succeeds, SuccessExitStatus=1)', ['false'], 1],
  ])('%s: the JUnit, JSON and TAP reports land in reportDir and the textfile passes promtool', async (_what, command, code) => {
    const root = mkdtempSync(join(tmpdir(), 'nbs-service-'))
    scratch.push(root)
    // the machine's config as the module writes it (/etc/nbs/nbs.config.json), with one check beside it
    const etc = join(root, 'etc/nbs')
    mkdirSync(join(etc, 'checks'), { recursive: true })
    writeFileSync(join(etc, 'nbs.config.json'), JSON.stringify({ builtins: false }))
    writeFileSync(join(etc, 'checks/probe.check.json'), JSON.stringify([{ id: 'probe', command }]))
    const reportDir = join(root, 'var/lib/nbs')
    const textfiles = join(root, 'textfiles')
    mkdirSync(reportDir, { recursive: true })
    mkdirSync(textfiles)
    const argv = (await nixEval(
      `import ./nix/check-command.nix { configFile = ${JSON.stringify(join(etc, 'nbs.config.json'))}; reportDir = ${JSON.stringify(reportDir)}; prometheusFile = ${JSON.stringify(join(textfiles, 'nbs.prom'))}; extraArgs = [ "--concurrency" "2" ]; }`,
    )) as string[]
    expect(argv[0]).toBe('check')
    // as the service runs it: in reportDir, umask 0022, no colour
    const r = await execa(process.execPath, [CLI, ...argv], { cwd: reportDir, reject: false, env: { NO_COLOR: '1', GITHUB_ACTIONS: '' }, stdin: 'ignore', timeout: 60_000 })
    expect(r.exitCode, r.stderr).toBe(code)
    expect(r.stdout).toContain('probe') // the journal gets the pretty output
    expect(readdirSync(reportDir).sort()).toEqual(['junit.xml', 'report.json', 'report.tap'])
    expect(readFileSync(join(reportDir, 'junit.xml'), 'utf8')).toContain('<testsuites')
    expect(JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8'))).toBeTypeOf('object')
    expect(readFileSync(join(reportDir, 'report.tap'), 'utf8')).toMatch(code ? /^not ok \d+ .*probe/m : /^ok \d+ .*probe/m)
    const prom = join(textfiles, 'nbs.prom')
    expect(existsSync(prom)).toBe(true)
    expect(readFileSync(prom, 'utf8')).toContain(`nbs_run_success ${code ? 0 : 1}`)
    const lint = await execa('promtool', ['check', 'metrics'], { input: readFileSync(prom, 'utf8'), reject: false, timeout: 30_000 })
    expect({ exitCode: lint.exitCode, output: `${lint.stdout}${lint.stderr}`.trim() }).toEqual({ exitCode: 0, output: '' })
  })

  it('a broken machine config exits 3, which fails the unit', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nbs-service-'))
    scratch.push(root)
    writeFileSync(join(root, 'nbs.config.json'), JSON.stringify({ concurrency: 'many' }))
    const argv = (await nixEval(`import ./nix/check-command.nix { configFile = ${JSON.stringify(join(root, 'nbs.config.json'))}; reportDir = ${JSON.stringify(root)}; }`)) as string[]
    const r = await execa(process.execPath, [CLI, ...argv], { cwd: root, reject: false, env: { NO_COLOR: '1' }, stdin: 'ignore', timeout: 60_000 })
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('nbs.config.json')
  })
})
