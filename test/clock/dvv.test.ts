import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import {
  dvvCompare, dvvConcurrent, dvvDelete, dvvDescends, dvvEmpty, dvvEqual, dvvIsDeleted, dvvJoin, dvvPut, dvvSync, dvvValues,
  parseDvvSet, type DvvSet
} from '../../src/clock/dvv.js'
import { expectMergeLaws, expectOrderIndependent, expectSameState } from '../merge/laws.js'
import { dvvOpArb, expectedSiblings, fullSync, runDvv } from './dvv-harness.js'

const asString = (v: unknown): string => {
  if (typeof v !== 'string') throw new ProtocolError('not a string')
  return v
}

describe('DVV set: examples', () => {
  it('concurrent blind writes at two replicas become siblings', () => {
    const a = dvvPut(dvvEmpty<string>(), {}, 'a', 'x')
    const b = dvvPut(dvvEmpty<string>(), {}, 'b', 'y')
    expect(dvvConcurrent(a, b)).toBe(true)
    const merged = dvvSync(a, b)
    expect(dvvValues(merged)).toEqual(['x', 'y'])
    expect(dvvJoin(merged)).toEqual({ a: 1, b: 1 })
    expect(dvvCompare(merged, a)).toBe('after')
  })

  it('concurrent blind writes at the same coordinator also become siblings', () => {
    const one = dvvPut(dvvEmpty<string>(), {}, 'a', 'x')
    const two = dvvPut(one, {}, 'a', 'y')
    expect(dvvValues(two)).toEqual(['x', 'y'])
  })

  it('a write with the context of a read supersedes exactly the siblings that read saw', () => {
    const a = dvvPut(dvvEmpty<string>(), {}, 'a', 'x') // (a,1)
    const b = dvvPut(dvvEmpty<string>(), {}, 'b', 'y') // (b,1)
    const readContext = dvvJoin(a) // the client saw only x
    const c = dvvPut(dvvSync(b, a), readContext, 'b', 'z')
    expect(dvvValues(c)).toEqual(['y', 'z'])
    // The superseded value does not come back when the old replica syncs again.
    expect(dvvValues(dvvSync(a, c))).toEqual(['y', 'z'])
    // A read of everything, then a write, resolves to one value.
    const resolved = dvvPut(c, dvvJoin(c), 'a', 'w')
    expect(dvvValues(resolved)).toEqual(['w'])
    expect(dvvDescends(resolved, c)).toBe(true)
  })

  it('a write whose context names siblings the coordinator has not received yet still supersedes them', () => {
    const a = dvvPut(dvvEmpty<string>(), {}, 'a', 'x')
    const atB = dvvPut(dvvEmpty<string>(), dvvJoin(a), 'b', 'y') // b never received x
    expect(dvvValues(atB)).toEqual(['y'])
    expect(dvvValues(dvvSync(atB, a))).toEqual(['y'])
    expect(dvvValues(dvvSync(a, atB))).toEqual(['y'])
  })

  it('a delete with context supersedes what it saw but not a concurrent write', () => {
    const put = dvvPut(dvvEmpty<string>(), {}, 'a', 'x')
    const del = dvvDelete(put, dvvJoin(put), 'a')
    expect(dvvValues(del)).toEqual([])
    expect(dvvIsDeleted(del)).toBe(true)
    const concurrent = dvvPut(put, {}, 'b', 'y') // did not see the delete
    const merged = dvvSync(del, concurrent)
    expect(dvvValues(merged)).toEqual(['y'])
    expect(dvvIsDeleted(merged)).toBe(false)
    expect(merged.siblings.filter(s => s.tombstone)).toHaveLength(1)
    // A later write that read the merge supersedes the tombstone too.
    const after = dvvPut(merged, dvvJoin(merged), 'a', 'z')
    expect(after.siblings).toEqual([{ node: 'a', counter: 3, tombstone: false, value: 'z' }])
  })

  it('an empty set is neither deleted nor has values', () => {
    expect(dvvIsDeleted(dvvEmpty())).toBe(false)
    expect(dvvValues(dvvEmpty())).toEqual([])
  })

  it('counterMin keeps a coordinator from reissuing dots after its state for the key was dropped', () => {
    const old = dvvPut(dvvEmpty<string>(), {}, 'a', 'x') // (a,1), still held elsewhere
    const reissued = dvvPut(dvvEmpty<string>(), {}, 'a', 'lost')
    expect(dvvValues(dvvSync(reissued, dvvPut(old, dvvJoin(old), 'b', 'y')))).toEqual(['y']) // 'lost' is dropped: the hazard
    const fresh = dvvPut(dvvEmpty<string>(), {}, 'a', 'kept', { counterMin: 100 })
    expect(dvvValues(dvvSync(fresh, dvvPut(old, dvvJoin(old), 'b', 'y')))).toEqual(['kept', 'y'])
    expect(() => dvvPut(dvvEmpty<string>(), {}, 'a', 'x', { counterMin: 0 })).toThrow(InvalidArgumentError)
  })

  it('parse round-trips through msgpack and refuses broken invariants', () => {
    const s = dvvDelete(dvvPut(dvvPut(dvvEmpty<string>(), {}, 'a', 'x'), {}, 'b', 'y'), { b: 1 }, 'b')
    expect(parseDvvSet(decode(encode(s)), asString)).toEqual(s)
    const bad: unknown[] = [
      null,
      { context: {}, siblings: {} },
      { context: { a: 1 }, siblings: [{ node: 'a', counter: 2, tombstone: false, value: 'x' }] },
      { context: { a: 2 }, siblings: [{ node: 'a', counter: 1, tombstone: true }, { node: 'a', counter: 1, tombstone: true }] },
      { context: { a: 1 }, siblings: [{ node: 'a', counter: 1 }] },
      { context: { a: 1 }, siblings: [{ node: 'a', counter: 1, tombstone: false, value: 3 }] }
    ]
    for (const b of bad) expect(() => parseDvvSet(b, asString)).toThrow(ProtocolError)
  })
})

