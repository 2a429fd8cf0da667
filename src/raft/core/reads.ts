import { InvalidArgumentError, NotLeaderError, OverloadedError } from '../../api/errors.js'
import { invariant } from './assert.js'
import { bcastHeartbeat } from './leader.js'
import type { ReadIndexMessage, ReadIndexResponseMessage } from './messages.js'
import type { Raft } from './raft.js'
import type { NodeId } from './types.js'

/**
 * Linearizable reads without writing to the log (ReadIndex, §6.4). The rules that keep them safe:
 * - a new leader serves none until it has committed an entry of its own term (before that its
 *   commit index may be behind what an earlier leader committed); requests wait in `awaiting`;
 * - each read is confirmed by a majority answering a heartbeat round sent after it arrived;
 * - lease reads skip the round only while the lease holds (check-quorum on, no transfer running);
 * - a request id names one request: ids are never reused, a duplicate is refused.
 */
export function requestRead (r: Raft, requestId: string): void {
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 256) {
    throw new InvalidArgumentError('a read request id must be a string of 1-256 characters')
  }
  if (r.localReads.has(requestId) || r.forwardedReads.has(requestId)) {
    throw new InvalidArgumentError(`read request id ${requestId} is already pending: use a new id for every request, retries included`, { requestId })
  }
  if (r.localReads.size + r.forwardedReads.size >= r.opts.readsPendingMax) {
    throw new OverloadedError(`${r.opts.readsPendingMax} reads are already waiting on this node: retry shortly`, { readsPendingMax: r.opts.readsPendingMax })
  }
  if (r.role === 'leader') {
    r.localReads.add(requestId)
    leaderRead(r, requestId, r.id)
    return
  }
  if (r.role === 'follower' && r.lead !== null) {
    r.forwardedReads.set(requestId, r.ticks)
    r.send({ type: 'read', to: r.lead, requestId })
    return
  }
  throw new NotLeaderError('no leader is known yet: retry after an election (a few election timeouts)', { leader: null })
}

function committedInCurrentTerm (r: Raft): boolean {
  return r.log.term(r.log.committed) === r.term
}

function leaderRead (r: Raft, requestId: string, from: NodeId): void {
  if (!committedInCurrentTerm(r)) {
    r.reads.awaiting.push({ requestId, from })
    return
  }
  serve(r, requestId, from)
}

function serve (r: Raft, requestId: string, from: NodeId): void {
  const index = r.log.committed
  if (r.tracker.voters.length === 1 && r.tracker.isVoter(r.id)) {
    deliver(r, requestId, from, index)
    return
  }
  if (leaseValid(r)) {
    deliver(r, requestId, from, index)
    return
  }
  r.reads.add(requestId, from, index)
  if (!r.reads.roundInFlight()) bcastHeartbeat(r)
}

export function leaseValid (r: Raft): boolean {
  if (r.opts.readMode !== 'lease' || r.role !== 'leader') return false
  // A transfer lets the transferee win an election at once, bypassing the followers' lease.
  if (r.leadTransferee !== null) return false
  const leaseTicks = r.opts.electionTimeoutTicks - r.opts.leaseDriftTicks
  const start = r.reads.leaseStart(r.tracker.voters, r.id, r.ticks)
  return start >= 0 && r.ticks < start + leaseTicks
}

function deliver (r: Raft, requestId: string, from: NodeId, index: number): void {
  invariant(index <= r.log.committed, 'a read index past the commit index', { index })
  if (from === r.id) {
    if (r.localReads.delete(requestId)) r.readStates.push({ requestId, index })
  } else {
    r.send({ type: 'read-resp', to: from, requestId, index, reject: false })
  }
}

function drop (r: Raft, requestId: string, from: NodeId): void {
  if (from === r.id) {
    if (r.localReads.delete(requestId)) r.droppedReads.push(requestId)
  } else {
    r.send({ type: 'read-resp', to: from, requestId, index: 0, reject: true })
  }
}

export function confirmReads (r: Raft): void {
  for (const read of r.reads.confirm(r.tracker.voters, r.id)) deliver(r, read.requestId, read.from, read.index)
  // Reads that arrived while a round was in flight go out in the next one, now.
  if (r.role === 'leader' && r.reads.hasUnassigned() && !r.reads.roundInFlight()) bcastHeartbeat(r)
}

/** The leader's commit index moved: reads waiting for the first commit of its term may proceed. */
export function onLeaderCommit (r: Raft): void {
  if (r.reads.awaiting.length === 0 || !committedInCurrentTerm(r)) return
  const waiting = r.reads.awaiting
  r.reads.awaiting = []
  for (const { requestId, from } of waiting) serve(r, requestId, from)
}

export function dropLeaderReads (r: Raft): void {
  for (const { requestId, from } of r.reads.reset()) drop(r, requestId, from)
  for (const requestId of r.localReads) r.droppedReads.push(requestId)
  r.localReads.clear()
}

export function handleForwardedRead (r: Raft, m: ReadIndexMessage): void {
  if (r.reads.size >= r.opts.readsPendingMax) {
    r.send({ type: 'read-resp', to: m.from, requestId: m.requestId, index: 0, reject: true })
    return
  }
  leaderRead(r, m.requestId, m.from)
}

export function replyReadRejected (r: Raft, m: ReadIndexMessage): void {
  r.send({ type: 'read-resp', to: m.from, requestId: m.requestId, index: 0, reject: true })
}

/** A leader answered a forwarded read. Valid whatever our term is now: it was confirmed when sent. */
export function handleReadResponse (r: Raft, m: ReadIndexResponseMessage): void {
  if (!r.forwardedReads.delete(m.requestId)) return
  if (m.reject) r.droppedReads.push(m.requestId)
  else r.readStates.push({ requestId: m.requestId, index: m.index })
}

export function expireForwardedReads (r: Raft): void {
  if (r.forwardedReads.size === 0) return
  const deadline = r.ticks - r.opts.forwardedReadTicksMax
  // Insertion order is sending order, so the oldest come first.
  for (const [requestId, sentTick] of r.forwardedReads) {
    if (sentTick > deadline) break
    r.forwardedReads.delete(requestId)
    r.droppedReads.push(requestId)
  }
}
