import { InvalidArgumentError } from '../../api/errors.js'
import { invariant } from './assert.js'
import { ConfHistory, confEquals, decodeConfEntry } from './conf.js'
import { handleAppend, handleHeartbeat, handleSnapshot } from './follower.js'
import { bcastAppend, bcastHeartbeat, stepLeader } from './leader.js'
import type { ResolvedOptions } from './options.js'
import { RaftLog } from './raft-log.js'
import { ReadOnly } from './read-only.js'
import { dropLeaderReads, handleReadResponse, replyReadRejected, expireForwardedReads } from './reads.js'
import { ProgressTracker } from './tracker.js'
import type { RaftMessage, VoteMessage } from './messages.js'
import type { ConfState, Entry, NodeId, ReadState, Role } from './types.js'

type Campaign = 'pre-vote' | 'vote' | 'transfer'

/** A Ready handed out whose persistence is not acknowledged yet. */
export interface Outstanding {
  seq: number
  tick: number
}

/** A message without the header fields that send() fills in (from, and term unless given). */
export type OutboundMessage = RaftMessage extends infer M ? M extends RaftMessage ? Omit<M, 'from' | 'term'> & { term?: number } : never : never

/**
 * The Raft state machine (internal; the driver uses RaftCore). Fields are public so the
 * role-specific handlers in leader.ts, follower.ts and reads.ts can share them; nothing outside
 * src/raft/core touches them.
 */
export class Raft {
  readonly id: NodeId
  readonly opts: ResolvedOptions
  readonly log: RaftLog
  readonly tracker: ProgressTracker
  readonly confs: ConfHistory
  readonly reads = new ReadOnly()

  term: number
  vote: NodeId | null
  lead: NodeId | null = null
  role: Role = 'follower'

  /** Ticks since the last leader contact (follower), campaign start (candidate) or quorum check (leader). */
  electionElapsed = 0
  heartbeatElapsed = 0
  randomizedElectionTimeout = 0
  /** Ticks since this core was constructed: its only clock. */
  ticks = 0

  leadTransferee: NodeId | null = null
  /** Bumped whenever the configuration in effect may have changed. */
  confVersion = 0

  /** Leader: entry bytes appended in this term and not yet committed, for proposal backpressure. */
  uncommittedBytes = 0
  uncommitted: Array<{ lastIndex: number, bytes: number }> = []
  /** Leader: new entries were appended; followers get them when the next Ready is assembled (batching). */
  pendingBroadcast = false

  msgs: RaftMessage[] = []
  msgsEarly: RaftMessage[] = []
  readStates: ReadState[] = []
  droppedReads: string[] = []
  /** Reads this node asked for and has not answered (leader: registered locally). */
  readonly localReads = new Set<string>()
  /** Follower: reads forwarded to the leader, with the tick they were sent. */
  readonly forwardedReads = new Map<string, number>()

  /** The term of the last hard state the driver acknowledged as durable. */
  persistedTerm: number
  readonly outstanding: Outstanding[] = []

  constructor (opts: ResolvedOptions) {
    this.id = opts.id
    this.opts = opts
    const storage = opts.storage
    const hs = storage.hardState()
    const snap = storage.snapshot()
    invariant(snap.index >= storage.firstIndex() - 1, 'the snapshot is behind the compacted log', { snapshot: snap.index, first: storage.firstIndex() })
    const committed = Math.max(hs.commit, snap.index)
    const applied = opts.applied ?? snap.index
    invariant(applied >= snap.index && applied <= committed, 'applied index outside [snapshot, commit]', { applied, snapshot: snap.index, committed })
    this.log = new RaftLog(storage, committed, applied)
    this.tracker = new ProgressTracker(opts.inflightMessagesMax, opts.inflightBytesMax)
    this.confs = new ConfHistory(snap.index, snap.conf)
    this.loadConfEntries(snap.index + 1)
    this.tracker.setConf(this.confs.current(), this.log.lastIndex() + 1)
    this.term = hs.term
    this.vote = hs.vote
    this.persistedTerm = hs.term
    this.becomeFollower(this.term, null)
  }

  /** Rebuilds the configuration history from the durable log (it is part of the log's meaning). */
  private loadConfEntries (from: number): void {
    const last = this.log.lastIndex()
    let lo = from
    while (lo <= last) {
      const page = this.log.slice(lo, last + 1, this.opts.messageBytesMax * 4)
      invariant(page !== undefined && page.length > 0, 'cannot read the log while loading configurations', { lo })
      for (const e of page) if (e.type === 'conf') this.confs.push(e.index, decodeConfEntry(e.data).conf)
      lo = (page[page.length - 1] as Entry).index + 1
    }
  }

  // ---- membership ----

  conf (): ConfState {
    return this.confs.current()
  }

  promotable (): boolean {
    return this.tracker.isVoter(this.id) && this.log.unstable.snapshot === undefined
  }

