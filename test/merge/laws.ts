import fc from 'fast-check'
import { expect } from 'vitest'
import { encode } from '../../src/codec/msgpack.js'

/**
 * Asserts the join-semilattice laws on concrete states, comparing both structure and msgpack
 * bytes: replicas that converge must also store and hash identical bytes (anti-entropy compares
 * hashes of the encoded state).
 */
export function expectSameState (x: unknown, y: unknown): void {
  expect(x).toEqual(y)
  expect(Buffer.from(encode(x)).toString('hex')).toBe(Buffer.from(encode(y)).toString('hex'))
}

export function expectMergeLaws<S> (merge: (a: S, b: S) => S, a: S, b: S, c: S): void {
  expectSameState(merge(a, b), merge(b, a))
  expectSameState(merge(merge(a, b), c), merge(a, merge(b, c)))
  expectSameState(merge(a, a), a)
  expectSameState(merge(a, merge(a, b)), merge(a, b))
}

/** Folding the same states in any order gives the same state. */
export function expectOrderIndependent<S> (merge: (a: S, b: S) => S, states: readonly S[], order: readonly number[]): void {
  const inOrder = states.reduce((acc, s) => merge(acc, s))
  const shuffled = order.map(i => states[i] as S).reduce((acc, s) => merge(acc, s))
  expectSameState(shuffled, inOrder)
}

/**
 * The laws above on states a random schedule of operations reaches (`snapshots(ops)`): three
 * picked states, and every state folded in a random order.
 */
export function assertMergeLawsOnReachableStates<S, Op> (schedule: fc.Arbitrary<Op[]>, snapshots: (ops: Op[]) => S[], merge: (a: S, b: S) => S, numRuns: number): void {
  const arb = schedule.chain(ops => {
    const states = snapshots(ops)
    const pick = fc.constantFrom(...states)
    return fc.tuple(pick, pick, pick, fc.constant(states), fc.shuffledSubarray(states.map((_, i) => i), { minLength: states.length, maxLength: states.length }))
  })
  fc.assert(fc.property(arb, ([a, b, c, states, order]) => {
    expectMergeLaws(merge, a, b, c)
    expectOrderIndependent(merge, states, order)
  }), { numRuns })
}

/** A counter schedule over three replicas: add `amount` at one, or merge one into another. */
export type CounterOp = { kind: 'add', at: number, amount: number } | { kind: 'sync', from: number, to: number }

export function counterScheduleArb (amount: fc.Arbitrary<number>): fc.Arbitrary<CounterOp[]> {
  const op: fc.Arbitrary<CounterOp> = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), at: fc.nat(2), amount }),
    fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) })
  )
  return fc.array(op, { maxLength: 40 })
}

/** Runs a counter schedule: the replicas at the end, every state reached, and the sum of all adds. */
export function runCounterSchedule<C> (ops: readonly CounterOp[], nodes: readonly string[], empty: C, add: (c: C, node: string, amount: number) => C, merge: (a: C, b: C) => C): { replicas: C[], snapshots: C[], total: number } {
  const replicas: C[] = nodes.map(() => empty)
  const snapshots: C[] = [empty]
  let total = 0
  for (const op of ops) {
    if (op.kind === 'add') {
      replicas[op.at] = add(replicas[op.at] as C, nodes[op.at] as string, op.amount)
      total += op.amount
      snapshots.push(replicas[op.at] as C)
    } else {
      replicas[op.to] = merge(replicas[op.to] as C, replicas[op.from] as C)
      snapshots.push(replicas[op.to] as C)
    }
  }
  return { replicas, snapshots, total }
}
