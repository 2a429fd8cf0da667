import { invariant } from './assert.js'
import { entryBytes } from './entry-size.js'
import type { AppendResponseMessage, HeartbeatResponseMessage, RaftMessage } from './messages.js'
import type { Progress } from './progress.js'
import type { Raft } from './raft.js'
import { confirmReads, handleForwardedRead, onLeaderCommit } from './reads.js'
import type { NodeId } from './types.js'

/** Guards the send loop after an acknowledgement; the inflight window bounds it anyway. */
const sendLoopMax = 10_000

export function stepLeader (r: Raft, m: RaftMessage): void {
  switch (m.type) {
    case 'app-resp':
      handleAppendResponse(r, m)
      return
    case 'hb-resp':
      handleHeartbeatResponse(r, m)
      return
    case 'read':
      handleForwardedRead(r, m)
      return
    case 'app':
    case 'hb':
    case 'snap':
      invariant(false, 'two leaders in one term (election safety)', { term: r.term, other: m.from, self: r.id })
  }
}

/**
 * Sends the follower the entries after its `next` (or a snapshot when they were compacted).
 * Returns whether a message was sent. With `sendIfEmpty` false, nothing is sent when there is
 * nothing new (used to fill the pipeline after an acknowledgement).
 */
export function sendAppend (r: Raft, to: NodeId, sendIfEmpty = true): boolean {
  const pr = r.tracker.progress.get(to)
  if (pr === undefined || to === r.id || pr.isPaused()) return false
  const prevIndex = pr.next - 1
  const prevTerm = r.log.term(prevIndex)
  const last = r.log.lastIndex()
  const entries = prevTerm === undefined ? undefined : r.log.slice(pr.next, last + 1, r.opts.messageBytesMax, r.opts.entriesPerMessageMax)
  if (prevTerm === undefined || entries === undefined) return sendSnapshot(r, to, pr)
  // An empty append (a probe, or news of the commit index) only to a follower with nothing in
  // flight: overtaking in-flight entries it would be rejected and force a needless probe.
  if (entries.length === 0 && (!sendIfEmpty || pr.inflights.count > 0)) return false
  let bytes = 0
  for (const e of entries) bytes += entryBytes(e)
  r.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries, commit: r.log.committed })
  pr.sentEntries(prevIndex + entries.length, entries.length, bytes)
  pr.appendRound = r.reads.round
  if (r.log.committed > pr.sentCommit) pr.sentCommit = r.log.committed
  return true
}

function sendSnapshot (r: Raft, to: NodeId, pr: Progress): boolean {
  // Only to a follower we heard from: a snapshot to a dead node is wasted work for the driver.
  if (!pr.recentActive) return false
  const snapshot = r.log.storage.snapshot()
  invariant(snapshot.index >= r.log.firstIndex() - 1, 'the snapshot does not cover the compacted log', { snapshot: snapshot.index, first: r.log.firstIndex() })
  pr.becomeSnapshot(snapshot.index)
  r.send({ type: 'snap', to, snapshot, offset: 0, data: new Uint8Array(0), done: true })
  return true
}

/** Sends every follower what it lacks, filling each replicating follower's in-flight window. */
export function bcastAppend (r: Raft): void {
  for (const id of r.tracker.progress.keys()) {
    if (id === r.id || !sendAppend(r, id)) continue
    for (let i = 0; i < sendLoopMax && sendAppend(r, id, false); i++) { /* fill the window */ }
  }
}

/** One heartbeat round: followers learn the commit index, and the round confirms pending reads. */
export function bcastHeartbeat (r: Raft): void {
  const round = r.reads.startRound(r.ticks)
  for (const [id, pr] of r.tracker.progress) {
    if (id === r.id) continue
    // Never past what the follower holds: its log beyond `match` may still disagree with ours.
    const commit = Math.min(pr.match, r.log.committed)
    r.send({ type: 'hb', to: id, commit, round })
    if (commit > pr.sentCommit) pr.sentCommit = commit
  }
  confirmReads(r)
}

