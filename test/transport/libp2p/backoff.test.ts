import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/runtime/random.js'
import { backoffDelayMs } from '../../../src/transport/libp2p/backoff.js'

describe('backoffDelayMs', () => {
  it('stays between half and all of base * 2^(attempt-1), capped at the maximum', () => {
    const random = seededRandom(7)
    for (let attempt = 1; attempt <= 40; attempt++) {
      const full = Math.min(5000, 100 * 2 ** (attempt - 1))
      for (let i = 0; i < 50; i++) {
        const d = backoffDelayMs(attempt, 100, 5000, random)
        expect(d).toBeGreaterThanOrEqual(full / 2)
        expect(d).toBeLessThanOrEqual(full)
      }
    }
  })

  it('spreads the delays of peers that failed at the same moment', () => {
    const random = seededRandom(1)
    const delays = new Set(Array.from({ length: 20 }, () => Math.round(backoffDelayMs(3, 100, 5000, random))))
    expect(delays.size).toBeGreaterThan(10)
  })
})
