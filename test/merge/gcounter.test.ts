import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { emptyGCounter, gcounterIncrement, gcounterMerge, gcounterValue, parseGCounter, type GCounter } from '../../src/merge/gcounter.js'
import { assertMergeLawsOnReachableStates, counterScheduleArb, expectSameState, runCounterSchedule, type CounterOp } from './laws.js'

const nodes = ['a', 'b', 'constructor']

const scheduleArb = counterScheduleArb(fc.nat(1_000))
const run = (ops: readonly CounterOp[]): { replicas: GCounter[], snapshots: GCounter[], total: number } => runCounterSchedule(ops, nodes, emptyGCounter, gcounterIncrement, gcounterMerge)

describe('G-Counter', () => {
  it('counts increments from several nodes', () => {
    let c = gcounterIncrement(emptyGCounter, 'a')
    c = gcounterIncrement(c, 'b', 5)
    c = gcounterIncrement(c, 'a', 2)
    expect(c).toEqual({ a: 3, b: 5 })
    expect(gcounterValue(c)).toBe(8)
  })

  it('after any schedule and a full merge, every replica equals the sum of all increments', () => {
    fc.assert(fc.property(scheduleArb, (ops) => {
      const { replicas, total } = run(ops)
      const all = replicas.reduce(gcounterMerge)
      for (const r of replicas) {
        expectSameState(gcounterMerge(r, all), all)
        expect(gcounterValue(gcounterMerge(r, all))).toBe(total)
      }
    }), { numRuns: 200 })
  })

  it('merge is commutative, associative and idempotent, in any delivery order', () => {
    assertMergeLawsOnReachableStates(scheduleArb, ops => run(ops).snapshots, gcounterMerge, 150)
  })

  it('refuses negative, fractional and overflowing increments', () => {
    expect(() => gcounterIncrement(emptyGCounter, 'a', -1)).toThrow(InvalidArgumentError)
    expect(() => gcounterIncrement(emptyGCounter, 'a', 0.5)).toThrow(InvalidArgumentError)
    expect(() => gcounterIncrement({ a: Number.MAX_SAFE_INTEGER }, 'a', 1)).toThrow(InvalidArgumentError)
    expect(() => gcounterIncrement(emptyGCounter, '', 1)).toThrow(InvalidArgumentError)
  })

  it('parse round-trips through msgpack and refuses garbage', () => {
    const c = gcounterIncrement(gcounterIncrement(emptyGCounter, 'b', 2), 'a', 1)
    expect(parseGCounter(decode(encode(c)))).toEqual(c)
    expect(() => parseGCounter({ a: -1 })).toThrow(ProtocolError)
    expect(() => parseGCounter('x')).toThrow(ProtocolError)
  })
})