function handleAppendResponse (r: Raft, m: AppendResponseMessage): void {
  const pr = r.tracker.progress.get(m.from)
  if (pr === undefined) return
  pr.recentActive = true
  if (m.reject) {
    let next = m.hintIndex
    if (m.hintTerm > 0) next = r.log.findConflictByTerm(m.hintIndex, m.hintTerm)
    if (pr.maybeDecrTo(m.index, next)) {
      if (pr.state === 'replicate') pr.becomeProbe()
      sendAppend(r, m.from)
    }
    return
  }
  const wasPaused = pr.isPaused()
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return
  if (pr.state === 'probe') {
    pr.becomeReplicate()
  } else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) {
    pr.becomeProbe()
    pr.becomeReplicate()
  } else if (pr.state === 'replicate') {
    pr.inflights.freeLE(m.index)
  }
  if (maybeCommit(r)) {
    // The new commit index reaches every follower at once (not only with the next heartbeat).
    if (r.role === 'leader') bcastAppend(r)
  } else if (wasPaused) {
    sendAppend(r, m.from)
  }
  if (r.role !== 'leader') return
  for (let i = 0; i < sendLoopMax && sendAppend(r, m.from, false); i++) { /* fill the window */ }
  // Caught up but behind on the commit index (it acknowledged after the commit was broadcast):
  // tell it now rather than at the next heartbeat, so it can apply and serve reads sooner.
  if (pr.sentCommit < r.log.committed && pr.inflights.count === 0) sendAppend(r, m.from)
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) sendTimeoutNow(r, m.from)
}

function handleHeartbeatResponse (r: Raft, m: HeartbeatResponseMessage): void {
  const pr = r.tracker.progress.get(m.from)
  if (pr === undefined) return
  pr.recentActive = true
  if (pr.state === 'probe') {
    pr.probeSent = false
  } else if (pr.state === 'replicate' && pr.inflights.count > 0 && m.round > pr.appendRound) {
    // A heartbeat sent after our last append came back before that append's answer: on a FIFO
    // link the append was lost (with reordering this only costs a probe). Find the position again.
    pr.becomeProbe()
  }
  if (pr.match < r.log.lastIndex() || pr.sentCommit < r.log.committed) sendAppend(r, m.from)
  if (r.tracker.isVoter(m.from)) {
    r.reads.ack(m.from, m.round)
    confirmReads(r)
  }
}

/** Commits the largest index a majority holds, if it is of the current term (§5.4.2, Figure 8). */
export function maybeCommit (r: Raft): boolean {
  const index = r.tracker.committedIndex()
  if (index <= r.log.committed) return false
  // Counting replicas proves an entry committed only for the current term: an older entry on a
  // majority can still be overwritten by a leader that never saw it (Figure 8).
  if (r.log.term(index) !== r.term) return false
  r.log.commitTo(index)
  while (r.uncommitted.length > 0 && (r.uncommitted[0] as { lastIndex: number }).lastIndex <= index) {
    r.uncommittedBytes -= (r.uncommitted.shift() as { bytes: number }).bytes
  }
  invariant(r.uncommittedBytes >= 0, 'uncommitted bytes went negative', { bytes: r.uncommittedBytes })
  onLeaderCommit(r)
  if (!r.tracker.isVoter(r.id) && r.confs.lastIndex() <= r.log.committed) stepDownAfterRemoval(r)
  return true
}

/**
 * The configuration that removed (or demoted) this leader is committed: it hands leadership to
 * the most caught-up voter and steps down, instead of managing a cluster it is not part of (and
 * instead of leaving the others to wait for an election timeout).
 */
function stepDownAfterRemoval (r: Raft): void {
  let best: NodeId | null = null
  let bestMatch = -1
  for (const id of r.tracker.voters) {
    const match = r.tracker.progress.get(id)?.match ?? 0
    if (match > bestMatch) {
      best = id
      bestMatch = match
    }
  }
  if (best !== null) sendTimeoutNow(r, best)
  r.becomeFollower(r.term, null)
}

export function sendTimeoutNow (r: Raft, to: NodeId): void {
  r.send({ type: 'timeout-now', to })
}

/** Starts a leadership transfer; the transferee campaigns once its log matches ours. */
export function startTransfer (r: Raft, to: NodeId): void {
  r.leadTransferee = to
  // The transfer times out with the next election timeout (tickLeader).
  r.electionElapsed = 0
  const pr = r.tracker.progress.get(to)
  if (pr === undefined) return
  if (pr.match === r.log.lastIndex()) {
    sendTimeoutNow(r, to)
    return
  }
  // Catch the transferee up now. Probing again resends what may have been lost on the way, at
  // the cost of a few duplicates: transfers are rare and bounded by an election timeout.
  if (pr.state === 'replicate') pr.becomeProbe()
  sendAppend(r, to)
}
