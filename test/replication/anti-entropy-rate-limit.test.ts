import { describe, expect, it } from 'vitest'
import { ByteRateLimiter } from '../../src/replication/anti-entropy/rate-limit.js'
import type { TimeSource } from '../../src/runtime/time.js'

function manualTime (): TimeSource & { advance: (ms: number) => void } {
  let now = 0
  return {
    now: () => now,
    setTimeout: () => ({ cancel: () => {} }),
    advance: (ms) => { now += ms }
  }
}

describe('anti-entropy byte rate limit', () => {
  it('lets one second of bytes through, then makes the caller wait until the debt is paid back', () => {
    const time = manualTime()
    const limiter = new ByteRateLimiter(time, 1_000)
    limiter.debit(1_000)
    expect(limiter.waitMs()).toBe(0)
    limiter.debit(500)
    expect(limiter.waitMs()).toBe(500)
    time.advance(250)
    expect(limiter.waitMs()).toBe(250)
    time.advance(250)
    expect(limiter.waitMs()).toBe(0)
  })

  it('does not bank more than one second of bytes while idle', () => {
    const time = manualTime()
    const limiter = new ByteRateLimiter(time, 1_000)
    time.advance(60_000)
    limiter.debit(2_000)
    expect(limiter.waitMs()).toBe(1_000)
  })
})
