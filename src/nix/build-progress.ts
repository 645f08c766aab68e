/**
 * The bounded state behind BuildLogParser (build-log.ts): the live activity tree, running and
 * recently stopped builds with the last lines of each, and progress totals per activity type
 * summed the way Nix's own progress bar does (`progress-bar.cc`). Ids stay strings (> 2^53).
 */
import { unpinned, type MessageClass } from './internal-json.js'

export interface Counter {
  done: number
  expected: number
  running: number
  failed: number
}

export interface BuildProgress {
  /** from result 105 on the actBuilds (104) activity */
  builds: Counter
  /** from result 105 on actCopyPaths (103): substituted / copied paths */
  downloads: Counter
  /** download bytes (101 fileTransfer) when Nix reported any, else copied NAR bytes (100 copyPath) */
  bytes: { done: number; expected: number }
  /** bytes of 101 fileTransfer activities (`MiB DL` in Nix's bar) */
  downloadBytes: { done: number; expected: number }
  /** bytes of 100 copyPath activities (`X copied (Y MiB)` in Nix's bar) */
  copiedBytes: { done: number; expected: number }
  /** active actBuild (105) activities, newest last; one entry per drv (remote builds start two) */
  running: { drv: string; phase?: string; id: string; machine?: string }[]
}

export type BuildLogEvent =
  | { type: 'build-started'; id: string; drv: string; machine?: string; parent?: string }
  /** a 105 activity stopped; failed when an error named its drv or the failed counter rose just before */
  | { type: 'build-stopped'; id: string; drv: string; failed: boolean }
  | { type: 'phase'; id: string; drv: string; phase: string }
  | { type: 'message'; level: number; text: string; kind: MessageClass }
  | { type: 'progress' }

/** A live activity, as the tree needs it. */
export interface ActivityInfo {
  id: string
  type: number
  /** `"0"` for none (and before Nix 2.18, which has no `parent`) */
  parent: string
  text: string
  /** the drv of the build this activity is (type 105) or sits under */
  drv?: string
}

// ActivityType codes (reference/nix.md §1.4)
const COPY_PATH = 100
const FILE_TRANSFER = 101
const COPY_PATHS = 103
const BUILDS = 104
const BUILD = 105

// Bounds: what stays in memory however long the stream.
const RECENT_BUILDS = 64 // stopped builds whose tail is kept, to name a failed drv after its stop
const MAX_ACTIVITIES = 20_000 // live activities; the oldest go if stops were lost
const MAX_FAILED_DRVS = 1000
const MAX_LINE_CHARS = 4096 // one stored build log line
const PENDING_WINDOW = 64 // activity records within which a risen `failed` counter marks the next stopped build

/**
 * The last `capacity` lines pushed. `raw` lines hold UTF-8 bytes as latin1 characters (see
 * StreamSplitter). Lines are slices of a big chunk string until seal() copies the ones still
 * kept: copying each line as it comes would cost more than the parsing, as most are overwritten.
 */
export class Ring {
  private readonly buf: string[] = []
  private readonly raw: boolean[] = []
  private next = 0
  private full = false
  private unsealed = 0
  constructor(readonly capacity: number) {}

  /** Returns true when this push made the ring need a seal(). */
  push(s: string, raw: boolean): boolean {
    if (this.capacity <= 0) return false
    this.buf[this.next] = s.length > MAX_LINE_CHARS ? `${s.slice(0, MAX_LINE_CHARS)}…` : s
    this.raw[this.next] = raw
    if (++this.next === this.capacity) {
      this.next = 0
      this.full = true
    }
    return this.unsealed++ === 0
  }

  /** Copies the lines pushed since the last seal, so they no longer pin the string they were sliced from. */
  seal(): void {
    const n = Math.min(this.unsealed, this.capacity)
    for (let k = 1; k <= n; k++) {
      const i = (this.next - k + this.capacity) % this.capacity
      this.buf[i] = unpinned(this.buf[i]!)
    }
    this.unsealed = 0
  }

