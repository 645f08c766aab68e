import { checkJournalErrors, defineCheck, describeJournalErrors, systemdIsPid1, z } from 'nbs'

// Journal entries at priority err or worse stay under a threshold; the message shows the top ones.
export default defineCheck({
  id: 'journal-errors',
  title: 'the journal has no errors since boot',
  phase: 'health',
  tags: ['systemd'],
  timeout: '1m',
  options: z.object({
    since: z
      .string()
      .regex(/^(boot|\d+(\.\d+)?\s*(s|m|h|d))$/, '"boot" or a duration such as "1h"')
      .default('boot'),
    maxErrors: z.number().int().min(0).default(0),
    ignore: z.array(z.string()).default([]).describe('regular expressions; matching messages are not counted'),
  }),
  async run(ctx) {
    // the live journal needs a running systemd; another --root is read from its files
    if (ctx.root === '/') {
      const pid1 = await systemdIsPid1({ root: ctx.root })
      if (!pid1.ok) ctx.skip(pid1.reason)
    }
    const result = await checkJournalErrors({ exec: ctx.exec, root: ctx.root, ...ctx.options })
    const message = describeJournalErrors(result)
    if (!result.ok) ctx.fail(message, result)
    return { message, details: result }
  },
})
