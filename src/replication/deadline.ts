import { AbortedError, TimeoutError, type QuorumKvError } from '../api/errors.js'
import type { TimeSource, TimerHandle } from '../runtime/time.js'

/**
 * One call's deadline and abort signal, on the injected clock. `race` and `sleep` reject with
 * TimeoutError or AbortedError when either fires; both say the outcome of a write is unknown.
 */
export class Deadline {
  readonly endMs: number
  private readonly controller = new AbortController()
  private readonly timer: TimerHandle
  private readonly onAbort: () => void
  private reason: QuorumKvError | undefined

  constructor (private readonly time: TimeSource, readonly timeoutMs: number, private readonly callerSignal?: AbortSignal) {
    this.endMs = time.now() + timeoutMs
    this.timer = time.setTimeout(() => {
      this.abort(new TimeoutError(`no answer within ${timeoutMs} ms; a write may or may not have taken effect`, { timeoutMs }))
    }, timeoutMs)
    this.onAbort = () => { this.abort(new AbortedError('the call was aborted by its signal; a write may or may not have taken effect')) }
    if (callerSignal?.aborted === true) this.onAbort()
    else callerSignal?.addEventListener('abort', this.onAbort, { once: true })
  }

  get signal (): AbortSignal {
    return this.controller.signal
  }

  get expired (): boolean {
    return this.reason !== undefined
  }

  remainingMs (): number {
    return Math.max(0, this.endMs - this.time.now())
  }

  /** Throws the expiry error if the deadline passed or the call was aborted. */
  check (): void {
    if (this.reason !== undefined) throw this.reason
  }

  /** `p`, or the expiry error if that comes first. */
  async race<T> (p: Promise<T>): Promise<T> {
    this.check()
    return await new Promise<T>((resolve, reject) => {
      const onExpire = (): void => { reject(this.reason) }
      this.controller.signal.addEventListener('abort', onExpire, { once: true })
      p.then(
        v => { this.controller.signal.removeEventListener('abort', onExpire); resolve(v) },
        (err: unknown) => { this.controller.signal.removeEventListener('abort', onExpire); reject(err) }
      )
    })
  }

  /** Waits `ms` (capped at the deadline), or rejects when the deadline passes first. */
  async sleep (ms: number): Promise<void> {
    let handle: TimerHandle | undefined
    try {
      await this.race(new Promise<void>(resolve => { handle = this.time.setTimeout(resolve, ms) }))
    } finally {
      handle?.cancel()
    }
  }

  dispose (): void {
    this.timer.cancel()
    this.callerSignal?.removeEventListener('abort', this.onAbort)
  }

  private abort (reason: QuorumKvError): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.controller.abort(reason)
  }
}

/** A promise that resolves the next time `notify` is called: lets a loop wait for "something changed". */
export class ChangeSignal {
  private waiters: Array<() => void> = []

  wait (): Promise<void> {
    return new Promise(resolve => { this.waiters.push(resolve) })
  }

  notify (): void {
    const w = this.waiters
    this.waiters = []
    for (const resolve of w) resolve()
  }
}
