/**
 * A counting semaphore: at most `max` calls of `run` at once, the rest wait in arrival order.
 * Fleet runs share one for the local checks of every host (ten hosts must not mean ten NixOS
 * evaluations at once on a 2-core runner) and one for the hosts themselves (`--parallel`).
 */
export interface Limiter {
  run<T>(fn: () => Promise<T>): Promise<T>
  readonly max: number
}

/** `max` ≤ 0 or Infinity: no limit. */
export function limiter(max: number): Limiter {
  const limit = max > 0 ? max : Infinity
  let active = 0
  const waiting: (() => void)[] = []
  // a freed slot passes straight to the next waiter, so a newcomer can never slip in between
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else active--
  }
  return {
    max: limit,
    async run(fn) {
      if (active >= limit) await new Promise<void>((go) => waiting.push(go))
      else active++
      try {
        return await fn()
      } finally {
        release()
      }
    },
  }
}
