/** At most `limit` holders at once; the rest wait in order. */
export class Semaphore {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a semaphore needs a limit of at least 1, not ${limit}`)
  }

  get inUse(): number {
    return this.active
  }

  /** how many wait for a slot */
  get queued(): number {
    return this.waiting.length
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      let released = false
      const grant = () => {
        signal?.removeEventListener('abort', onAbort)
        this.active++
        resolve(() => {
          if (released) return
          released = true
          this.active--
          this.waiting.shift()?.()
        })
      }
      const onAbort = () => {
        const i = this.waiting.indexOf(grant)
        if (i !== -1) this.waiting.splice(i, 1)
        reject(signal?.reason)
      }
      if (this.active < this.limit) return grant()
      this.waiting.push(grant)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
