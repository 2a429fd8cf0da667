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