  /** Entries were appended from `from` on (after truncating there): track their configurations. */
  onLogChanged (from: number, entries: Entry[]): void {
    const before = this.confs.current()
    this.confs.truncateFrom(from)
    for (const e of entries) {
      if (e.index >= from && e.type === 'conf') this.confs.push(e.index, decodeConfEntry(e.data).conf)
    }
    if (!confEquals(before, this.confs.current())) this.applyConf()
  }

  applyConf (): void {
    this.confVersion++
    this.tracker.setConf(this.confs.current(), this.log.lastIndex() + 1)
    if (this.leadTransferee !== null && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = null
  }

  // ---- messages ----

  send (m: OutboundMessage): void {
    const msg = { ...m, from: this.id, term: m.term ?? this.term } as RaftMessage
    invariant(msg.to !== this.id, 'a node must not send to itself', { type: msg.type })
    // A leader's appends may leave before its own fsync (§10.2.1) once its term and vote are
    // durable; its own match only counts after persistence, so commit stays correct.
    const early = this.role === 'leader' && msg.term === this.term && this.persistedTerm === this.term &&
      (msg.type === 'app' || msg.type === 'hb' || msg.type === 'snap' || msg.type === 'timeout-now' || msg.type === 'read-resp')
    if (early) this.msgsEarly.push(msg)
    else this.msgs.push(msg)
  }

  // ---- role transitions ----

  private resetRandomizedElectionTimeout (): void {
    const base = this.opts.electionTimeoutTicks
    this.randomizedElectionTimeout = base + Math.floor(this.opts.random.next() * base)
  }

  private reset (term: number): void {
    if (this.role === 'leader') this.leaveLeadership()
    if (term !== this.term) {
      invariant(term > this.term, 'terms never decrease', { term, current: this.term })
      this.term = term
      this.vote = null
    }
    this.lead = null
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.leadTransferee = null
    this.tracker.resetVotes()
  }

  private leaveLeadership (): void {
    dropLeaderReads(this)
    this.uncommittedBytes = 0
    this.uncommitted = []
    this.pendingBroadcast = false
  }

  becomeFollower (term: number, lead: NodeId | null): void {
    this.reset(term)
    this.role = 'follower'
    this.lead = lead
  }

  private becomePreCandidate (): void {
    invariant(this.role !== 'leader', 'a leader cannot become a pre-candidate')
    // Unlike a candidate, a pre-candidate keeps its term and vote: a failed pre-vote changes nothing durable.
    this.tracker.resetVotes()
    this.role = 'pre-candidate'
    this.lead = null
  }

  private becomeCandidate (): void {
    invariant(this.role !== 'leader', 'a leader cannot become a candidate')
    this.reset(this.term + 1)
    this.vote = this.id
    this.role = 'candidate'
  }

  becomeLeader (): void {
    invariant(this.role === 'candidate', 'only a candidate becomes leader', { role: this.role })
    invariant(this.vote === this.id, 'a leader voted for itself', { vote: this.vote })
    this.reset(this.term)
    this.role = 'leader'
    this.lead = this.id
    const last = this.log.lastIndex()
    this.tracker.resetProgress(last + 1)
    const self = this.tracker.progress.get(this.id)
    if (self !== undefined) {
      self.match = this.log.persistedLastIndex()
      self.becomeReplicate()
      self.next = last + 1
    }
    this.reads.reset()
    // An entry of the new term: only by committing it does the leader learn which entries are
    // committed, which ReadIndex and membership changes wait for.
    this.appendEntries([{ term: this.term, index: last + 1, type: 'normal', data: new Uint8Array(0) }])
  }

  /** Leader: appends new entries to its own log (they count for commit once persisted). */
  appendEntries (entries: Entry[]): void {
    invariant(this.role === 'leader', 'only a leader appends its own entries')
    let index = this.log.lastIndex()
    for (const e of entries) {
      e.term = this.term
      e.index = ++index
    }
    this.log.append(entries)
    this.onLogChanged((entries[0] as Entry).index, entries)
    this.pendingBroadcast = true
  }

  flushBroadcast (): void {
    if (!this.pendingBroadcast) return
    this.pendingBroadcast = false
    if (this.role === 'leader') bcastAppend(this)
  }

  campaign (kind: Campaign): void {
    if (!this.promotable()) return
    let voteTerm: number
    if (kind === 'pre-vote') {
      this.becomePreCandidate()
      voteTerm = this.term + 1
    } else {
      this.becomeCandidate()
      voteTerm = this.term
    }
    this.tracker.recordVote(this.id, true)
    if (this.tracker.voteResult() === 'won') {
      // A single voter wins at once.
      if (kind === 'pre-vote') this.campaign('vote')
      else this.becomeLeader()
      return
    }
    const type = kind === 'pre-vote' ? 'prevote' : 'vote'
    const index = this.log.lastIndex()
    const logTerm = this.log.lastTerm()
    for (const to of this.tracker.voters) {
      if (to === this.id) continue
      this.send({ type, to, term: voteTerm, index, logTerm, transfer: kind === 'transfer' })
    }
  }

  /**
   * True while this node has reason to believe a leader is alive: it heard from one within the
   * election timeout. With lease reads, also for the first election timeout after a start: it may
   * have acknowledged a leader just before a crash, and that leader may be serving lease reads on
   * the strength of it.
   */
  inLease (): boolean {
    if (!this.opts.checkQuorum) return false
    if (this.electionElapsed >= this.opts.electionTimeoutTicks) return false
    return this.lead !== null || (this.opts.readMode === 'lease' && this.ticks < this.opts.electionTimeoutTicks)
  }

  // ---- inputs ----

  tick (): void {
    this.ticks++
    expireForwardedReads(this)
    if (this.role === 'leader') this.tickLeader()
    else this.tickElection()
  }

  private tickElection (): void {
    this.electionElapsed++
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.campaign(this.opts.preVote ? 'pre-vote' : 'vote')
    }
  }

