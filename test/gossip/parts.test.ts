import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BroadcastQueue } from '../../src/gossip/broadcast-queue.js'
import { LocalHealth } from '../../src/gossip/local-health.js'
import type { Update } from '../../src/gossip/messages.js'
import { ProbeOrder } from '../../src/gossip/probe-order.js'
import { retransmitLimit, suspicionTimeoutMs } from '../../src/gossip/timing.js'
import { seededRandom } from '../../src/runtime/random.js'

function dead (peer: string, inc = 0): Update {
  return { kind: 'dead', peer, inc, from: 'x' }
}

describe('BroadcastQueue', () => {
  it('sends each update at most transmitsMax times, then forgets it', () => {
    const q = new BroadcastQueue(10)
    q.enqueue(dead('a'))
    const sent = Array.from({ length: 6 }, () => q.take(5, 4).length)
    expect(sent).toEqual([1, 1, 1, 1, 0, 0])
    expect(q.size).toBe(0)
  })

  it('keeps one update per peer: a newer one replaces the older and starts its count anew', () => {
    const q = new BroadcastQueue(10)
    q.enqueue(dead('a', 1))
    q.take(5, 3)
    q.enqueue({ kind: 'alive', peer: 'a', inc: 2, addresses: [] })
    expect(q.size).toBe(1)
    expect(q.take(5, 3)).toEqual([{ kind: 'alive', peer: 'a', inc: 2, addresses: [] }])
  })

  it('sends the least-sent updates first, newest first among equals', () => {
    const q = new BroadcastQueue(10)
    q.enqueue(dead('a'))
    q.enqueue(dead('b'))
    expect(q.take(1, 9).map(u => u.peer)).toEqual(['b'])
    q.enqueue(dead('c'))
    expect(q.take(2, 9).map(u => u.peer)).toEqual(['c', 'a'])
  })

  it('never holds more than its capacity', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.boolean()), { maxLength: 200 }), (ops) => {
      const q = new BroadcastQueue(8)
      for (const [peer, take] of ops) {
        if (take) q.take(3, 2)
        else q.enqueue(dead(`p${peer}`))
        if (q.size > 8) return false
      }
      return true
    }))
  })
})

describe('ProbeOrder', () => {
  it('visits every member exactly once per pass, in a different order each pass', () => {
    const order = new ProbeOrder(seededRandom(5))
    const peers = Array.from({ length: 9 }, (_, i) => `p${i}`)
    order.update(peers)
    const passes: string[][] = []
    for (let pass = 0; pass < 4; pass++) passes.push(Array.from({ length: 9 }, () => order.next(() => true) as string))
    for (const pass of passes) expect([...pass].sort()).toEqual([...peers].sort())
    expect(new Set(passes.map(p => p.join())).size).toBeGreaterThan(1)
  })

  it('skips ineligible members and returns undefined when none is eligible', () => {
    const order = new ProbeOrder(seededRandom(1))
    order.update(['a', 'b', 'c'])
    for (let i = 0; i < 10; i++) expect(order.next(p => p !== 'b')).not.toBe('b')
    expect(order.next(() => false)).toBeUndefined()
  })

  it('drops removed members and adds new ones, which are probed within the next pass', () => {
    const order = new ProbeOrder(seededRandom(2))
    order.update(['a', 'b', 'c', 'd'])
    order.next(() => true)
    order.update(['a', 'c', 'e'])
    const seen = new Set(Array.from({ length: 6 }, () => order.next(() => true)))
    expect(seen).toEqual(new Set(['a', 'c', 'e']))
  })
})

describe('log(N) bounds and local health', () => {
  it('suspicion lasts suspicionMultiplier * log10(N + 1) * probeIntervalMs', () => {
    expect(suspicionTimeoutMs(4, 9, 1000)).toBe(4000)
    expect(suspicionTimeoutMs(4, 8, 1000)).toBe(Math.round(4000 * Math.log10(9)))
    expect(suspicionTimeoutMs(5, 99, 200)).toBe(2000)
  })

  it('an update is retransmitted multiplier * ceil(log10(N + 1)) times', () => {
    expect(retransmitLimit(4, 3)).toBe(4)
    expect(retransmitLimit(4, 9)).toBe(4)
    expect(retransmitLimit(4, 10)).toBe(8)
    expect(retransmitLimit(3, 256)).toBe(9)
  })

  it('local health stays within [0, max - 1] and scales a period by score + 1', () => {
    const h = new LocalHealth(8)
    h.apply(-3)
    expect(h.score).toBe(0)
    h.apply(20)
    expect(h.score).toBe(7)
    expect(h.scale(1000)).toBe(8000)
    const off = new LocalHealth(1)
    off.apply(5)
    expect(off.scale(1000)).toBe(1000)
  })
})
