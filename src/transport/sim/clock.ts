import type { TimeSource, TimerHandle } from '../../runtime/time.js'
import { EventQueue, type SimEvent } from './event-queue.js'

/**
 * Virtual time for deterministic simulation.
 *
 * The contract that makes a seed replay exactly:
 * - Events (timers, messages in flight) run one at a time in (time, insertion order). Time only
 *   moves when an event runs or a `run*` call reaches its target time; nothing real (Date.now,
 *   real timers, I/O) may influence the simulated code.
 * - Every async `run*` method lets each event **run to quiescence** before the next one: after
 *   the event's callback returns it waits on `process.nextTick`, which Node runs only after the
 *   whole microtask queue is empty. So every promise continuation the event caused — a driver
 *   resuming after `await`, the continuation it triggers, and so on — runs at the event's virtual
 *   time, before time moves. This is what a real Node process does between two timers, and it is
 *   deterministic because the microtask order is a pure function of the code.
 * - Work the caller started before calling a `run*` method (promises already in motion) settles
 *   before the first event runs.
 * - A run never yields to Node's event loop (only to microtasks and the tick queue), so a real
 *   timer or real I/O cannot complete during it: a driver that wrongly uses one stalls, visibly
 *   (`run` reports a deadlock), instead of racing the simulation. A run also blocks the process's
 *   event loop while it lasts; keep each one bounded.
 * - `step()` is the synchronous primitive: it runs exactly one event and does not wait for
 *   microtasks. Use it only for code without promises; use the async methods otherwise.
 * - Simulated code must not use `process.nextTick` or `setImmediate` itself, nor real I/O.
 *
 * Every run method is bounded by an event count (`eventsMax`) so that a livelock (a zero-delay
 * timer loop, a message storm) fails the test with a SimulationError instead of hanging it.
 */
export const runEventsMaxDefault = 10_000_000

export interface RunOptions {
  /** Most events this call may run before it throws a SimulationError. */
  eventsMax?: number
}

export interface RunWithinOptions extends RunOptions {
  /** Virtual time from now after which the call gives up. */
  maxTimeMs: number
}

export type SimulationErrorReason = 'events-max' | 'time-max' | 'deadlock'

/**
 * The simulation itself went wrong (a bound was hit, or a promise can never settle). A harness
 * fault, not a quorumkv error: print the seed and replay it.
 */
export class SimulationError extends Error {
  readonly reason: SimulationErrorReason

  constructor (reason: SimulationErrorReason, message: string) {
    super(message)
    this.reason = reason
  }

  override get name (): string {
    return 'SimulationError'
  }
}

/** Node's own rule for timer delays, so a driver sees the same delays here as on `systemTime`. */
const timerDelayMsMax = 2_147_483_647

export function normalizeTimerDelay (delayMs: number): number {
  return delayMs >= 1 && delayMs <= timerDelayMsMax ? delayMs : 1
}

class ClockTimer implements SimEvent, TimerHandle {
  atMs = 0
  seq = 0
  cancelled = false
  readonly cancel: () => void

  constructor (private readonly fn: () => void, queue: EventQueue) {
    // An own arrow so that a handle's `cancel` can be passed around unbound, as with systemTime.
    this.cancel = () => { queue.cancel(this) }
  }

  fire (): void {
    this.fn()
  }
}

/**
 * Resolves once the microtask queue is empty. Exact only when called from inside a microtask
 * (where Node runs the tick queue after the whole microtask queue); from a macrotask the tick runs
 * first. The run loops call it after each event, from inside their own async continuation.
 */
function afterMicrotasks (): Promise<void> {
  return new Promise(resolve => { process.nextTick(resolve) })
}

/** `afterMicrotasks` made exact from any caller: first step into a microtask, then drain. */
async function settleAll (): Promise<void> {
  await null
  await afterMicrotasks()
}

export class SimClock implements TimeSource {
  private nowMs: number
  private readonly queue = new EventQueue()
  private eventsRun = 0

  constructor (options: { startMs?: number } = {}) {
    this.nowMs = options.startMs ?? 0
  }

  /** Virtual milliseconds; never decreases. */
  now (): number {
    return this.nowMs
  }

  /** A harness timer on true simulated time (a node's own timers come from its SimTransport). */
  setTimeout (fn: () => void, delayMs: number): TimerHandle {
    const timer = new ClockTimer(fn, this.queue)
    this.queue.push(timer, this.nowMs + normalizeTimerDelay(delayMs))
    return timer
  }

  /** Schedules an event object at an absolute virtual time (not before now). For simulator parts. */
  schedule (event: SimEvent, atMs: number): void {
    this.queue.push(event, atMs > this.nowMs ? atMs : this.nowMs)
  }

  /** Cancels an event scheduled with `schedule`. */
  unschedule (event: SimEvent): void {
    this.queue.cancel(event)
  }

