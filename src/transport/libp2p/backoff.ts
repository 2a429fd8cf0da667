import type { Random } from '../../runtime/random.js'

/**
 * Exponential backoff with "equal jitter": half of the delay is fixed, half random. The fixed half
 * keeps a dead peer from being redialled in a tight loop; the random half keeps a cluster whose
 * peers all lost the same node from redialling it in lockstep. `attempt` counts from 1.
 */
export function backoffDelayMs (attempt: number, baseDelayMs: number, maxDelayMs: number, random: Random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30) // 2^30 already exceeds any sane cap
  const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** exponent)
  return delay / 2 + random.next() * (delay / 2)
}
