import { defineCheck, evalToplevel, nixOptionArgs, notAFlakeReason } from 'nixos-build-status'

// The flake's NixOS configuration evaluates: the first thing to know before any build. Its data
// (toplevel, platform, networking.hostName) tells later checks what to build and whether the
// host is this machine.
export default defineCheck({
  id: 'flake-eval',
  title: "the flake's NixOS configuration evaluates",
  phase: 'pre-build',
  tags: ['nix'],
  timeout: '10m',
  async run(ctx) {
    const notAFlake = notAFlakeReason(ctx.flake)
    if (notAFlake) return ctx.skip(notAFlake)
    const result = await evalToplevel({ exec: ctx.exec, flake: ctx.flake, host: ctx.host, extraArgs: nixOptionArgs(ctx.nixOptions) })
    if ('notFound' in result) return ctx.skip('nix is not on PATH')
    if (!result.ok) {
      const [first, ...rest] = result.errors
      ctx.fail(first?.message ?? 'nix eval failed', { ...first, errors: rest.length ? result.errors : undefined, flake: ctx.flake, host: ctx.host })
    }
    const { ok: _ok, ...data } = result
    return { message: result.drvPath, details: data, data }
  },
})
