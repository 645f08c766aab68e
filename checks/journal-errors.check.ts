import { checkJournalErrors, defineCheck, describeWindow, describeJournalErrors, journalAccess, journalErrorsOptionsSchema, JournalUnavailableError } from 'nixos-build-status'

// Journal entries at priority err or worse, kernel included, stay under a threshold; the message
// shows the window and the top messages. A warning by default (boot-time firmware and ACPI noise
// should show without failing every run); `severity: 'error'` in its options makes it a gate.
export default defineCheck({
  id: 'journal-errors',
  title: 'journal errors stay under the threshold',
  phase: 'health',
  tags: ['systemd'],
  timeout: '1m',
  severity: 'warning',
  options: journalErrorsOptionsSchema,
  async run(ctx) {
    // volatile storage, no systemd, or a reader who would see only their own entries: a skip, never a pass
    const access = await journalAccess(ctx.machine)
    if (!access.ok) return ctx.skip(access.reason)
    const { since, maxErrors, ignore } = ctx.options
    const result = await checkJournalErrors({ machine: ctx.machine, access, since, maxErrors, ignore }).catch((e: unknown) => {
      if (e instanceof JournalUnavailableError) ctx.skip(`${describeWindow(since)}: ${e.message}`)
      throw e
    })
    const message = describeJournalErrors(result)
    if (!result.ok) ctx.fail(message, result)
    return { message, details: result }
  },
})
