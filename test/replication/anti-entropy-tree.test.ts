import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RangeGeometry } from '../../src/replication/anti-entropy/geometry.js'
import { parseAntiEntropyRequest } from '../../src/replication/anti-entropy/messages.js'
import { emptyHash, leafHash, RangeTree, summariesFromKeys, type KeyDigest } from '../../src/replication/anti-entropy/tree.js'
import { ringPosition, ringPositions } from '../../src/replication/ring.js'

const whole = new RangeGeometry({ startExclusive: 5, endInclusive: 5 })

function treeOf (geometry: RangeGeometry, depth: number, entries: ReadonlyMap<string, string>): RangeTree {
  const t = new RangeTree(geometry, depth)
  for (const [key, digest] of entries) t.apply(ringPosition(key), leafHash(key, digest), 1)
  return t
}

describe('anti-entropy hash tree', () => {
  it('gives equal roots to equal key sets whatever the order of writes, and removing every key empties it', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 60 }), fc.string({ maxLength: 4 }), (keys, digest) => {
      const entries = new Map(keys.map(k => [k, digest]))
      const a = treeOf(whole, 8, entries)
      const b = treeOf(whole, 8, new Map([...entries].reverse()))
      expect(a.root).toEqual(b.root)
      for (const k of keys) a.apply(ringPosition(k), leafHash(k, digest), -1)
      expect(a.root).toEqual({ hash: emptyHash, count: 0 })
    }))
  })

  it('shows a changed version in the root and in exactly one leaf', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 60 }), fc.nat(), (keys, pick) => {
      const entries = new Map(keys.map(k => [k, 'v1']))
      const changed = keys[pick % keys.length] as string
      const a = treeOf(whole, 6, entries)
      const b = treeOf(whole, 6, new Map([...entries, [changed, 'v2']]))
      expect(a.root.hash).not.toBe(b.root.hash)
      let leaves = 0
      for (let i = 0; i < 2 ** 6; i++) if (a.summary({ level: 6, index: i }).hash !== b.summary({ level: 6, index: i }).hash) leaves++
      expect(leaves).toBe(1)
    }))
  })

  it('computes the same summaries from an index scan as the kept tree holds', () => {
    const keys: KeyDigest[] = Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, position: ringPosition(`k${i}`), digest: `d${i % 7}` }))
    const tree = treeOf(whole, 6, new Map(keys.map(k => [k.key, k.digest])))
    const fromKeys = summariesFromKeys(whole, { level: 2, index: 1 }, 6, keys)
    const fromTree = Array.from({ length: 16 }, (_, j) => tree.summary({ level: 6, index: 16 + j }))
    expect(fromKeys).toEqual(fromTree)
  })
})

describe('range geometry', () => {
  it('puts every position of a range in exactly one segment per level, and segments cover only the range', () => {
    fc.assert(fc.property(fc.nat({ max: ringPositions - 1 }), fc.nat({ max: ringPositions - 1 }), fc.nat({ max: ringPositions - 1 }), fc.integer({ min: 0, max: 10 }), (s, e, p, level) => {
      const g = new RangeGeometry({ startExclusive: s, endInclusive: e })
      const l = Math.min(level, g.bits)
      if (!g.contains(p)) return
      const index = g.indexAt(g.relative(p), l)
      const intervals = g.intervals({ level: l, index })
      expect(intervals.some(([from, to]) => p >= from && p < to)).toBe(true)
      for (const [from, to] of intervals) {
        expect(g.contains(from)).toBe(true)
        expect(g.contains(to - 1)).toBe(true)
      }
    }))
  })

  it('wraps a range past the top of the ring into two intervals', () => {
    const g = new RangeGeometry({ startExclusive: ringPositions - 10, endInclusive: 5 })
    expect(g.span).toBe(15)
    expect(g.intervals({ level: 0, index: 0 })).toEqual([[ringPositions - 9, ringPositions], [0, 6]])
  })
})

describe('anti-entropy messages', () => {
  it('refuses malformed requests with a ProtocolError', () => {
    const ref = { n: 3, s: 1, e: 2 }
    expect(() => parseAntiEntropyRequest({ t: 'hashes', ...ref, segs: [[0, 0]], target: 9 })).toThrow(/target/)
    expect(() => parseAntiEntropyRequest({ t: 'keys', ...ref, segs: [] })).toThrow(/invalid anti-entropy request/)
    expect(() => parseAntiEntropyRequest({ t: 'push', ...ref, recs: [['k', { q: 2 }]] })).toThrow(/quorum record/)
    expect(() => parseAntiEntropyRequest({ t: 'get', ...ref, keys: ['k'], extra: 1 })).toThrow(/invalid anti-entropy request/)
    expect(parseAntiEntropyRequest({ t: 'hashes', ...ref, segs: [[0, 0]], target: 4 })).toEqual({ t: 'hashes', ...ref, segs: [{ level: 0, index: 0 }], target: 4 })
  })
})
