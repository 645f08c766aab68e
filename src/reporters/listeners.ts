import { formatDuration } from '../checks/duration.js'

/**
 * One ordered queue per listener (a reporter, or one plugin's hooks): each gets every event in
 * order, but listeners never wait for each other, so a slow webhook in a plugin hook does not
 * freeze the live view or TAP streaming. A call that misses its deadline abandons the listener:
 * its later events are dropped, and the run goes on to write every other report.
 *
 * The deadline timers are ref'd on purpose: a hook whose promise never settles must not leave
 * the event loop empty (Node would exit 13 with no report written); the timer keeps the process
 * alive until the deadline, then the run carries on without that listener.
 */
export class ListenerQueue {
  private tail: Promise<void> = Promise.resolve()
  private current: string | undefined
  /** set once a call missed its deadline: no further call is made */
  abandoned = false
  /** a call threw or rejected (the listener goes on getting events) */
  failed = false

  constructor(
    /** how problems name it: `plugin slack (onRunEnd)` is built from `plugin slack` */
    readonly label: string,
    private readonly deadlineMs: number,
    private readonly problem: (line: string) => void,
  ) {}

  /** Queues `call` for event `hook`; dropped once the listener is abandoned. */
  push(hook: string, call: () => unknown): void {
    this.tail = this.tail.then(async () => {
      if (this.abandoned) return
      this.current = hook
      try {
        const late = await raceDeadline(Promise.resolve().then(call), this.deadlineMs)
        if (late && !this.abandoned) this.abandon(`did not finish within ${formatDuration(this.deadlineMs)}`)
      } catch (e) {
        this.failed = true
        this.problem(`${this.label} (${hook}): ${describe(e)}`)
      } finally {
        this.current = undefined
      }
    })
  }

  /**
   * Waits for the queued events, at most `deadlineMs` more (one deadline for the whole backlog at
   * the end of a run, so many slow-but-not-hung calls cannot add up). Resolves true when all ran.
   */
  async drain(deadlineMs = this.deadlineMs): Promise<boolean> {
    const late = await raceDeadline(this.tail, deadlineMs)
    if (late && !this.abandoned) this.abandon(`did not finish within ${formatDuration(deadlineMs)}`)
    return !this.abandoned
  }

  private abandon(why: string): void {
    this.abandoned = true
    this.problem(`${this.label}${this.current ? ` (${this.current})` : ''}: ${why}; abandoned`)
  }
}

/** Whether `p` settled within `ms` (a ref'd timer holds the process meanwhile); rethrows what `p` throws in time. */
export async function withinDeadline(p: Promise<unknown>, ms: number): Promise<boolean> {
  return !(await raceDeadline(p, ms))
}

/** Resolves true when `p` was still pending after `ms`; rethrows what `p` throws in time. */
function raceDeadline(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  // ref'd: it is what keeps the process alive while a never-settling promise is awaited
  const deadline = new Promise<boolean>((done) => (timer = setTimeout(() => done(true), Math.min(ms, 2 ** 31 - 1))))
  return Promise.race([p.then(() => false), deadline]).finally(() => clearTimeout(timer))
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message || e.name
  return String(e)
}
