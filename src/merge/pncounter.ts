import { InvalidArgumentError, ProtocolError } from '../api/errors.js'
import { emptyGCounter, gcounterIncrement, gcounterMerge, gcounterValue, parseGCounter, type GCounter } from './gcounter.js'

/**
 * State-based counter that goes up and down: two grow-only counters, increments in `p` and
 * decrements in `n`; the value is their difference.
 */
export interface PnCounter {
  readonly p: GCounter
  readonly n: GCounter
}

export const emptyPnCounter: PnCounter = Object.freeze({ p: emptyGCounter, n: emptyGCounter })

/** Adds `amount` (a safe integer, negative to decrement) on behalf of `node`. */
export function pncounterIncrement (c: PnCounter, node: string, amount = 1): PnCounter {
  if (!Number.isSafeInteger(amount)) throw new InvalidArgumentError('a counter increment must be a safe integer', { amount })
  if (amount >= 0) return { p: gcounterIncrement(c.p, node, amount), n: c.n }
  return { p: c.p, n: gcounterIncrement(c.n, node, -amount) }
}

export function pncounterDecrement (c: PnCounter, node: string, amount = 1): PnCounter {
  if (!Number.isSafeInteger(amount) || amount < 0) throw new InvalidArgumentError('a counter decrement must be a non-negative safe integer', { amount })
  return { p: c.p, n: gcounterIncrement(c.n, node, amount) }
}

/** Increments minus decrements; exact while both sums stay below 2^53. */
export function pncounterValue (c: PnCounter): number {
  return gcounterValue(c.p) - gcounterValue(c.n)
}

export function pncounterMerge (a: PnCounter, b: PnCounter): PnCounter {
  return { p: gcounterMerge(a.p, b.p), n: gcounterMerge(a.n, b.n) }
}

/** Validates a counter from a peer or from disk (ProtocolError on garbage). */
export function parsePnCounter (input: unknown): PnCounter {
  if (input === null || typeof input !== 'object') throw new ProtocolError('a counter must be an object { p, n }')
  const { p, n } = input as Record<string, unknown>
  return { p: parseGCounter(p), n: parseGCounter(n) }
}
