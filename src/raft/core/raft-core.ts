import { ConflictError, InvalidArgumentError, NotLeaderError, OverloadedError, UnavailableError } from '../../api/errors.js'
import { invariant } from './assert.js'
import { applyConfChange, confEquals, copyConf, encodeConfEntry } from './conf.js'
import type { ConfChange } from './conf.js'
import { entryBytes } from './entry-size.js'
import { maybeCommit, sendAppend, startTransfer } from './leader.js'
import type { RaftMessage } from './messages.js'
import { resolveOptions } from './options.js'
import type { RaftCoreOptions } from './options.js'
import { Raft } from './raft.js'
import { requestRead } from './reads.js'
import type { Entry, HardState, NodeId, RaftStatus, Ready, Role, SnapshotMeta, SoftState } from './types.js'

export interface ProposeResult {
  term: number
  /** Index of the first proposed entry; the i-th datum is at firstIndex + i. */
  firstIndex: number
  lastIndex: number
}

/**
 * The pure Raft core: no I/O, no timers, no ambient randomness. See index.ts for the contract
 * with the driver. Every method is synchronous and runs to completion.
 */
export class RaftCore {
  private readonly r: Raft
  private readySeq = 0
  private lastSoft: SoftState
  private lastConfVersion = 0
  private lastHard: HardState
  /** Per Ready still outstanding: what its acknowledgement makes durable. */
  private readonly pending: Array<{ seq: number, lastEntry: Entry | undefined, snapshotIndex: number | undefined, hardState: HardState | undefined }> = []

  constructor (options: RaftCoreOptions) {
    this.r = new Raft(resolveOptions(options))
    this.lastSoft = this.softState()
    this.lastHard = this.hardState()
  }

  get id (): NodeId { return this.r.id }
  /** Cheap accessors for routing decisions (softState reports changes in Readies). */
  get role (): Role { return this.r.role }
  get currentTerm (): number { return this.r.term }
  get leader (): NodeId | null { return this.r.lead }

  // ---- inputs ----

  /** Advances the core's clock by one tick. After a pause, call it once per elapsed interval before anything else. */
  tick (): void {
    this.r.tick()
    this.checkExit()
  }

  /** Feeds a message from a peer (already validated with parseRaftMessage). */
  step (message: RaftMessage): void {
    this.r.step(message)
    this.checkExit()
  }

  private lastTerm = 0
  private lastCommit = 0

  /** Invariants that hold after every input; cheap enough to check always. */
  private checkExit (): void {
    const r = this.r
    r.log.check()
    invariant(r.term >= this.lastTerm, 'the term went backwards', { term: r.term, before: this.lastTerm })
    invariant(r.log.committed >= this.lastCommit, 'the commit index went backwards', { commit: r.log.committed, before: this.lastCommit })
    invariant(r.role !== 'leader' || (r.lead === r.id && r.vote === r.id), 'a leader must have voted for itself and know it leads', { vote: r.vote, lead: r.lead })
    invariant(r.role === 'leader' || (r.uncommittedBytes === 0 && r.reads.size === 0), 'only a leader holds proposals and reads', { role: r.role })
    this.lastTerm = r.term
    this.lastCommit = r.log.committed
  }

