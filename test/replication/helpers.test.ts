import { describe, expect, it } from 'vitest'
import { AbortedError, OverloadedError, TimeoutError } from '../../src/api/errors.js'
import { Deadline } from '../../src/replication/deadline.js'
import { FreshnessTracker } from '../../src/replication/freshness.js'
import { KeyLocks } from '../../src/replication/key-locks.js'
import { PeerHealth } from '../../src/replication/peer-health.js'
import { SimClock } from '../../src/transport/sim/clock.js'

describe('FreshnessTracker', () => {
  it('is as fresh as the oldest unacknowledged write any other member reports, and unknown until all reported', () => {
    const clock = new SimClock({ startMs: 1_000 })
    const f = new FreshnessTracker('a', clock)
    expect(f.freshAsOf(['a', 'b', 'c'])).toBe(-Infinity)
    f.onWatermark('b', 900, null)
    f.onWatermark('c', 950, 400)
    expect(f.freshAsOf(['a', 'b', 'c'])).toBe(400)
    f.onWatermark('c', 990, null)
    expect(f.freshAsOf(['a', 'b', 'c'])).toBe(900)
    expect(f.freshAsOf(['a'])).toBe(1_000)
  })

  it('never lets an older "nothing pending" report hide a newer pending write', () => {
    const f = new FreshnessTracker('a', new SimClock({ startMs: 1_000 }))
    f.onWatermark('b', 980, 700)
    f.onWatermark('b', 600, null)
    expect(f.freshAsOf(['b'])).toBe(700)
  })
})

describe('PeerHealth', () => {
  it('suspects a peer whose request failed for a while, and trusts it again when it answers', async () => {
    const clock = new SimClock()
    const h = new PeerHealth('a', clock, () => true, 1_000)
    h.failed('b')
    h.failed('a')
    expect(h.usable('b')).toBe(false)
    expect(h.usable('a')).toBe(true)
    await clock.runFor(1_000)
    expect(h.usable('b')).toBe(true)
    h.failed('b')
    h.answered('b')
    expect(h.usable('b')).toBe(true)
    expect(new PeerHealth('a', clock, p => p !== 'c', 10).usable('c')).toBe(false)
  })
})

describe('Deadline', () => {
  it('rejects a wait with TimeoutError when the time passes, AbortedError when the signal fires', async () => {
    const clock = new SimClock()
    const d = new Deadline(clock, 100)
    const late = d.race(new Promise(() => {}))
    const run = clock.run(async () => await late, { maxTimeMs: 1_000 })
    await expect(run).rejects.toThrow(TimeoutError)
    const controller = new AbortController()
    const a = new Deadline(clock, 100, controller.signal)
    controller.abort()
    expect(() => { a.check() }).toThrow(AbortedError)
    a.dispose()
  })
})

describe('KeyLocks', () => {
  it('runs holders of one key one at a time and refuses waiters past the bound', async () => {
    const locks = new KeyLocks(2)
    const order: number[] = []
    let release = (): void => {}
    const first = locks.run('k', async () => { await new Promise<void>(resolve => { release = resolve }); order.push(1) })
    const second = locks.run('k', async () => { order.push(2) })
    await expect(locks.run('k', async () => {})).rejects.toThrow(OverloadedError)
    await locks.run('other', async () => { order.push(0) })
    release()
    await Promise.all([first, second])
    expect(order).toEqual([0, 1, 2])
    expect(locks.keysLocked).toBe(0)
  })
})
