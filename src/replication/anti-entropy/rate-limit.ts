import type { TimeSource } from '../../runtime/time.js'

/**
 * A token bucket of bytes: anti-entropy debits what each exchange actually sent and received and
 * waits, before its next request, until the debt is paid back at `bytesPerSecondMax`. The bucket
 * holds at most one second of bytes, so an idle spell does not buy a burst that starves requests.
 */
export class ByteRateLimiter {
  private tokens: number
  private last: number

  constructor (private readonly time: TimeSource, readonly bytesPerSecondMax: number) {
    this.tokens = bytesPerSecondMax
    this.last = time.now()
  }

  private refill (): void {
    const now = this.time.now()
    this.tokens = Math.min(this.bytesPerSecondMax, this.tokens + (now - this.last) * this.bytesPerSecondMax / 1000)
    this.last = now
  }

  debit (bytes: number): void {
    this.refill()
    this.tokens -= bytes
  }

  /** Milliseconds until the bucket is out of debt (0 when it is not in debt). */
  waitMs (): number {
    this.refill()
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens * 1000 / this.bytesPerSecondMax)
  }

  async ready (): Promise<void> {
    const ms = this.waitMs()
    if (ms > 0) await new Promise<void>(resolve => { this.time.setTimeout(resolve, ms) })
  }
}