  /**
   * Appends commands to the log (leader only). Throws NotLeaderError (`details.leader` is the
   * known leader or null) or OverloadedError when too many bytes are uncommitted. The entries are
   * committed when they come back in committedEntries with the same index and term; an entry
   * that comes back at that index with another term was lost (it will never be committed).
   */
  propose (data: Uint8Array[]): ProposeResult {
    const r = this.r
    if (!Array.isArray(data) || data.length === 0) throw new InvalidArgumentError('propose needs at least one entry')
    this.checkLeaderForWrite()
    let bytes = 0
    const entries: Entry[] = new Array<Entry>(data.length)
    for (let i = 0; i < data.length; i++) {
      const d = data[i]
      if (!(d instanceof Uint8Array)) throw new InvalidArgumentError('proposed entries must be Uint8Array')
      entries[i] = { term: 0, index: 0, type: 'normal', data: d }
      bytes += entryBytes(entries[i] as Entry)
    }
    // One batch larger than the limit is still accepted alone, or it could never be proposed.
    if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.opts.uncommittedBytesMax) {
      throw new OverloadedError(`${r.uncommittedBytes} bytes are waiting to be committed (uncommittedBytesMax ${r.opts.uncommittedBytesMax}): back off and retry`, { uncommittedBytes: r.uncommittedBytes })
    }
    r.appendEntries(entries)
    const last = (entries[entries.length - 1] as Entry).index
    r.uncommittedBytes += bytes
    r.uncommitted.push({ lastIndex: last, bytes })
    return { term: r.term, firstIndex: (entries[0] as Entry).index, lastIndex: last }
  }

  /**
   * Proposes one membership change (leader only; see conf.ts for the rules). Throws
   * NotLeaderError, InvalidArgumentError (change not allowed), ConflictError (another change is
   * not committed yet, or this leader has not committed an entry of its term: retry shortly), or
   * UnavailableError (the learner to promote has not caught up: retry later).
   */
  proposeConfChange (change: ConfChange): ProposeResult {
    const r = this.r
    this.checkLeaderForWrite()
    if (r.log.term(r.log.committed) !== r.term) {
      throw new ConflictError('the new leader has not committed an entry of its term yet: retry shortly')
    }
    if (r.confs.lastIndex() > r.log.committed) {
      throw new ConflictError('a membership change is still being committed: retry when it is done', { pendingIndex: r.confs.lastIndex() })
    }
    const conf = applyConfChange(r.conf(), change, r.opts.votersMax)
    if (change.type === 'promote') {
      const match = r.tracker.progress.get(change.node)?.match ?? 0
      if (match + r.opts.promoteLagEntriesMax < r.log.committed) {
        throw new UnavailableError(`learner ${change.node} has not caught up (at ${match}, commit ${r.log.committed}): promote it later`, { node: change.node, match })
      }
    }
    const data = encodeConfEntry({ conf, change: { type: change.type, node: change.node }, context: change.context ?? null })
    const entry: Entry = { term: 0, index: 0, type: 'conf', data }
    r.appendEntries([entry])
    return { term: r.term, firstIndex: entry.index, lastIndex: entry.index }
  }

  private checkLeaderForWrite (): void {
    const r = this.r
    if (r.role !== 'leader') throw new NotLeaderError(`${r.id} is not the leader`, { leader: r.lead })
    if (r.leadTransferee !== null) {
      throw new NotLeaderError(`leadership is being transferred to ${r.leadTransferee}: retry there`, { leader: r.leadTransferee })
    }
  }

  /**
   * Asks for a linearizable read point. `requestId` must be new for every request (never reused
   * by a retry). Later, a Ready carries ReadState { requestId, index } (serve the read once
   * applied >= index) or lists the id in droppedReads (fail or retry it with a new id). Throws
   * NotLeaderError when no leader is known, OverloadedError when readsPendingMax are waiting.
   */
  readIndex (requestId: string): void {
    requestRead(this.r, requestId)
  }

  /** Leader only: hands leadership to voter `to` (TimeoutNow once its log is caught up). */
  transferLeadership (to: NodeId): void {
    const r = this.r
    if (r.role !== 'leader') throw new NotLeaderError(`${r.id} is not the leader`, { leader: r.lead })
    if (to === r.id || to === r.leadTransferee) return
    if (!r.tracker.isVoter(to)) throw new InvalidArgumentError(`${to} is not a voter: only a voter can lead`, { to })
    startTransfer(r, to)
  }

  /** The driver finished (or failed) streaming a snapshot to `to`. */
  reportSnapshot (to: NodeId, ok: boolean): void {
    const pr = this.r.tracker.progress.get(to)
    if (this.r.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return
    if (!ok) pr.pendingSnapshot = 0
    // Either way, probe: on success the follower's answer moves it on to replicate.
    pr.becomeProbe()
    pr.probeSent = ok
  }

  /** The driver could not reach `to`: stop streaming to it until it answers a probe. */
  reportUnreachable (to: NodeId): void {
    const pr = this.r.tracker.progress.get(to)
    if (this.r.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe()
  }

  // ---- outputs ----

  hasReady (): boolean {
    const r = this.r
    if (r.pendingBroadcast && r.role === 'leader') return true
    return r.msgs.length > 0 || r.msgsEarly.length > 0 ||
      r.log.unstable.hasNextEntries() || r.log.unstable.nextSnapshot() !== undefined ||
      r.log.hasNextCommittedEntries() ||
      r.readStates.length > 0 || r.droppedReads.length > 0 ||
      r.term !== this.lastHard.term || r.vote !== this.lastHard.vote || r.log.committed !== this.lastHard.commit ||
      r.role !== this.lastSoft.role || r.lead !== this.lastSoft.leader || r.term !== this.lastSoft.term ||
      (r.confVersion !== this.lastConfVersion && !confEquals(r.conf(), this.lastSoft.conf))
  }

  /** The next batch of work; its contents are not handed out again. */
  ready (): Ready {
    const r = this.r
    r.flushBroadcast()
    const log = r.log
    const entries = log.unstable.nextEntries()
    const snapshot = log.unstable.nextSnapshot()
    const committedEntries = log.nextCommittedEntries(r.opts.committedBytesPerReadyMax)
    const rd: Ready = {
      seq: ++this.readySeq,
      entries,
      committedEntries,
      readStates: r.readStates,
      droppedReads: r.droppedReads,
      messages: r.msgs,
      messagesBeforePersist: r.msgsEarly
    }
    if (snapshot !== undefined) rd.snapshot = snapshot
    const soft = this.softState()
    if (!softStateEquals(soft, this.lastSoft)) {
      rd.softState = soft
      this.lastSoft = soft
    }
    this.lastConfVersion = r.confVersion
    const hard = this.hardState()
    if (!hardStateEquals(hard, this.lastHard)) {
      rd.hardState = hard
      this.lastHard = hard
    }
    log.unstable.acceptInProgress()
    if (committedEntries.length > 0) log.acceptApplying((committedEntries[committedEntries.length - 1] as Entry).index)
    r.msgs = []
    r.msgsEarly = []
    r.readStates = []
    r.droppedReads = []
    this.pending.push({ seq: rd.seq, lastEntry: entries[entries.length - 1], snapshotIndex: snapshot?.index, hardState: rd.hardState })
    r.outstanding.push({ seq: rd.seq, tick: r.ticks })
    return rd
  }

  /**
   * The driver made `ready`'s snapshot, entries and hard state durable (and sent its messages).
   * Readies are acknowledged in the order they were returned.
   */
  advance (ready: Ready): void {
    const r = this.r
    const head = this.pending[0]
    if (head === undefined || head.seq !== ready.seq) {
      throw new InvalidArgumentError(`advance(ready ${ready.seq}) out of order: the oldest outstanding Ready is ${head?.seq ?? 'none'}`)
    }
    this.pending.shift()
    r.outstanding.shift()
    if (head.snapshotIndex !== undefined) {
      r.log.unstable.stableSnapTo(head.snapshotIndex)
      // The snapshot replaced the state machine: it stands for everything up to its index.
      if (r.log.applying >= head.snapshotIndex) r.log.appliedTo(head.snapshotIndex)
    }
    if (head.lastEntry !== undefined) r.log.unstable.stableTo(head.lastEntry.index, head.lastEntry.term)
    if (head.hardState !== undefined) r.persistedTerm = head.hardState.term
    if (r.role === 'leader') {
      // The leader's own log counts toward the commit quorum only once it is durable.
      const self = r.tracker.progress.get(r.id)
      if (self !== undefined && self.maybeUpdate(r.log.persistedLastIndex()) && maybeCommit(r) && r.role === 'leader') {
        for (const id of r.tracker.progress.keys()) if (id !== r.id) sendAppend(r, id)
      }
    }
    r.confs.compactTo(Math.min(r.log.storage.snapshot().index, r.log.committed))
    r.log.check()
  }

  /** The state machine has applied every committed entry up to `index`. */
  appliedTo (index: number): void {
    this.r.log.appliedTo(index)
  }

  // ---- observation ----

  /**
   * The metadata for a snapshot of the state machine at `index` (<= the applied index). Undefined
   * when a snapshot there is pointless: the entry was compacted, or a newer snapshot received from
   * the leader is about to replace the state machine (skip this one).
   */
  snapshotMetaAt (index: number): SnapshotMeta | undefined {
    const log = this.r.log
    if (index > log.applied) throw new InvalidArgumentError(`cannot snapshot at ${index}: only ${log.applied} is applied`)
    if (log.unstable.snapshot !== undefined && log.unstable.snapshot.index >= index) return undefined
    const term = log.term(index)
    if (term === undefined || index < this.r.confs.baseIndex()) return undefined
    return { index, term, conf: copyConf(this.r.confs.at(index)) }
  }

  softState (): SoftState {
    const r = this.r
    return { role: r.role, leader: r.lead, term: r.term, conf: copyConf(r.conf()) }
  }

  hardState (): HardState {
    const r = this.r
    return { term: r.term, vote: r.vote, commit: r.log.committed }
  }

  status (): RaftStatus {
    const r = this.r
    const progress: RaftStatus['progress'] = {}
    if (r.role === 'leader') for (const [id, pr] of r.tracker.progress) progress[id] = pr.status()
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      leader: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      conf: copyConf(r.conf()),
      leadTransferee: r.leadTransferee,
      progress
    }
  }

  /** Entries [lo, hi) of this node's log, durable or not (for tests and debugging). */
  entries (lo: number, hi: number): Entry[] {
    return this.r.log.slice(lo, hi, Number.MAX_SAFE_INTEGER) ?? []
  }

  /** The term of the entry at `index` in this node's log, if known. */
  term (index: number): number | undefined {
    return this.r.log.term(index)
  }
}

function hardStateEquals (a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

function softStateEquals (a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term && confEquals(a.conf, b.conf)
}
