import { invariant } from './assert.js'
import { Inflights } from './inflights.js'
import type { ProgressState, ProgressStatus } from './types.js'

/**
 * The leader's view of one follower (§ flow control). `match` is the highest index known to be
 * replicated there; `next` the next index to send.
 * - probe: the follower's position is unknown; one append at a time until it answers.
 * - replicate: appends stream optimistically (next jumps ahead), bounded by Inflights.
 * - snapshot: the follower needs a snapshot; nothing else is sent until it is installed or fails.
 */
export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0
  /** In probe state: an append is outstanding; wait for an answer (or a heartbeat reply). */
  probeSent = false
  /** The heartbeat round current when the last append was sent to this follower. */
  appendRound = 0
  /** The highest commit index sent to this follower (in appends and heartbeats). */
  sentCommit = 0
  /** Heard from since the last check-quorum round. */
  recentActive = false
  learner: boolean
  readonly inflights: Inflights

  constructor (next: number, learner: boolean, inflightCountMax: number, inflightBytesMax: number) {
    this.next = next
    this.learner = learner
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax)
  }

  private resetState (state: ProgressState): void {
    this.state = state
    this.probeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
  }

  becomeProbe (): void {
    // After a snapshot the follower holds at least the snapshot; probe right after it.
    const floor = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1
    this.resetState('probe')
    this.next = floor
  }

  becomeReplicate (): void {
    this.resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot (snapshotIndex: number): void {
    this.resetState('snapshot')
    this.pendingSnapshot = snapshotIndex
  }

  /** An append up to `index` was acknowledged. Returns whether `match` advanced. */
  maybeUpdate (index: number): boolean {
    let updated = false
    if (this.match < index) {
      this.match = index
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, index + 1)
    return updated
  }

  /**
   * The follower rejected an append probing at `rejected`; `hint` is where its log may agree.
   * Returns false for a stale rejection (one that does not match what we are waiting for).
   */
  maybeDecrTo (rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      // Rejections of appends we already know to be matched are stale.
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    // Probe: only the reply to the probe we sent (prev index next - 1) counts.
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1)
    this.probeSent = false
    return true
  }

  isPaused (): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent
      case 'replicate': return this.inflights.full()
      case 'snapshot': return true
    }
  }

  /** Records an append of entries ending at `lastIndex` (`bytes` in total; 0 entries for a probe). */
  sentEntries (lastIndex: number, entryCount: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1
        this.inflights.add(lastIndex, bytes)
      }
    } else if (this.state === 'probe') {
      this.probeSent = true
    } else {
      invariant(false, 'sending entries to a follower waiting for a snapshot')
    }
    invariant(this.match < this.next, 'progress match must stay below next', { match: this.match, next: this.next })
  }

  status (): ProgressStatus {
    return { match: this.match, next: this.next, state: this.state, learner: this.learner, inflight: this.inflights.count, recentActive: this.recentActive }
  }
}
