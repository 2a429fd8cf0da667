import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HashRing, rangeContains, ringPosition, ringPositions, type RingRange } from '../../src/replication/ring.js'

const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
const keys = Array.from({ length: 400 }, (_, i) => `coll/key-${i}`)

function positionsOf (ranges: RingRange[], samples: number[]): Set<number> {
  return new Set(samples.filter(p => ranges.some(r => rangeContains(r, p))))
}

describe('HashRing', () => {
  it('builds the same ring whatever order the members are listed in', () => {
    const one = new HashRing(['c', 'a', 'b', 'a'], 16)
    const two = new HashRing(['b', 'c', 'a'], 16)
    expect(one.members).toEqual(['a', 'b', 'c'])
    for (const k of keys) expect(one.walk(k)).toEqual(two.walk(k))
  })

  it('gives each key N distinct primaries followed by every other member as fallbacks', () => {
    const ring = new HashRing(names.slice(0, 5), 32)
    for (const k of keys) {
      const { primaries, fallbacks } = ring.replicas(k, 3)
      expect(primaries).toHaveLength(3)
      expect(new Set([...primaries, ...fallbacks]).size).toBe(5)
      expect(ring.preferenceList(k, 3)).toEqual(primaries)
    }
  })

  it('returns every member when N exceeds the member count', () => {
    const ring = new HashRing(['x', 'y'], 8)
    expect(ring.preferenceList('k', 3).sort()).toEqual(['x', 'y'])
  })

  it('spreads keys over the members roughly evenly with enough vnodes', () => {
    const ring = new HashRing(names.slice(0, 4), 64)
    const firsts = new Map<string, number>()
    for (let i = 0; i < 4000; i++) {
      const first = ring.preferenceList(`k${i}`, 1)[0] as string
      firsts.set(first, (firsts.get(first) ?? 0) + 1)
    }
    for (const count of firsts.values()) expect(count).toBeGreaterThan(600)
  })

  it('adding a member only inserts it into preference lists: the others keep their order, one falls off', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: 6 }),
      fc.constantFrom(...names),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 24 }),
      (members, added, n, vnodes) => {
        fc.pre(!members.includes(added))
        const before = new HashRing(members, vnodes)
        const after = new HashRing([...members, added], vnodes)
        for (const k of keys.slice(0, 100)) {
          const old = before.preferenceList(k, n)
          const now = after.preferenceList(k, n)
          const others = now.filter(m => m !== added)
          // The surviving members are a prefix of the old list, in the old order.
          expect(others).toEqual(old.slice(0, others.length))
          if (!now.includes(added)) expect(now).toEqual(old)
        }
      }
    ), { numRuns: 60 })
  })

  it('removing a member leaves every key it did not replicate where it was', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.constantFrom(...names), { minLength: 2, maxLength: 7 }),
      fc.nat(),
      fc.integer({ min: 1, max: 3 }),
      (members, pick, n) => {
        const removed = members[pick % members.length] as string
        const before = new HashRing(members, 12)
        const after = new HashRing(members.filter(m => m !== removed), 12)
        for (const k of keys.slice(0, 100)) {
          const old = before.preferenceList(k, n)
          const now = after.preferenceList(k, n)
          if (!old.includes(removed)) expect(now).toEqual(old)
          else expect(now.slice(0, old.length - 1)).toEqual(old.filter(m => m !== removed))
        }
      }
    ), { numRuns: 60 })
  })

  it('a new member only takes ranges from others: no other member gains a range', () => {
    const samples = Array.from({ length: 3000 }, (_, i) => ringPosition(`sample-${i}`))
    const before = new HashRing(['a', 'b', 'c', 'd'], 16)
    const after = new HashRing(['a', 'b', 'c', 'd', 'e'], 16)
    for (const m of ['a', 'b', 'c', 'd']) {
      const was = positionsOf(before.rangesOf(m, 3), samples)
      const now = positionsOf(after.rangesOf(m, 3), samples)
      for (const p of now) expect(was.has(p)).toBe(true)
    }
    expect(positionsOf(after.rangesOf('e', 3), samples).size).toBeGreaterThan(0)
  })

  it('arcs partition the ring and agree with the preference list of the keys inside them', () => {
    const ring = new HashRing(['a', 'b', 'c', 'd'], 8)
    const arcs = ring.arcs(2)
    for (const k of keys) {
      const p = ringPosition(k)
      const containing = arcs.filter(a => rangeContains(a.range, p))
      expect(containing).toHaveLength(1)
      expect(containing[0]?.replicas).toEqual(ring.preferenceList(k, 2))
    }
  })

  it('rangesOf a member covers exactly the keys it replicates', () => {
    const ring = new HashRing(['a', 'b', 'c', 'd', 'e'], 8)
    for (const m of ring.members) {
      const ranges = ring.rangesOf(m, 3)
      for (const k of keys) {
        const inside = ranges.some(r => rangeContains(r, ringPosition(k)))
        expect(inside).toBe(ring.preferenceList(k, 3).includes(m))
      }
    }
  })

  it('a member that replicates everything owns one range covering the whole ring', () => {
    const ring = new HashRing(['a', 'b'], 4)
    const ranges = ring.rangesOf('a', 2)
    expect(ranges).toHaveLength(1)
    const r = ranges[0] as RingRange
    expect(r.startExclusive).toBe(r.endInclusive)
    expect(rangeContains(r, 0)).toBe(true)
    expect(rangeContains(r, ringPositions - 1)).toBe(true)
  })

  it('refuses a vnode count out of range', () => {
    expect(() => new HashRing(['a'], 0)).toThrow(/ringVnodes/)
  })
})
