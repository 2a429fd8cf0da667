import type { NodeId } from './types.js'

/**
 * Majority arithmetic over a voter set. The k-th largest value among voters, with k = majority
 * size, is the largest value that a majority has reached: the commit index (values = match
 * indexes), the confirmed read round, or the start of a leader lease.
 */
export function majority (voterCount: number): number {
  return Math.floor(voterCount / 2) + 1
}

export function quorumValue (voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0
  const values = voters.map(valueOf)
  values.sort((a, b) => b - a)
  return values[majority(voters.length) - 1] as number
}

export type VoteResult = 'won' | 'lost' | 'pending'

export function voteResult (voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'lost'
  let granted = 0
  let rejected = 0
  for (const id of voters) {
    const vote = votes.get(id)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  const q = majority(voters.length)
  if (granted >= q) return 'won'
  if (voters.length - rejected < q) return 'lost'
  return 'pending'
}
