import { defineCheck, z } from 'nixos-build-status'

// The programmatic form: run commands through ctx.exec, parse, decide; options come from nbs.config.ts.
export default defineCheck({
  id: 'root-free-space',
  title: 'the root filesystem has free space',
  phase: 'health',
  severity: 'warning',
  options: z.object({ minFreePercent: z.number().min(0).max(100).default(5) }),
  async run(ctx) {
    const df = await ctx.exec('df', ['--output=pcent', ctx.root])
    if (df.exitCode !== 0) ctx.fail(`df failed: ${df.stderr.text.trim()}`)
    const used = Number(df.stdout.text.split('\n')[1]?.trim().replace('%', ''))
    if (!Number.isFinite(used)) ctx.fail(`cannot read df output: ${df.stdout.text}`)
    const free = 100 - used
    if (free < ctx.options.minFreePercent) ctx.fail(`${free}% free on ${ctx.root}, want at least ${ctx.options.minFreePercent}%`, { usedPercent: used })
    return { message: `${free}% free`, data: { freePercent: free } }
  },
})