const replicaCount = 3
const scheduleArb = fc.array(dvvOpArb(replicaCount), { maxLength: 40 })

describe('DVV set: properties', () => {
  it('replicas that received the same writes in any schedule converge to exactly the writes nobody superseded', () => {
    fc.assert(fc.property(scheduleArb, (ops) => {
      const run = runDvv(ops, replicaCount)
      const dots = run.writes.map(w => `${w.dot.node}/${w.dot.counter}`)
      expect(new Set(dots).size).toBe(dots.length) // no dot issued twice
      const synced = fullSync(run.replicas)
      for (const r of synced) expectSameState(r, synced[0])
      expect((synced[0] as DvvSet<string>).siblings).toEqual(expectedSiblings(run.writes))
      for (const r of run.replicas) expect(parseDvvSet(decode(encode(r)), asString)).toEqual(r)
    }), { numRuns: 300 })
  })

  it('sync is commutative, associative and idempotent on reachable states', () => {
    const arb = scheduleArb.chain(ops => {
      const run = runDvv(ops, replicaCount)
      const pick = fc.constantFrom(...run.snapshots, ...run.replicas)
      return fc.tuple(pick, pick, pick)
    })
    fc.assert(fc.property(arb, ([a, b, c]) => { expectMergeLaws(dvvSync, a, b, c) }), { numRuns: 300 })
  })

  it('syncing the replicas in any order gives the same state', () => {
    const arb = scheduleArb.chain(ops => {
      const states = runDvv(ops, replicaCount).snapshots
      return fc.tuple(fc.constant(states), fc.shuffledSubarray(states.map((_, i) => i), { minLength: states.length, maxLength: states.length }))
    })
    fc.assert(fc.property(arb, ([states, order]) => { expectOrderIndependent(dvvSync, states, order) }), { numRuns: 150 })
  })

  it('comparison: sync descends both sides, and a state that descends another absorbs it', () => {
    const arb = scheduleArb.chain(ops => {
      const run = runDvv(ops, replicaCount)
      const pick = fc.constantFrom(...run.snapshots)
      return fc.tuple(pick, pick)
    })
    fc.assert(fc.property(arb, ([a, b]) => {
      const m = dvvSync(a, b)
      expect(dvvDescends(m, a) && dvvDescends(m, b)).toBe(true)
      if (dvvDescends(a, b)) expectSameState(m, a)
      expect(dvvEqual(a, b)).toBe(dvvDescends(a, b) && dvvDescends(b, a))
    }), { numRuns: 300 })
  })
})
