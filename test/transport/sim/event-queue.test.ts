import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EventQueue, type SimEvent } from '../../../src/transport/sim/event-queue.js'

function event (name: string, log: string[]): SimEvent & { name: string } {
  return { atMs: 0, seq: 0, cancelled: false, name, fire: () => { log.push(name) } }
}

describe('EventQueue', () => {
  it('pops events in time order and, at equal times, in insertion order', () => {
    const log: string[] = []
    const q = new EventQueue()
    q.push(event('c', log), 5)
    q.push(event('a1', log), 1)
    q.push(event('b', log), 3)
    q.push(event('a2', log), 1)
    q.push(event('a3', log), 1)
    while (true) {
      const e = q.pop()
      if (e === undefined) break
      e.fire()
    }
    expect(log).toEqual(['a1', 'a2', 'a3', 'b', 'c'])
  })

  it('skips cancelled events and counts only live ones', () => {
    const log: string[] = []
    const q = new EventQueue()
    const a = event('a', log)
    const b = event('b', log)
    q.push(a, 1)
    q.push(b, 2)
    q.cancel(a)
    q.cancel(a)
    expect(q.liveCount).toBe(1)
    expect(q.peek()).toBe(b)
    q.pop()?.fire()
    expect(log).toEqual(['b'])
    expect(q.liveCount).toBe(0)
    // Cancelling an event that already fired changes nothing.
    q.cancel(b)
    expect(q.liveCount).toBe(0)
  })

  it('keeps order and counts after many cancellations force a compaction', () => {
    const log: string[] = []
    const q = new EventQueue()
    const events = Array.from({ length: 10_000 }, (_, i) => event(String(i), log))
    events.forEach((e, i) => { q.push(e, (i * 7919) % 1000) })
    events.forEach((e, i) => { if (i % 10 !== 0) q.cancel(e) })
    expect(q.liveCount).toBe(1000)
    const popped: SimEvent[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) popped.push(e)
    expect(popped.length).toBe(1000)
    for (let i = 1; i < popped.length; i++) {
      const a = popped[i - 1] as SimEvent
      const b = popped[i] as SimEvent
      expect(a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)).toBe(true)
    }
  })

  it('matches a sorted reference under random pushes, cancels and pops, across compactions', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ op: fc.constantFrom('push', 'push', 'cancel', 'pop'), at: fc.nat(50), pick: fc.nat() }), { maxLength: 12_000 }),
      (ops) => {
        const q = new EventQueue()
        const live: Array<SimEvent & { name: string }> = []
        let n = 0
        for (const { op, at, pick } of ops) {
          if (op === 'push') {
            const e = event(String(n++), [])
            q.push(e, at)
            live.push(e)
          } else if (op === 'cancel' && live.length > 0) {
            const [e] = live.splice(pick % live.length, 1)
            q.cancel(e as SimEvent)
          } else if (op === 'pop') {
            live.sort((x, y) => x.atMs - y.atMs || x.seq - y.seq)
            const expected = live.shift()
            expect(q.pop()).toBe(expected)
          }
          expect(q.liveCount).toBe(live.length)
        }
      }
    ), { numRuns: 30 })
  })
})