  /** Events that will still fire. */
  get pendingCount (): number {
    return this.queue.liveCount
  }

  /** Total events run since the clock was made (a cheap progress and cost measure). */
  get eventsRunTotal (): number {
    return this.eventsRun
  }

  /** Virtual time of the next event, or undefined when idle. */
  nextEventAtMs (): number | undefined {
    return this.queue.peek()?.atMs
  }

  /** Runs the next event synchronously (no microtask drain); false when there is none. */
  step (): boolean {
    const event = this.queue.pop()
    if (event === undefined) return false
    this.nowMs = event.atMs
    this.eventsRun++
    event.fire()
    return true
  }

  /** Lets every pending microtask run (at the current virtual time). */
  settle (): Promise<void> {
    return settleAll()
  }

  /** Runs every event due at or before `timeMs`, then sets the clock to `timeMs`. Returns events run. */
  async runUntil (timeMs: number, options: RunOptions = {}): Promise<number> {
    const eventsMax = options.eventsMax ?? runEventsMaxDefault
    let events = 0
    await settleAll()
    while (true) {
      const next = this.queue.peek()
      if (next === undefined || next.atMs > timeMs) break
      if (events >= eventsMax) throw this.eventsMaxError(eventsMax, `runUntil(${timeMs})`)
      this.step()
      events++
      await afterMicrotasks()
    }
    if (timeMs > this.nowMs) this.nowMs = timeMs
    return events
  }

  /** `runUntil(now + ms)`. */
  runFor (ms: number, options: RunOptions = {}): Promise<number> {
    return this.runUntil(this.nowMs + ms, options)
  }

  /**
   * Runs until no event is left. A system with periodic timers (heartbeats) is never idle: give
   * it a bound, or use runFor.
   */
  async runUntilIdle (options: RunOptions = {}): Promise<number> {
    const eventsMax = options.eventsMax ?? runEventsMaxDefault
    let events = 0
    await settleAll()
    while (this.queue.peek() !== undefined) {
      if (events >= eventsMax) throw this.eventsMaxError(eventsMax, 'runUntilIdle')
      this.step()
      events++
      await afterMicrotasks()
    }
    return events
  }

  /**
   * Runs events until `predicate()` holds (checked before the first event and after each event
   * has settled). Resolves false, with the clock at now + maxTimeMs, when that time comes first or
   * nothing is left to run.
   */
  async runUntilCondition (predicate: () => boolean, options: RunWithinOptions): Promise<boolean> {
    const eventsMax = options.eventsMax ?? runEventsMaxDefault
    const deadlineMs = this.nowMs + options.maxTimeMs
    let events = 0
    await settleAll()
    while (!predicate()) {
      const next = this.queue.peek()
      if (next === undefined || next.atMs > deadlineMs) {
        if (deadlineMs > this.nowMs) this.nowMs = deadlineMs
        return false
      }
      if (events >= eventsMax) throw this.eventsMaxError(eventsMax, 'runUntilCondition')
      this.step()
      events++
      await afterMicrotasks()
    }
    return true
  }

  /**
   * Calls `fn` and runs the simulation until the promise it returned settles; resolves or rejects
   * as it did. Throws a SimulationError when maxTimeMs passes first, or when nothing is left to run
   * while the promise is still pending (it can never settle: a deadlock).
   */
  async run<T> (fn: () => Promise<T>, options: RunWithinOptions): Promise<T> {
    const eventsMax = options.eventsMax ?? runEventsMaxDefault
    const deadlineMs = this.nowMs + options.maxTimeMs
    let state: 'pending' | 'resolved' | 'rejected' = 'pending'
    let value: T | undefined
    let error: unknown
    new Promise<T>(resolve => { resolve(fn()) }).then(
      v => { state = 'resolved'; value = v },
      (err: unknown) => { state = 'rejected'; error = err }
    )
    let events = 0
    await settleAll()
    while (state === 'pending') {
      const next = this.queue.peek()
      if (next === undefined) {
        throw new SimulationError('deadlock', `the promise is still pending at ${this.nowMs} ms and no event is left that could settle it`)
      }
      if (next.atMs > deadlineMs) {
        if (deadlineMs > this.nowMs) this.nowMs = deadlineMs
        throw new SimulationError('time-max', `the promise did not settle within ${options.maxTimeMs} ms of virtual time`)
      }
      if (events >= eventsMax) throw this.eventsMaxError(eventsMax, 'run')
      this.step()
      events++
      await afterMicrotasks()
    }
    if (state === 'rejected') throw error
    return value as T
  }

  private eventsMaxError (eventsMax: number, where: string): SimulationError {
    return new SimulationError('events-max', `${where} ran ${eventsMax} events at ${this.nowMs} ms without finishing: a livelock, or raise eventsMax`)
  }
}
