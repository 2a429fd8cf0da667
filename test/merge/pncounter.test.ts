import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import {
  emptyPnCounter, parsePnCounter, pncounterDecrement, pncounterIncrement, pncounterMerge, pncounterValue, type PnCounter
} from '../../src/merge/pncounter.js'
import { assertMergeLawsOnReachableStates, counterScheduleArb, expectSameState, runCounterSchedule, type CounterOp } from './laws.js'

const nodes = ['a', 'b', '\u{10000}']

const scheduleArb = counterScheduleArb(fc.integer({ min: -1_000, max: 1_000 }))
const run = (ops: readonly CounterOp[]): { replicas: PnCounter[], snapshots: PnCounter[], total: number } => runCounterSchedule(ops, nodes, emptyPnCounter, pncounterIncrement, pncounterMerge)

describe('PN-Counter', () => {
  it('counts increments and decrements', () => {
    let c = pncounterIncrement(emptyPnCounter, 'a', 10)
    c = pncounterDecrement(c, 'b', 3)
    c = pncounterIncrement(c, 'b', -2)
    expect(pncounterValue(c)).toBe(5)
    expect(c).toEqual({ p: { a: 10 }, n: { b: 5 } })
  })

  it('after any schedule and a full merge, every replica equals the sum of all increments', () => {
    fc.assert(fc.property(scheduleArb, (ops) => {
      const { replicas, total } = run(ops)
      const all = replicas.reduce(pncounterMerge)
      for (const r of replicas) {
        expectSameState(pncounterMerge(r, all), all)
        expect(pncounterValue(pncounterMerge(r, all))).toBe(total)
      }
    }), { numRuns: 200 })
  })

  it('merge is commutative, associative and idempotent, in any delivery order', () => {
    assertMergeLawsOnReachableStates(scheduleArb, ops => run(ops).snapshots, pncounterMerge, 150)
  })

  it('refuses amounts that are not safe integers', () => {
    expect(() => pncounterIncrement(emptyPnCounter, 'a', 1.5)).toThrow(InvalidArgumentError)
    expect(() => pncounterIncrement(emptyPnCounter, 'a', Number.MAX_SAFE_INTEGER + 1)).toThrow(InvalidArgumentError)
    expect(() => pncounterDecrement(emptyPnCounter, 'a', -1)).toThrow(InvalidArgumentError)
  })

  it('parse round-trips through msgpack and refuses garbage', () => {
    const c = pncounterIncrement(pncounterIncrement(emptyPnCounter, 'a', 4), 'b', -1)
    expect(parsePnCounter(decode(encode(c)))).toEqual(c)
    expect(() => parsePnCounter({ p: {} })).toThrow(ProtocolError)
    expect(() => parsePnCounter(null)).toThrow(ProtocolError)
  })
})
