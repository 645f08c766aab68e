import { defineCheck, evalToplevel, nixOptionArgs } from 'nbs'

// The flake's NixOS configuration evaluates: the first thing to know before any build.
export default defineCheck({
  id: 'flake-eval',
  title: "the flake's NixOS configuration evaluates",
  phase: 'pre-build',
  tags: ['nix'],
  timeout: '10m',
  async run(ctx) {
    const result = await evalToplevel({ exec: ctx.exec, flake: ctx.flake, host: ctx.host, extraArgs: nixOptionArgs(ctx.nixOptions) })
    if ('notFound' in result) ctx.skip('nix is not on PATH')
    if (!result.ok) {
      const [first, ...rest] = result.errors
      ctx.fail(first?.message ?? 'nix eval failed', { ...first, errors: rest.length ? result.errors : undefined, flake: ctx.flake, host: ctx.host })
    }
    return { message: result.drvPath, details: { drvPath: result.drvPath, outPath: result.outPath }, data: { drvPath: result.drvPath, outPath: result.outPath } }
  },
})
