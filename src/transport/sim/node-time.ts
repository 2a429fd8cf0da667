import { InvalidArgumentError } from '../../api/errors.js'
import type { TimeSource, TimerHandle } from '../../runtime/time.js'
import { normalizeTimerDelay, type SimClock } from './clock.js'
import type { SimEvent } from './event-queue.js'

/**
 * The clock of one simulated machine: true simulated time seen through an offset and a rate.
 * `offsetMs` is how far the machine's clock is ahead of true time at the moment it is set; `rate`
 * is how fast it runs (1.0001 gains 0.1 ms per second). It belongs to the machine, so it survives a
 * process restart. A negative step of the offset moves the clock backwards, as an NTP step does;
 * code that needs monotonic time must cope, exactly as with Date.now in production.
 */
export interface ClockSkew {
  offsetMs: number
  rate: number
}

/** Beyond this a "clock" is no longer a clock; drift in practice is a few parts per million. */
const rateMax = 10

export class MachineClock {
  private baseTrueMs = 0
  private baseLocalMs = 0
  rate = 1

  constructor (private readonly clock: SimClock) {
    this.baseTrueMs = clock.now()
    this.baseLocalMs = clock.now()
  }

  now (): number {
    return this.rate === 1
      ? this.baseLocalMs + (this.clock.now() - this.baseTrueMs)
      : this.baseLocalMs + (this.clock.now() - this.baseTrueMs) * this.rate
  }

  set (skew: ClockSkew): void {
    if (!Number.isFinite(skew.offsetMs)) throw new InvalidArgumentError('clock skew offsetMs must be a finite number')
    if (!(skew.rate > 0 && skew.rate <= rateMax)) throw new InvalidArgumentError(`clock skew rate must be in (0, ${rateMax}]`)
    this.baseTrueMs = this.clock.now()
    this.baseLocalMs = this.baseTrueMs + skew.offsetMs
    this.rate = skew.rate
  }
}

/**
 * The TimeSource one process incarnation sees. Its timers belong to the process: `kill()` (a
 * crash) cancels them all so that no code of a dead process ever runs again, and while the
 * process is paused (`pausedUntilMs`) a due timer waits until the pause ends, in its original order.
 */
export class ProcessTime implements TimeSource {
  /** True simulated time until which the process is frozen. */
  pausedUntilMs = -Infinity
  private readonly timers = new Set<ProcessTimer>()
  private dead = false

  constructor (readonly clock: SimClock, private readonly machine: MachineClock) {}

  now (): number {
    return this.machine.now()
  }

  setTimeout (fn: () => void, delayMs: number): TimerHandle {
    const timer = new ProcessTimer(fn, this)
    if (this.dead) return timer
    this.timers.add(timer)
    this.clock.schedule(timer, this.clock.now() + normalizeTimerDelay(delayMs) / this.machine.rate)
    return timer
  }

  get alive (): boolean {
    return !this.dead
  }

  get pendingTimers (): number {
    return this.timers.size
  }

  kill (): void {
    this.dead = true
    for (const timer of this.timers) this.clock.unschedule(timer)
    this.timers.clear()
  }

  /** @internal */
  fireTimer (timer: ProcessTimer, fn: () => void): void {
    if (this.pausedUntilMs > this.clock.now()) {
      this.clock.schedule(timer, this.pausedUntilMs)
      return
    }
    this.timers.delete(timer)
    fn()
  }

  /** @internal */
  cancelTimer (timer: ProcessTimer): void {
    if (this.timers.delete(timer)) this.clock.unschedule(timer)
  }
}

class ProcessTimer implements SimEvent, TimerHandle {
  atMs = 0
  seq = 0
  cancelled = false
  readonly cancel: () => void

  constructor (private readonly fn: () => void, private readonly owner: ProcessTime) {
    this.cancel = () => { owner.cancelTimer(this) }
  }

  fire (): void {
    this.owner.fireTimer(this, this.fn)
  }
}
