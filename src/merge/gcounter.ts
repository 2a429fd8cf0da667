import { InvalidArgumentError, ProtocolError } from '../api/errors.js'
import { assertNodeId } from '../clock/node-id.js'
import { parseVersionVector, vvEntries, vvFromEntries, vvGet, vvMerge } from '../clock/version-vector.js'

/**
 * State-based grow-only counter: each node's own running total, merged by taking each node's
 * maximum. A node increments only its own entry, from its own stored state, so its entry is the
 * largest anywhere; a node that lost its data must rejoin under a new id, or its new increments
 * hide below its old total until they pass it.
 *
 * Same shape and canonical form as a version vector (node id -> count, no zeros, sorted).
 */
export type GCounter = Readonly<Record<string, number>>

export const emptyGCounter: GCounter = Object.freeze({})

/** Adds `amount` (a non-negative safe integer) to `node`'s entry. */
export function gcounterIncrement (c: GCounter, node: string, amount = 1): GCounter {
  assertNodeId(node)
  if (!Number.isSafeInteger(amount) || amount < 0) throw new InvalidArgumentError('a grow-only counter increment must be a non-negative safe integer', { amount })
  const total = vvGet(c, node) + amount
  if (!Number.isSafeInteger(total)) throw new InvalidArgumentError('the counter would pass 2^53 - 1 on this node', { node })
  return vvFromEntries([...vvEntries(c), [node, total]])
}

/** The sum of every node's entry; exact while it stays below 2^53. */
export function gcounterValue (c: GCounter): number {
  let sum = 0
  for (const [, n] of vvEntries(c)) sum += n
  return sum
}

export function gcounterMerge (a: GCounter, b: GCounter): GCounter {
  return vvMerge(a, b)
}

/** Validates a counter from a peer or from disk (ProtocolError on garbage). */
export function parseGCounter (input: unknown): GCounter {
  try {
    return parseVersionVector(input)
  } catch (err) {
    throw new ProtocolError(`malformed grow-only counter: ${(err as Error).message}`, {}, { cause: err })
  }
}