  toArray(): string[] {
    this.seal()
    const order = this.full ? [...range(this.next, this.capacity), ...range(0, this.next)] : range(0, this.next)
    return order.map((i) => (this.raw[i] ? latin1ToUtf8(this.buf[i]!) : this.buf[i]!))
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

/** Re-decodes a string holding UTF-8 bytes as latin1 characters. */
export function latin1ToUtf8(s: string): string {
  return /[\x80-\xff]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s
}

/** One build (one actBuild activity, or two for the same drv), with the tail of its log. */
export interface BuildState {
  id: string
  drv: string
  machine?: string
  phase?: string
  refs: number
  lines: number
  tail: Ring
}

interface Activity {
  type: number
  parent: string
  text: string
  build: BuildState | undefined
  /** last result 105: done, expected, running, failed */
  p: number[] | undefined
  announced: Map<number, number> | undefined
}

interface Totals {
  done: number
  expected: number
  running: number
  failed: number
  /** result 106 setExpected; Nix's bar shows max(sum of 105 expected, this) */
  announced: number
}

export class BuildTracker {
  private readonly acts = new Map<string, Activity>()
  private readonly running = new Map<string, BuildState>() // by drv, in start order
  private readonly recent = new Map<string, BuildState>() // stopped, oldest first
  private readonly failedDrvs = new Set<string>()
  // Sums over all activities of a type, live and stopped: a stopped one keeps done/expected/failed
  // (a finished run still reads "3/3 built") and its running count goes to 0.
  private readonly totals = new Map<number, Totals>([COPY_PATH, FILE_TRANSFER, COPY_PATHS, BUILDS].map((t) => [t, { done: 0, expected: 0, running: 0, failed: 0, announced: 0 }]))
  private snapshot: BuildProgress | undefined
  private ops = 0
  private pendingFailed = 0
  private pendingAt = 0

  constructor(
    private readonly tailLines: number,
    private readonly emit: (e: BuildLogEvent) => void,
  ) {}

  start(id: string, type: number, parent: string, text: string, fields: unknown[]): void {
    this.ops++
    if (this.acts.size >= MAX_ACTIVITIES) this.acts.delete(this.acts.keys().next().value!)
    const a: Activity = { type, parent, text, build: this.acts.get(parent)?.build, p: undefined, announced: undefined }
    this.acts.set(id, a)
    if (type !== BUILD) return
    const drv = typeof fields[0] === 'string' && fields[0] ? fields[0] : (/'([^']+\.drv)'/.exec(text)?.[1] ?? id)
    const machine = typeof fields[1] === 'string' && fields[1] ? fields[1] : undefined
    let b = this.running.get(drv)
    if (!b) {
      // a drv rebuilt right after a stop (a retry) keeps its lines
      b = this.recent.get(drv) ?? { id, drv, refs: 0, lines: 0, tail: new Ring(this.tailLines) }
      this.recent.delete(drv)
      b.id = id
      delete b.phase
      this.running.set(drv, b)
    }
    if (machine) b.machine = machine
    b.refs++
    a.build = b
    this.snapshot = undefined
    this.emit({ type: 'build-started', id, drv, ...(machine && { machine }), ...(parent !== '0' && { parent }) })
    this.emit({ type: 'progress' })
  }

  /** Returns the build that stopped, if the activity was one. */
  stop(id: string): BuildState | undefined {
    this.ops++
    const a = this.acts.get(id)
    if (!a) return undefined
    this.acts.delete(id)
    let changed = false
    const t = this.totals.get(a.type)
    if (t && a.p && a.p[2]) {
      t.running -= a.p[2]
      changed = true
    }
    const b = a.type === BUILD ? a.build : undefined
    if (b) {
      // `stop` has no status (nix.md §1.9): failed when an error named the drv, or when the builds'
      // failed counter rose just before (Nix ≤ 2.28 logs the builder error only after the stop)
      const pending = this.pendingFailed > 0 && this.ops - this.pendingAt <= PENDING_WINDOW
      this.pendingFailed = pending ? this.pendingFailed - 1 : 0
      const failed = pending || this.failedDrvs.has(b.drv)
      if (--b.refs <= 0) {
        this.running.delete(b.drv)
        this.recent.set(b.drv, b)
        if (this.recent.size > RECENT_BUILDS) this.recent.delete(this.recent.keys().next().value!)
      }
      changed = true
      this.emit({ type: 'build-stopped', id, drv: b.drv, failed })
    }
    if (changed) this.changed()
    return b
  }

  /** The build an activity belongs to (itself, or its nearest actBuild ancestor). */
  buildOf(id: string): BuildState | undefined {
    return this.acts.get(id)?.build
  }

  phase(id: string, phase: string): void {
    this.ops++
    const b = this.acts.get(id)?.build
    if (!b) return
    b.phase = phase
    this.snapshot = undefined
    this.emit({ type: 'phase', id, drv: b.drv, phase })
  }

  /** Result 105 `[done, expected, running, failed]`. */
  progress(id: string, done: number, expected: number, running: number, failed: number): void {
    this.ops++
    const a = this.acts.get(id)
    const t = a && this.totals.get(a.type)
    if (!t) return
    const p = (a.p ??= [0, 0, 0, 0])
    if (p[0] === done && p[1] === expected && p[2] === running && p[3] === failed) return
    t.done += done - p[0]!
    t.expected += expected - p[1]!
    t.running += running - p[2]!
    t.failed += failed - p[3]!
    if (a.type === BUILDS && failed > p[3]!) {
      this.pendingFailed += failed - p[3]!
      this.pendingAt = this.ops
    }
    a.p = [done, expected, running, failed]
    this.changed()
  }

  /** Result 106 `[activityType, expected]`: replaces what this activity announced for that type. */
  setExpected(id: string, type: number, expected: number): void {
    this.ops++
    const a = this.acts.get(id)
    const t = this.totals.get(type)
    if (!a || !t) return
    const announced = (a.announced ??= new Map())
    const before = announced.get(type) ?? 0
    if (before === expected) return
    t.announced += expected - before
    announced.set(type, expected)
    this.changed()
  }

  /** An error named this drv: its build (running or about to stop) failed. */
  markFailed(drv: string): void {
    this.failedDrvs.add(drv)
    if (this.failedDrvs.size > MAX_FAILED_DRVS) this.failedDrvs.delete(this.failedDrvs.values().next().value!)
  }

  progressSnapshot(): BuildProgress {
    if (this.snapshot) return this.snapshot
    const counter = (type: number): Counter => {
      const t = this.totals.get(type)!
      return { done: t.done, expected: Math.max(t.expected, t.announced), running: t.running, failed: t.failed }
    }
    const bytes = (type: number) => {
      const { done, expected } = counter(type)
      return { done, expected }
    }
    const downloadBytes = bytes(FILE_TRANSFER)
    const copiedBytes = bytes(COPY_PATH)
    this.snapshot = {
      builds: counter(BUILDS),
      downloads: counter(COPY_PATHS),
      bytes: downloadBytes.done || downloadBytes.expected ? downloadBytes : copiedBytes,
      downloadBytes,
      copiedBytes,
      running: [...this.running.values()].map((b) => ({
        drv: b.drv,
        id: b.id,
        ...(b.phase !== undefined && { phase: b.phase }),
        ...(b.machine !== undefined && { machine: b.machine }),
      })),
    }
    return this.snapshot
  }

  tail(drv: string): string[] {
    return (this.running.get(drv) ?? this.recent.get(drv))?.tail.toArray() ?? []
  }

  activity(id: string): ActivityInfo | undefined {
    const a = this.acts.get(id)
    return a && { id, type: a.type, parent: a.parent, text: a.text, ...(a.build && { drv: a.build.drv }) }
  }

  get sizes(): { activities: number; running: number; recent: number; failedDrvs: number } {
    return { activities: this.acts.size, running: this.running.size, recent: this.recent.size, failedDrvs: this.failedDrvs.size }
  }

  private changed(): void {
    this.snapshot = undefined
    this.emit({ type: 'progress' })
  }
}
