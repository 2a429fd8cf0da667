/**
 * Time is injected into every protocol core and driver so that the simulator can run them on a
 * virtual clock. Production code uses `systemTime`.
 */
export interface TimerHandle {
  cancel: () => void
}

export interface TimeSource {
  /** Milliseconds; monotonic in the simulator, wall-clock (Date.now) in production. */
  now: () => number
  /** Calls `fn` once after `delayMs`. */
  setTimeout: (fn: () => void, delayMs: number) => TimerHandle
}

export const systemTime: TimeSource = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, delayMs: number): TimerHandle => {
    const t = setTimeout(fn, delayMs)
    t.unref?.()
    return { cancel: () => { clearTimeout(t) } }
  }
})
