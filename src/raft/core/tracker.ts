import { invariant } from './assert.js'
import { Progress } from './progress.js'
import { quorumValue, voteResult } from './quorum.js'
import type { VoteResult } from './quorum.js'
import type { ConfState, NodeId } from './types.js'

/**
 * The current membership plus, on a leader, one Progress per member, and the votes of a campaign.
 * Only voters count for quorums; learners get a Progress so the leader replicates to them.
 */
export class ProgressTracker {
  private readonly inflightCountMax: number
  private readonly inflightBytesMax: number
  voters: NodeId[] = []
  learners: NodeId[] = []
  private voterSet = new Set<NodeId>()
  readonly progress = new Map<NodeId, Progress>()
  readonly votes = new Map<NodeId, boolean>()

  constructor (inflightCountMax: number, inflightBytesMax: number) {
    this.inflightCountMax = inflightCountMax
    this.inflightBytesMax = inflightBytesMax
  }

  isVoter (id: NodeId): boolean {
    return this.voterSet.has(id)
  }

  isMember (id: NodeId): boolean {
    return this.voterSet.has(id) || this.learners.includes(id)
  }

  members (): NodeId[] {
    return [...this.voters, ...this.learners]
  }

  /** Adopts a new configuration; members that appear get a fresh Progress starting at `nextIndex`. */
  setConf (conf: ConfState, nextIndex: number): void {
    this.voters = [...conf.voters]
    this.learners = [...conf.learners]
    this.voterSet = new Set(conf.voters)
    const members = new Set(this.members())
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id)
    }
    for (const id of members) {
      const learner = !this.voterSet.has(id)
      const pr = this.progress.get(id)
      if (pr === undefined) this.progress.set(id, this.newProgress(nextIndex, learner))
      else pr.learner = learner
    }
    for (const id of [...this.votes.keys()]) if (!this.voterSet.has(id)) this.votes.delete(id)
  }

  /** Fresh progress for every member (a new leader knows nothing about its followers). */
  resetProgress (nextIndex: number): void {
    this.progress.clear()
    for (const id of this.members()) this.progress.set(id, this.newProgress(nextIndex, !this.voterSet.has(id)))
  }

  private newProgress (nextIndex: number, learner: boolean): Progress {
    invariant(nextIndex >= 1, 'next index must be positive', { nextIndex })
    return new Progress(nextIndex, learner, this.inflightCountMax, this.inflightBytesMax)
  }

  /** The largest index replicated on a majority of voters. */
  committedIndex (): number {
    return quorumValue(this.voters, (id) => this.progress.get(id)?.match ?? 0)
  }

  recordVote (id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  voteResult (): VoteResult {
    return voteResult(this.voters, this.votes)
  }

  resetVotes (): void {
    this.votes.clear()
  }

  /** Did a majority of voters (counting `self` when it votes) talk to us since the last check? */
  quorumActive (self: NodeId): boolean {
    return quorumValue(this.voters, (id) => (id === self || this.progress.get(id)?.recentActive === true) ? 1 : 0) === 1
  }

  resetRecentActive (self: NodeId): void {
    for (const [id, pr] of this.progress) pr.recentActive = id === self
  }
}