  private tickLeader (): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    const stall = this.opts.diskStallTicksMax
    const oldest = this.outstanding[0]
    if (stall > 0 && oldest !== undefined && this.ticks - oldest.tick >= stall) {
      // A leader whose disk does not complete writes cannot commit, yet its heartbeats would keep
      // followers from electing one that can.
      this.becomeFollower(this.term, null)
      return
    }
    if (this.electionElapsed >= this.opts.electionTimeoutTicks) {
      this.electionElapsed = 0
      if (this.opts.checkQuorum) {
        const active = this.tracker.quorumActive(this.id)
        this.tracker.resetRecentActive(this.id)
        if (!active) {
          this.becomeFollower(this.term, null)
          return
        }
      }
      this.leadTransferee = null
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0
      bcastHeartbeat(this)
    }
  }

  step (m: RaftMessage): void {
    if (m.to !== this.id) throw new InvalidArgumentError(`message for ${m.to} stepped into ${this.id}`, { to: m.to })
    if (m.from === this.id) return
    if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'prevote') && !m.transfer && this.inLease()) {
        // A leader is alive as far as we know: a rejoining or removed node must not depose it.
        return
      }
      if (m.type === 'prevote' || (m.type === 'prevote-resp' && !m.reject)) {
        // Pre-votes carry a future term and change no one's term.
      } else {
        const fromLeader = m.type === 'app' || m.type === 'hb' || m.type === 'snap'
        this.becomeFollower(m.term, fromLeader ? m.from : null)
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'app' || m.type === 'hb')) {
        // A deposed leader that cannot hear the new one: our term makes it step down. Without
        // this, with pre-vote it could stay leader forever in its own view.
        this.send({ type: 'app-resp', to: m.from, index: 0, reject: false, hintIndex: 0, hintTerm: 0 })
      } else if (m.type === 'prevote') {
        this.send({ type: 'prevote-resp', to: m.from, reject: true })
      } else if (m.type === 'read-resp') {
        handleReadResponse(this, m)
      }
      return
    }

    switch (m.type) {
      case 'vote':
      case 'prevote':
        this.handleVoteRequest(m)
        return
      case 'read-resp':
        handleReadResponse(this, m)
        return
    }
    switch (this.role) {
      case 'leader':
        stepLeader(this, m)
        return
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m)
        return
      case 'follower':
        this.stepFollower(m)
    }
  }

  private handleVoteRequest (m: VoteMessage): void {
    const respType = m.type === 'vote' ? 'vote-resp' : 'prevote-resp'
    const canVote = this.vote === m.from ||
      (this.vote === null && this.lead === null) ||
      (m.type === 'prevote' && m.term > this.term)
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote answer carries the asked term so the pre-candidate counts it.
      this.send({ type: respType, to: m.from, term: m.term, reject: false })
      if (m.type === 'vote') {
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true })
    }
  }

  private stepCandidate (m: RaftMessage): void {
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from)
        handleAppend(this, m)
        return
      case 'hb':
        this.becomeFollower(m.term, m.from)
        handleHeartbeat(this, m)
        return
      case 'snap':
        this.becomeFollower(m.term, m.from)
        handleSnapshot(this, m)
        return
      case 'vote-resp':
      case 'prevote-resp': {
        if ((m.type === 'vote-resp') !== (this.role === 'candidate')) return
        this.tracker.recordVote(m.from, !m.reject)
        const result = this.tracker.voteResult()
        if (result === 'won') {
          if (this.role === 'pre-candidate') this.campaign('vote')
          else {
            this.becomeLeader()
            this.flushBroadcast()
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, null)
        }
        return
      }
      case 'read':
        replyReadRejected(this, m)
    }
  }

  private stepFollower (m: RaftMessage): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0
        this.lead = m.from
        handleAppend(this, m)
        return
      case 'hb':
        this.electionElapsed = 0
        this.lead = m.from
        handleHeartbeat(this, m)
        return
      case 'snap':
        this.electionElapsed = 0
        this.lead = m.from
        handleSnapshot(this, m)
        return
      case 'timeout-now':
        this.campaign('transfer')
        return
      case 'read':
        replyReadRejected(this, m)
    }
  }
}
