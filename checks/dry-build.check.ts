import { defineCheck, dryBuild, nixOptionArgs } from 'nixos-build-status'

// The evaluated toplevel can be built: what a rebuild would build and fetch, without building.
// The counts are Nix's own; details keep a sample of the paths.
export default defineCheck({
  id: 'dry-build',
  title: 'the system toplevel dry-builds',
  phase: 'build',
  needs: ['flake-eval'],
  tags: ['nix'],
  timeout: '10m',
  async run(ctx) {
    const { drvPath } = ctx.needs['flake-eval']!.data as { drvPath: string }
    const result = await dryBuild({ exec: ctx.exec, drvPath, extraArgs: nixOptionArgs(ctx.nixOptions) })
    // return: ctx is not explicitly typed, so TS does not narrow on a never-returning call alone
    if ('notFound' in result) return ctx.skip('nix-store is not on PATH')
    if (!result.ok) return ctx.fail(result.errors[0]?.message ?? 'dry build failed', { ...result.errors[0], drvPath })
    const { toBuild, toFetch, fetchSizes } = result
    const size = fetchSizes?.download ? ` (${fetchSizes.download} download)` : ''
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
    return {
      message: `${plural(toBuild.count, 'derivation')} to build, ${plural(toFetch.count, 'path')} to fetch${size}`,
      details: { drvPath, toBuild, toFetch, ...(fetchSizes ? { fetchSizes } : {}) },
      data: { toBuild, toFetch },
    }
  },
})
