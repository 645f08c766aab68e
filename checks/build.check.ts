import { buildDerivation, buildPlatforms, defineCheck, describeBuildFailure, nixOptionArgs, unbuildableReason } from 'nixos-build-status'

// The toplevel really builds (opt-in: it can take long). A failure names each derivation that
// failed, its builder's exit code and its last log lines; a toplevel this machine cannot build
// (another platform, no builder for it) is skipped with the reason, not failed.
export default defineCheck({
  id: 'build',
  title: 'the system toplevel builds',
  phase: 'build',
  needs: ['flake-eval'],
  optIn: true,
  runsOn: 'local',
  tags: ['nix'],
  timeout: '2h',
  async run(ctx) {
    const { drvPath, system } = ctx.needs['flake-eval']!.data as { drvPath: string; system?: string }
    const nix = { exec: ctx.exec, signal: ctx.signal, extraArgs: nixOptionArgs(ctx.nixOptions) }
    // known before building: a platform this machine's Nix cannot build (nix show-config)
    const platforms = system ? await buildPlatforms({ ...nix, readFile: (path) => ctx.machine.readFile(path) }) : undefined
    const cannot = system && platforms && unbuildableReason(system, platforms)
    if (cannot) return ctx.skip(cannot)
    const result = await buildDerivation({ ...nix, drvPath })
    if ('notFound' in result) return ctx.skip('nix-store is not on PATH')
    if ('unsupported' in result) return ctx.skip(`cannot be built on this machine: ${result.unsupported}`)
    if (!result.ok) {
      const { message, details } = describeBuildFailure(result, drvPath)
      return ctx.fail(message, details)
    }
    const message = `${result.outPaths.join(', ') || drvPath}${result.built ? ` (${result.built} built)` : ' (already built)'}`
    return { message, details: { drvPath, outPaths: result.outPaths, built: result.built }, data: { outPaths: result.outPaths } }
  },
})
