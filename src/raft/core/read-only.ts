import { invariant } from './assert.js'
import { quorumValue } from './quorum.js'
import type { NodeId } from './types.js'

export interface PendingRead {
  requestId: string
  /** Who asked: this node, or the follower that forwarded the request. */
  from: NodeId
  /** The commit index when the leader received the request. */
  index: number
  /** The heartbeat round that confirms it; 0 until that round is broadcast. */
  round: number
}

/** Rounds remembered for lease accounting; older ones no longer matter (the lease is shorter). */
const roundTicksMax = 4096

/**
 * The leader's ReadIndex bookkeeping (§6.4 of the dissertation). A read registered at commit
 * index i is safe once a majority of voters acknowledged a heartbeat sent after it was
 * registered: no other leader can have committed anything newer at that point. Reads are batched
 * into numbered heartbeat rounds, so one round of heartbeats confirms every read registered before
 * it was sent, and an acknowledgement of round r confirms all rounds <= r.
 *
 * The same acknowledgements drive the optional lease: a voter that acknowledged a heartbeat sent
 * at tick t will not vote for anyone else before t + electionTimeout (it ignores votes while it
 * hears from a leader), so the leader may serve reads alone until the majority-th latest such t
 * plus the election timeout, minus the clock drift bound.
 */
export class ReadOnly {
  /** The last round broadcast; never reset, so late replies from an earlier leadership cannot confirm a new round. */
  round = 0
  confirmedRound = 0
  private pending: PendingRead[] = []
  /** Requests received before this leader committed an entry of its term (their index would be stale). */
  awaiting: Array<{ requestId: string, from: NodeId }> = []
  private readonly acked = new Map<NodeId, number>()
  private readonly ackedTick = new Map<NodeId, number>()
  private roundTicks: number[] = []
  private roundTicksBase = 1

  get size (): number {
    return this.pending.length + this.awaiting.length
  }

  /** Forgets everything (leadership lost or gained); returns the requests that will not be served. */
  reset (): Array<{ requestId: string, from: NodeId }> {
    const dropped = [...this.awaiting, ...this.pending.map(({ requestId, from }) => ({ requestId, from }))]
    this.pending = []
    this.awaiting = []
    this.acked.clear()
    this.ackedTick.clear()
    this.confirmedRound = this.round
    this.roundTicks = []
    this.roundTicksBase = this.round + 1
    return dropped
  }

  add (requestId: string, from: NodeId, index: number): void {
    const last = this.pending[this.pending.length - 1]
    invariant(last === undefined || last.index <= index, 'read indexes must not decrease', { index })
    this.pending.push({ requestId, from, index, round: 0 })
  }

  hasUnassigned (): boolean {
    const last = this.pending[this.pending.length - 1]
    return last !== undefined && last.round === 0
  }

  roundInFlight (): boolean {
    return this.round > this.confirmedRound
  }

  /** A heartbeat round is being broadcast at `tick`: every unassigned read joins it. */
  startRound (tick: number): number {
    this.round++
    for (let i = this.pending.length - 1; i >= 0 && (this.pending[i] as PendingRead).round === 0; i--) (this.pending[i] as PendingRead).round = this.round
    this.roundTicks.push(tick)
    if (this.roundTicks.length > roundTicksMax) {
      this.roundTicks.shift()
      this.roundTicksBase++
    }
    return this.round
  }

  ack (id: NodeId, round: number): void {
    if (round > this.round) return
    if (round > (this.acked.get(id) ?? 0)) this.acked.set(id, round)
    const tick = this.roundTicks[round - this.roundTicksBase]
    if (tick !== undefined && tick > (this.ackedTick.get(id) ?? -1)) this.ackedTick.set(id, tick)
  }

  /** Releases the reads whose round a majority of voters acknowledged. */
  confirm (voters: readonly NodeId[], self: NodeId): PendingRead[] {
    const confirmed = quorumValue(voters, (id) => id === self ? this.round : (this.acked.get(id) ?? 0))
    if (confirmed > this.confirmedRound) this.confirmedRound = confirmed
    let n = 0
    while (n < this.pending.length) {
      const read = this.pending[n] as PendingRead
      if (read.round === 0 || read.round > this.confirmedRound) break
      n++
    }
    if (n === 0) return []
    const released = this.pending.slice(0, n)
    this.pending = this.pending.slice(n)
    return released
  }

  /** The tick from which a majority of voters is known to have heard from this leader; -1 if none. */
  leaseStart (voters: readonly NodeId[], self: NodeId, now: number): number {
    return quorumValue(voters, (id) => id === self ? now : (this.ackedTick.get(id) ?? -1))
  }
}
