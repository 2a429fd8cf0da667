import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import {
  parseVersionVector, vvCompare, vvConcurrent, vvCovers, vvDescends, vvEqual, vvFromEntries, vvGet, vvMeet, vvMerge,
  vvNextDot, vvWithDot, type VersionVector
} from '../../src/clock/version-vector.js'
import { expectMergeLaws, expectOrderIndependent } from '../merge/laws.js'

const vvArb: fc.Arbitrary<VersionVector> = fc.array(
  fc.tuple(fc.constantFrom('a', 'b', 'c', '10', '9', '\u{10000}', 'constructor'), fc.nat(6)),
  { maxLength: 6 }
).map(vvFromEntries)

describe('version vectors', () => {
  it('merge is commutative, associative and idempotent, with canonical bytes', () => {
    fc.assert(fc.property(vvArb, vvArb, vvArb, (a, b, c) => { expectMergeLaws(vvMerge, a, b, c) }), { numRuns: 300 })
  })

  it('merging in any order gives the same vector', () => {
    fc.assert(fc.property(fc.array(vvArb, { minLength: 1, maxLength: 6 }).chain(vs =>
      fc.tuple(fc.constant(vs), fc.shuffledSubarray(vs.map((_, i) => i), { minLength: vs.length, maxLength: vs.length }))
    ), ([vs, order]) => { expectOrderIndependent(vvMerge, vs, order) }), { numRuns: 200 })
  })

  it('merge descends both inputs and meet is descended by both', () => {
    fc.assert(fc.property(vvArb, vvArb, (a, b) => {
      const m = vvMerge(a, b)
      expect(vvDescends(m, a) && vvDescends(m, b)).toBe(true)
      const g = vvMeet(a, b)
      expect(vvDescends(a, g) && vvDescends(b, g)).toBe(true)
    }), { numRuns: 300 })
  })

  it('merge returns a canonical vector (nodes in order, no zero counters), whatever order its inputs list nodes in', () => {
    const m = vvMerge({ n3: 2, n1: 0, n2: 1 }, { n2: 1 })
    expect(Object.keys(m)).toEqual(['n2', 'n3'])
    expect(Object.keys(vvMerge({ n2: 1 }, { n2: 1, n1: 4 }))).toEqual(['n1', 'n2'])
    // A side that holds everything is returned as it is only when it is canonical already.
    const whole = vvFromEntries([['n1', 3], ['n2', 5]])
    expect(vvMerge(whole, { n2: 1 })).toBe(whole)
  })

  it('compare agrees with descends in both directions', () => {
    fc.assert(fc.property(vvArb, vvArb, (a, b) => {
      const ab = vvDescends(a, b)
      const ba = vvDescends(b, a)
      const expected = ab && ba ? 'equal' : ab ? 'after' : ba ? 'before' : 'concurrent'
      expect(vvCompare(a, b)).toBe(expected)
      expect(vvEqual(a, b)).toBe(expected === 'equal')
      expect(vvConcurrent(a, b)).toBe(expected === 'concurrent')
    }), { numRuns: 300 })
  })

  it('examples of causal order', () => {
    expect(vvCompare({ a: 1 }, { a: 2 })).toBe('before')
    expect(vvCompare({ a: 2, b: 1 }, { a: 2 })).toBe('after')
    expect(vvCompare({ a: 1 }, { b: 1 })).toBe('concurrent')
    expect(vvCompare({}, { a: 0 })).toBe('equal')
  })

  it('reads node ids that are Object.prototype names as absent', () => {
    expect(vvGet({}, 'constructor')).toBe(0)
    expect(vvGet({}, 'toString')).toBe(0)
    expect(vvCovers({}, { node: 'hasOwnProperty', counter: 1 })).toBe(false)
  })

  it('dots: next dot follows the vector and is covered once added', () => {
    const vv = { a: 3 }
    const d = vvNextDot(vv, 'a')
    expect(d).toEqual({ node: 'a', counter: 4 })
    expect(vvCovers(vv, d)).toBe(false)
    expect(vvCovers(vvWithDot(vv, d), d)).toBe(true)
  })

  it('parse round-trips through msgpack and drops zero entries', () => {
    fc.assert(fc.property(vvArb, (vv) => {
      expect(parseVersionVector(decode(encode(vv)))).toEqual(vv)
    }), { numRuns: 100 })
    expect(parseVersionVector({ a: 0, b: 2 })).toEqual({ b: 2 })
  })

  it('parse refuses garbage with ProtocolError', () => {
    for (const bad of [null, 3, [], { a: -1 }, { a: 1.5 }, { a: '1' }, { '': 1 }, new Uint8Array(2)]) {
      expect(() => parseVersionVector(bad)).toThrow(ProtocolError)
    }
  })
})
