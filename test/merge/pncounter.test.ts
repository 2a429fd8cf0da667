import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import {
  emptyPnCounter, parsePnCounter, pncounterDecrement, pncounterIncrement, pncounterMerge, pncounterValue, type PnCounter
} from '../../src/merge/pncounter.js'
import { expectSameState, assertMergeLawsOnReachableStates } from './laws.js'

const nodes = ['a', 'b', '\u{10000}']

type Op = { kind: 'add', at: number, amount: number } | { kind: 'sync', from: number, to: number }
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(2), amount: fc.integer({ min: -1_000, max: 1_000 }) }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) })
)

function run (ops: readonly Op[]): { replicas: PnCounter[], snapshots: PnCounter[], total: number } {
  const replicas: PnCounter[] = nodes.map(() => emptyPnCounter)
  const snapshots: PnCounter[] = [emptyPnCounter]
  let total = 0
  for (const op of ops) {
    if (op.kind === 'add') {
      replicas[op.at] = pncounterIncrement(replicas[op.at] as PnCounter, nodes[op.at] as string, op.amount)
      total += op.amount
      snapshots.push(replicas[op.at] as PnCounter)
    } else {
      replicas[op.to] = pncounterMerge(replicas[op.to] as PnCounter, replicas[op.from] as PnCounter)
      snapshots.push(replicas[op.to] as PnCounter)
    }
  }
  return { replicas, snapshots, total }
}

const scheduleArb = fc.array(opArb, { maxLength: 40 })

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
