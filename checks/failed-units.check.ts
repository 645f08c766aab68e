import { checkFailedUnits, defineCheck, describeFailedUnits, failedUnitsOptionsSchema, systemdIsPid1 } from 'nixos-build-status'

// No systemd unit is in the failed state; each failed unit comes with its last journal lines.
export default defineCheck({
  id: 'failed-units',
  title: 'no systemd unit has failed',
  phase: 'health',
  tags: ['systemd'],
  timeout: '1m',
  // the same schema nbs status reads these options with
  options: failedUnitsOptionsSchema,
  async run(ctx) {
    const pid1 = await systemdIsPid1(ctx.machine)
    if (!pid1.ok) return ctx.skip(pid1.reason)
    const result = await checkFailedUnits({ machine: ctx.machine, ignore: ctx.options.ignore, journalLines: ctx.options.journalLines })
    const message = describeFailedUnits(result)
    if (result.units.length > 0) ctx.fail(message, result)
    return { message, details: result }
  },
})
