import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareNodeIds } from '../../src/clock/node-id.js'
import { InvalidArgumentError } from '../../src/api/errors.js'
import { vvDescends, vvMerge, type VersionVector } from '../../src/clock/version-vector.js'
import {
  emptyQuorumSession, joinSessions, observeHlc, observeKey, sessionBucketsMax, sessionCovers, sessionFromWire, sessionRequirement,
  sessionToWire, unsatisfiedNodes, type QuorumSession
} from '../../src/replication/session.js'

const nodes = ['n1', 'n2', 'n3', 'n4']
const keys = Array.from({ length: 300 }, (_, i) => `c/k${i}`)

const observationArb = fc.record({
  key: fc.constantFrom(...keys),
  ctx: fc.dictionary(fc.constantFrom(...nodes), fc.integer({ min: 1, max: 1_000 }), { minKeys: 1 })
})

function sessionOf (observations: Array<{ key: string, ctx: VersionVector }>): QuorumSession {
  return observations.reduce((s, o) => observeKey(s, o.key, o.ctx), emptyQuorumSession())
}

/** What the session must make a read of each key reflect, for comparing sessions by meaning. */
function requirements (s: QuorumSession): VersionVector[] {
  return keys.map(k => sessionRequirement(s, k))
}

describe('quorum session tokens', () => {
  it('require a read of an observed key to reflect what was observed, and nothing of unrelated keys', () => {
    const s = observeKey(emptyQuorumSession(), 'c/a', { n1: 7 })
    expect(sessionRequirement(s, 'c/a')).toEqual({ n1: 7 })
    expect(sessionRequirement(s, 'c/b')).toEqual({})
  })

  it('never lose a dependency: the requirement of every observed key covers what was observed, however many keys', () => {
    fc.assert(fc.property(fc.array(observationArb, { maxLength: 400 }), (obs) => {
      const s = sessionOf(obs)
      expect(s.buckets.length).toBeLessThanOrEqual(sessionBucketsMax)
      for (const o of obs) expect(vvDescends(sessionRequirement(s, o.key), o.ctx)).toBe(true)
    }), { numRuns: 50 })
  })

  it('join covers both sides and is commutative, associative and idempotent', () => {
    const arb = fc.array(observationArb, { maxLength: 120 })
    fc.assert(fc.property(arb, arb, arb, (x, y, z) => {
      const [a, b, c] = [sessionOf(x), sessionOf(y), sessionOf(z)]
      const ab = joinSessions(a, b)
      for (const k of keys) expect(vvDescends(sessionRequirement(ab, k), vvMerge(sessionRequirement(a, k), sessionRequirement(b, k)))).toBe(true)
      expect(requirements(ab)).toEqual(requirements(joinSessions(b, a)))
      expect(requirements(joinSessions(ab, c))).toEqual(requirements(joinSessions(a, joinSessions(b, c))))
      expect(requirements(joinSessions(a, a))).toEqual(requirements(a))
    }), { numRuns: 40 })
  })

  it('a session covers another exactly when joining it changes no requirement', () => {
    const arb = fc.array(observationArb, { maxLength: 100 })
    fc.assert(fc.property(arb, arb, (x, y) => {
      const [a, b] = [sessionOf(x), sessionOf(y)]
      expect(sessionCovers(joinSessions(a, b), b)).toBe(true)
      if (sessionCovers(a, b)) expect(requirements(joinSessions(a, b))).toEqual(requirements(a))
    }), { numRuns: 40 })
  })

  it('keep the greatest lww timestamp seen', () => {
    let s = observeHlc(emptyQuorumSession(), { wallMs: 5, logical: 0, node: 'n1' })
    s = observeHlc(s, { wallMs: 3, logical: 9, node: 'n2' })
    expect(s.hlc).toEqual({ wallMs: 5, logical: 0, node: 'n1' })
    expect(joinSessions(emptyQuorumSession(), s).hlc).toEqual(s.hlc)
  })

  it('name the nodes a read has not satisfied: neither covered by the merged context nor answering itself', () => {
    const req = { n1: 10, n2: 4, n3: 9 }
    expect(unsatisfiedNodes(req, { n1: 10, n2: 3, n3: 2 }, new Set(['n3']))).toEqual(['n2'])
    expect(unsatisfiedNodes(req, { n1: 12, n2: 4 }, new Set(['n3']))).toEqual([])
  })

  it('round-trip through their wire form and stay small', () => {
    fc.assert(fc.property(fc.array(observationArb, { maxLength: 400 }), (obs) => {
      const s = observeHlc(sessionOf(obs), { wallMs: 1, logical: 2, node: 'n1' })
      const back = sessionFromWire(sessionToWire(s))
      expect(back).toEqual(s)
    }), { numRuns: 30 })
    const big = sessionOf(keys.map((key, i) => ({ key, ctx: { n1: 1_000_000 + i, n2: 2_000_000 + i, n3: 3_000_000 + i } })))
    expect(Buffer.from(JSON.stringify(sessionToWire(big))).length).toBeLessThan(4096)
  })

  it('read a wire form that is out of order (table, rows, pairs) as the same session', () => {
    fc.assert(fc.property(fc.array(observationArb, { minLength: 1, maxLength: 200 }), (obs) => {
      const s = sessionOf(obs)
      const wire = sessionToWire(s)
      // The table reversed (indices remapped), the rows reversed, each row's pairs reversed.
      const last = wire.n.length - 1
      const shuffled = {
        ...wire,
        n: [...wire.n].reverse(),
        b: [...wire.b].reverse().map(([bucket, ...rest]) => {
          const pairs: number[][] = []
          for (let i = 0; i < rest.length; i += 2) pairs.push([last - (rest[i] as number), rest[i + 1] as number])
          return [bucket as number, ...pairs.reverse().flat()]
        })
      }
      const back = sessionFromWire(shuffled)
      expect(back).toEqual(s)
      // Canonical down to the order of each vector's nodes, which encodings (and digests) see.
      for (const b of back.buckets) expect(Object.keys(b.vv)).toEqual(Object.keys(b.vv).sort(compareNodeIds))
    }), { numRuns: 30 })
  })

  it('refuse malformed wire forms with INVALID_ARGUMENT', () => {
    const good = sessionToWire(observeKey(emptyQuorumSession(), 'c/a', { n1: 1 }))
    const bad: unknown[] = [
      null, 'x', { ...good, v: 2 }, { ...good, l: 99 }, { ...good, n: ['n1', 'n1'] }, { ...good, n: [''] },
      { ...good, b: [[0, 5, 1]] }, { ...good, b: [[0, 0, -1]] }, { ...good, b: [[0, 0]] }, { ...good, b: [[2 ** 20, 0, 1]] },
      { ...good, h: { wallMs: -1 } }
    ]
    for (const b of bad) expect(() => sessionFromWire(b)).toThrow(InvalidArgumentError)
  })
})
