import { Gauge, Histogram, type Registry } from 'prom-client'
import { ClosedError, ConflictError, InternalError, InvalidArgumentError, NotLeaderError, UnavailableError, toQuorumKvError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'
import type { Logger } from '../observability/logger.js'
import type { Random } from '../runtime/random.js'
import type { TimeSource } from '../runtime/time.js'
import { parseKvCommand, type KvCommand, type KvOutcome, type KvStateMachine, type LogEntry } from '../storage/kv-state-machine.js'
import type { BatchOp, StorageEngine } from '../storage/engine.js'
import { protocolId, type PeerId, type Transport } from '../transport/types.js'
import { RaftCore, decodeConfEntry, parseRaftMessage, type ConfChangeType, type ConfState, type Entry, type RaftMessage, type Ready, type SnapshotMeta, type SoftState } from './core/index.js'
import { DurableRaftLog } from './log-store.js'
import { KvSnapshotStaging, SnapshotReceiver, SnapshotSender, compactionIndex, kvSnapshotOpener, recoverKvSnapshot, snapshotDue } from './snapshot.js'

/**
 * The Raft driver: runs one RaftCore over the durable log, the transport and the key-value state
 * machine. It follows the core's contract (core/index.ts): a Ready's messages that promise
 * durability leave only after its entries and hard state are fsynced; committed entries are
 * applied in order with the applied index in the same batch as the data.
 *
 * One Ready is processed at a time; proposals that arrive while a Ready is being fsynced wait in
 * the core and go out together in the next one, so one fsync carries many writes.
 */
export const raftProtocol = protocolId('raft')
export const forwardProtocol = protocolId('raft-forward')

export interface RaftSettings {
  electionTimeoutMs: number
  heartbeatIntervalMs: number
  preVote: boolean
  checkQuorum: boolean
  readMode: 'read-index' | 'lease'
  clockDriftBoundMs: number
  votersMax: number
  inflightMessagesMax: number
  inflightBytesMax: number
  uncommittedBytesMax: number
  entriesPerMessageMax: number
  diskStallStepDownMs: number
  snapshotEveryEntries: number
  catchUpEntries: number
  snapshotChunkBytes: number
}

export interface RaftNodeComponents {
  engine: StorageEngine
  stateMachine: KvStateMachine
  transport: Transport
  logger: Logger
  time: TimeSource
  random: Random
  registry: Registry
  /**
   * The monotonic clock ticks and leases follow (default `performance.now`); the driver simulation
   * passes each node's virtual clock.
   */
  monotonicNow?: () => number
}

/** A membership change as operators ask for it; `multiaddrs` travel in the conf entry so every member learns them. */
export interface MembershipChange {
  type: ConfChangeType
  node: PeerId
  multiaddrs?: string[]
}

/** What the node learns from the log about members: wire it to the transport, access control and gossip. */
export interface MembershipHooks {
  /** A conf entry named this member's addresses (at append time, and again when the log is replayed). */
  onAddresses?: (peer: PeerId, multiaddrs: string[]) => void
  /** The configuration in effect changed (append-time semantics). */
  onConf?: (conf: ConfState) => void
}

type ForwardRequest = { command: KvCommand } | { change: MembershipChange } | { transfer: PeerId }

export interface RaftNodeInit {
  id: PeerId
  /** The initial configuration, used only when the data directory has no Raft state yet. */
  bootstrap: ConfState
  raft: RaftSettings
  /** Batch bounds for installing a snapshot (limits.batchOpsMax, limits.batchBytesMax). */
  batch: { batchOpsMax: number, batchBytesMax: number }
  hooks?: MembershipHooks
}

interface PendingProposal {
  term: number
  resolve: (outcome: KvOutcome) => void
  reject: (err: unknown) => void
}

/** Most ticks replayed after a pause: enough to expire any election timeout, bounded. */
const catchUpTicksMax = 1_000

export class RaftNode {
  readonly id: PeerId
  private readonly core: RaftCore
  private readonly log: DurableRaftLog
  private readonly sm: KvStateMachine
  private readonly transport: Transport
  private readonly logger: Logger
  private readonly time: TimeSource
  private readonly tickMs: number
  private readonly hooks: MembershipHooks
  private readonly engine: StorageEngine
  private readonly settings: RaftSettings
  private readonly staging: KvSnapshotStaging
  private readonly sender: SnapshotSender
  private readonly receiver: SnapshotReceiver
  /** A received snapshot was stepped into the core; the next Ready says whether it took it. */
  private snapshotStepped = false
  private readonly proposals = new Map<number, PendingProposal>()
  private readonly reads = new Map<string, { resolve: (index: number) => void, reject: (err: unknown) => void }>()
  private readonly appliedWaiters: Array<{ index: number, resolve: () => void }> = []
  private readonly leaderWaiters = new Set<() => void>()
  private soft: SoftState
  private readSeq = 0
  private processing = false
  /** The applier: committed batches applied one after another, off the Ready loop. */
  private applying: Promise<void> = Promise.resolve()
  private stopped = false
  private failure: Error | undefined
  private ticker: ReturnType<typeof setInterval> | undefined
  private lastTickAt = 0
  private readonly monotonicNow: () => number
  /** When this node last heard from the leader it follows, and that leader's commit index then. */
  private leaderContact = { atMs: -Infinity, commit: 0 }
  private readonly metrics: { term: Gauge, commit: Gauge, applied: Gauge, isLeader: Gauge, persistSeconds: Histogram, applySeconds: Histogram }

  private constructor (components: RaftNodeComponents, init: RaftNodeInit, log: DurableRaftLog) {
    this.id = init.id
    this.log = log
    this.sm = components.stateMachine
    this.transport = components.transport
    this.logger = components.logger
    this.time = components.time
    this.tickMs = init.raft.heartbeatIntervalMs
    this.hooks = init.hooks ?? {}
    this.engine = components.engine
    this.monotonicNow = components.monotonicNow ?? (() => performance.now())
    this.settings = init.raft
    this.staging = new KvSnapshotStaging(components.engine, init.batch)
    this.sender = new SnapshotSender(
      { transport: components.transport, time: components.time, random: components.random, logger: components.logger },
      { chunkBytesMax: init.raft.snapshotChunkBytes }
    )
    this.receiver = new SnapshotReceiver({
      transport: components.transport,
      sink: this.staging,
      logger: components.logger,
      leader: () => ({ id: this.soft.leader, term: this.soft.term }),
      onSnapshot: (m) => {
        try {
          this.core.step(m)
        } catch (err) {
          this.fail(err)
          return
        }
        this.snapshotStepped = true
        this.kick()
      }
    }, { chunkBytesMax: init.raft.snapshotChunkBytes })
    const electionTimeoutTicks = Math.max(2, Math.round(init.raft.electionTimeoutMs / this.tickMs))
    this.core = new RaftCore({
      id: init.id,
      storage: log.view,
      random: components.random,
      applied: components.stateMachine.appliedIndex,
      electionTimeoutTicks,
      heartbeatTicks: 1,
      preVote: init.raft.preVote,
      checkQuorum: init.raft.checkQuorum,
      readMode: init.raft.readMode,
      // One tick more than the drift bound covers tick granularity (see the core's lease reads).
      leaseDriftTicks: 1 + Math.ceil(init.raft.clockDriftBoundMs / this.tickMs),
      inflightMessagesMax: init.raft.inflightMessagesMax,
      inflightBytesMax: init.raft.inflightBytesMax,
      uncommittedBytesMax: init.raft.uncommittedBytesMax,
      entriesPerMessageMax: init.raft.entriesPerMessageMax,
      votersMax: init.raft.votersMax,
      diskStallTicksMax: Math.ceil(init.raft.diskStallStepDownMs / this.tickMs)
    })
    this.soft = this.core.softState()
    const r = components.registry
    this.metrics = {
      term: new Gauge({ name: 'quorumkv_raft_term', help: 'Current Raft term.', registers: [r] }),
      commit: new Gauge({ name: 'quorumkv_raft_commit_index', help: 'Highest log index known committed.', registers: [r] }),
      applied: new Gauge({ name: 'quorumkv_raft_applied_index', help: 'Highest log index applied to the state machine.', registers: [r] }),
      isLeader: new Gauge({ name: 'quorumkv_raft_is_leader', help: '1 while this node leads.', registers: [r] }),
      persistSeconds: new Histogram({ name: 'quorumkv_raft_persist_seconds', help: 'Time to fsync one Ready (entries and hard state).', buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2], registers: [r] }),
      applySeconds: new Histogram({ name: 'quorumkv_raft_apply_seconds', help: 'Time to apply one batch of committed entries.', buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2], registers: [r] })
    }
  }

  static async open (components: RaftNodeComponents, init: RaftNodeInit): Promise<RaftNode> {
    // A snapshot install interrupted by a crash is finished (if it was committed) or dropped.
    const recovered = await recoverKvSnapshot(components.engine, init.batch)
    if (recovered.action === 'finished') await components.stateMachine.reload()
    const log = await DurableRaftLog.open(components.engine, init.bootstrap)
    if (log.view.lastIndex() === 0 && components.stateMachine.appliedIndex > 0) {
      throw new InternalError('this data directory holds data written without Raft (a single node) but no Raft log: it cannot join a cluster as is; start it with its old config or restore into a new node')
    }
    // Entries are applied only once committed: an applied index ahead of the stored commit index
    // (written unsynced, so an older copy can survive a crash) is a commit index too.
    const hard = log.view.hardState()
    if (hard.commit < components.stateMachine.appliedIndex && components.stateMachine.appliedIndex <= log.view.lastIndex()) {
      log.view.setHardState({ ...hard, commit: components.stateMachine.appliedIndex })
    }
    const node = new RaftNode(components, init, log)
    const view = log.view
    if (view.lastIndex() >= view.firstIndex()) {
      for (const e of view.entries(view.firstIndex(), view.lastIndex() + 1, Number.MAX_SAFE_INTEGER)) node.learnFromEntry(e)
    }
    node.hooks.onConf?.(node.soft.conf)
    return node
  }

  start (): void {
    this.transport.handle<RaftMessage>(raftProtocol, {
      parse: parseRaftMessage,
      onMessage: (from, message) => { this.receive(from, message) }
    })
    this.transport.handle<ForwardRequest>(forwardProtocol, {
      parse: parseForwardRequest,
      onRequest: async (_from, request, signal) => 'command' in request
        ? await this.proposeHere(request.command, signal)
        : 'change' in request ? await this.changeHere(request.change, signal) : await this.transferHere(request.transfer, signal)
    })
    this.receiver.start()
    this.lastTickAt = this.monotonicNow()
    this.ticker = setInterval(() => { this.onTimer() }, this.tickMs)
    this.ticker.unref?.()
    this.kick()
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.ticker !== undefined) clearInterval(this.ticker)
    this.transport.unhandle(raftProtocol)
    this.transport.unhandle(forwardProtocol)
    while (this.processing) await new Promise(resolve => setTimeout(resolve, 1))
    await this.applying
    await this.sender.stop()
    await this.receiver.stop()
    this.failAll(new ClosedError('the node stopped; the outcome of a write in flight is unknown'))
  }

  get appliedIndex (): number { return this.sm.appliedIndex }
  get leader (): PeerId | null { return this.soft.leader }
  get isLeader (): boolean { return this.soft.role === 'leader' }
  status (): ReturnType<RaftCore['status']> { return this.core.status() }

  /** Proposes a command (forwarding it to the leader when this node follows) and resolves with its outcome once applied here or there. */
  async propose (command: KvCommand, signal: AbortSignal): Promise<KvOutcome> {
    return await this.onLeader({ command }, signal, async () => await this.proposeHere(command, signal))
  }

  /**
   * Changes the membership, one server at a time (add a learner, promote it once caught up, demote,
   * remove), and resolves once the change is applied on the leader. A change refused for now
   * (another one pending, or a new leader that has not committed in its term) is retried until the
   * signal fires.
   */
  async changeMembership (change: MembershipChange, signal: AbortSignal): Promise<void> {
    await this.onLeader({ change }, signal, async () => { await this.changeHere(change, signal) })
  }

  /**
   * Hands leadership to voter `to` (the leader catches it up, then tells it to campaign) and
   * resolves once `to` leads, as this node sees it.
   */
  async transferLeadership (to: PeerId, signal: AbortSignal): Promise<void> {
    if (this.soft.leader === to) return
    await this.onLeader({ transfer: to }, signal, async () => { await this.transferHere(to, signal) })
    while (this.soft.leader !== to) await this.waitForLeaderChange(this.soft.leader, signal)
  }

  private async transferHere (to: PeerId, signal: AbortSignal): Promise<void> {
    this.assertUsable()
    this.core.transferLeadership(to)
    this.kick()
    while (this.soft.leader !== to) await this.waitForLeaderChange(this.soft.leader, signal)
  }

  /** Runs `here` on the leader, or forwards `request` to it, following leadership changes. */
  private async onLeader<T> (request: ForwardRequest, signal: AbortSignal, here: () => Promise<T>): Promise<T> {
    while (true) {
      this.assertUsable()
      if (this.soft.role === 'leader') return await here()
      const leader = this.soft.leader
      if (leader === null) {
        await this.waitForLeader(signal)
        continue
      }
      try {
        const reply = await this.transport.request(leader, forwardProtocol, request, { timeoutMs: 60_000, signal })
        return ('command' in request ? parseOutcome(reply) : undefined) as T
      } catch (err) {
        // A leader that lost leadership meanwhile says so without proposing: try the new one.
        if (err instanceof NotLeaderError || (err instanceof UnavailableError && !signal.aborted)) {
          await this.waitForLeaderChange(leader, signal)
          continue
        }
        throw err
      }
    }
  }

  /** A linearizable read point: resolves once this node has applied every write that completed before the call. */
  async readBarrier (signal: AbortSignal): Promise<void> {
    while (true) {
      this.assertUsable()
      const id = `${this.id}:${++this.readSeq}`
      let index: number
      try {
        index = await new Promise<number>((resolve, reject) => {
          this.reads.set(id, { resolve, reject })
          try {
            if (this.settings.readMode === 'lease') this.advanceTicks(0)
            this.core.readIndex(id)
          } catch (err) {
            this.reads.delete(id)
            reject(err)
            return
          }
          this.kick()
          onAbort(signal, () => { if (this.reads.delete(id)) reject(signal.reason) })
        })
      } catch (err) {
        if (err instanceof NotLeaderError || (err instanceof UnavailableError && !signal.aborted)) {
          await this.waitForLeader(signal)
          await sleep(this.time, this.tickMs, signal)
          continue
        }
        throw err
      }
      await this.waitApplied(index, signal)
      return
    }
  }

  /**
   * Bounded staleness: true when a local read is at most `maxStalenessMs` behind the leader, judged
   * by the last message from the leader and the commit index it carried.
   */
  freshWithin (maxStalenessMs: number): boolean {
    if (this.soft.role === 'leader') return false // a deposed leader cannot know how stale it is: use the read barrier
    return this.time.now() - this.leaderContact.atMs <= maxStalenessMs && this.sm.appliedIndex >= this.leaderContact.commit
  }

  async waitApplied (index: number, signal: AbortSignal): Promise<void> {
    if (this.sm.appliedIndex >= index) return
    await new Promise<void>((resolve, reject) => {
      const waiter = { index, resolve }
      this.appliedWaiters.push(waiter)
      onAbort(signal, () => {
        const i = this.appliedWaiters.indexOf(waiter)
        if (i !== -1) { this.appliedWaiters.splice(i, 1); reject(signal.reason) }
      })
    })
  }

  private async proposeHere (command: KvCommand, signal: AbortSignal): Promise<KvOutcome> {
    this.assertUsable()
    const result = this.core.propose([encode(command)])
    this.kick()
    return await new Promise<KvOutcome>((resolve, reject) => {
      this.proposals.set(result.firstIndex, { term: result.term, resolve, reject })
      onAbort(signal, () => {
        // The entry may still commit; the caller learns only that the outcome is unknown.
        if (this.proposals.get(result.firstIndex)?.term === result.term) this.proposals.delete(result.firstIndex)
        reject(signal.reason)
      })
    })
  }

  private async changeHere (change: MembershipChange, signal: AbortSignal): Promise<void> {
    while (true) {
      this.assertUsable()
      let result
      try {
        const context = change.multiaddrs === undefined ? undefined : encode({ multiaddrs: change.multiaddrs })
        result = this.core.proposeConfChange({ type: change.type, node: change.node, ...(context !== undefined ? { context } : {}) })
      } catch (err) {
        if (err instanceof ConflictError) {
          await sleep(this.time, this.tickMs, signal)
          continue
        }
        throw err
      }
      this.kick()
      const outcome = await new Promise<KvOutcome>((resolve, reject) => {
        this.proposals.set(result.firstIndex, { term: result.term, resolve, reject })
        onAbort(signal, () => { this.proposals.delete(result.firstIndex); reject(signal.reason) })
      })
      if (!outcome.ok) throw new InternalError(`membership change was not applied: ${outcome.message}`)
      return
    }
  }

  /** Learns member addresses from a conf entry's context. */
  private learnFromEntry (entry: Entry): void {
    if (entry.type !== 'conf') return
    const data = decodeConfEntry(entry.data)
    if (data.context === null) return
    const context = decode(data.context) as { multiaddrs?: unknown }
    if (Array.isArray(context.multiaddrs) && context.multiaddrs.every(a => typeof a === 'string')) {
      this.hooks.onAddresses?.(data.change.node, context.multiaddrs as string[])
    }
  }

  private receive (from: PeerId, message: RaftMessage): void {
    if (this.stopped || this.failure !== undefined) return
    if (message.from !== from) {
      this.logger.warn({ event: 'raft_message_spoofed', peer: from, claimed: message.from }, 'raft message names another sender; dropped')
      return
    }
    if (message.to !== this.id) return
    // A read forwarded by a follower is judged on the lease as of now (see advanceTicks).
    if (message.type === 'read' && this.settings.readMode === 'lease') this.advanceTicks(0)
    if ((message.type === 'app' || message.type === 'hb') && message.term >= this.soft.term) {
      this.leaderContact = { atMs: this.time.now(), commit: message.commit }
    }
    try {
      this.core.step(message)
    } catch (err) {
      this.fail(err)
      return
    }
    this.kick()
  }

  private onTimer (): void {
    if (this.stopped || this.failure !== undefined) return
    if (this.advanceTicks(1)) this.kick()
  }

  /**
   * Ticks the core for the time elapsed since the last tick, at least `minTicks` times. Ticks follow
   * a monotonic clock: a wall-clock step must neither stall nor rush elections and leases. Reads
   * call it too (with 0), so that after a stall (a long pause of the process, a blocked loop) a
   * lease is judged on the time that really passed, not on ticks the timer has not delivered yet.
   */
  private advanceTicks (minTicks: number): boolean {
    const now = this.monotonicNow()
    const elapsed = Math.floor((now - this.lastTickAt) / this.tickMs)
    const ticks = Math.min(catchUpTicksMax, Math.max(minTicks, elapsed))
    if (ticks === 0) return true
    // A timer that fires a little early still ticks once; the base then restarts from now.
    this.lastTickAt = elapsed >= 1 && elapsed < catchUpTicksMax ? this.lastTickAt + ticks * this.tickMs : now
    try {
      for (let i = 0; i < ticks; i++) this.core.tick()
    } catch (err) {
      this.fail(err)
      return false
    }
    return true
  }

  private kick (): void {
    if (this.processing || this.stopped || this.failure !== undefined) return
    this.processing = true
    this.process().catch((err: unknown) => { this.fail(err) }).finally(() => { this.processing = false })
  }

  private async process (): Promise<void> {
    while (!this.stopped && this.failure === undefined && this.core.hasReady()) {
      const rd = this.core.ready()
      const stepped = this.snapshotStepped
      this.snapshotStepped = false
      // Addresses of members added by these entries must be known before messages go to them.
      for (const e of rd.entries) this.learnFromEntry(e)
      if (rd.softState !== undefined) this.onSoftState(rd.softState)
      this.sendAll(rd.messagesBeforePersist)
      // Committed entries already in the durable log are applied at once, beside this Ready's
      // write (most often a commit index alone); the rest once the write is done. Never an entry
      // that is not on disk here: the applied index must not get ahead of the log.
      const durable = rd.snapshot === undefined ? this.log.view.lastIndex() : 0
      const split = rd.committedEntries.findIndex(e => e.index > durable)
      const early = split === -1 ? rd.committedEntries : rd.committedEntries.slice(0, split)
      const late = split === -1 ? [] : rd.committedEntries.slice(split)
      // A Ready that only advances the commit index (the usual one after an acknowledgement)
      // writes it with the applied entries: one batch instead of two.
      const commitOp = rd.snapshot === undefined && rd.entries.length === 0 && rd.hardState !== undefined && early.length > 0 && late.length === 0
        ? this.log.commitOnly(rd.hardState)
        : undefined
      this.enqueueApply(early, commitOp)
      if (rd.snapshot !== undefined) {
        await this.installSnapshot(rd)
      } else if (commitOp === undefined && (rd.entries.length > 0 || rd.hardState !== undefined)) {
        const started = performance.now()
        await this.log.persist({ entries: rd.entries, ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}) })
        this.metrics.persistSeconds.observe((performance.now() - started) / 1000)
      }
      this.sendAll(rd.messages)
      this.enqueueApply(late)
      for (const rs of rd.readStates) {
        const read = this.reads.get(rs.requestId)
        if (read !== undefined) { this.reads.delete(rs.requestId); read.resolve(rs.index) }
      }
      for (const id of rd.droppedReads) {
        const read = this.reads.get(id)
        if (read !== undefined) { this.reads.delete(id); read.reject(new UnavailableError('the read lost its leader before it was confirmed; retry', { requestId: id })) }
      }
      this.core.advance(rd)
      if (stepped) await this.receiver.release()
      await this.maybeSnapshot()
      const hard = this.core.hardState()
      this.metrics.term.set(hard.term)
      this.metrics.commit.set(hard.commit)
    }
  }

  /** Installs a snapshot the leader sent: the log is reset to it and the staged state machine swapped in, crash-safely. */
  private async installSnapshot (rd: Ready): Promise<void> {
    const snapshot = rd.snapshot as SnapshotMeta
    await this.applying // entries committed before the snapshot are applied first
    await this.log.persist(
      { snapshot, entries: rd.entries, ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}) },
      this.staging.commitOps(snapshot)
    )
    await this.sm.replaceState(async () => await this.staging.finishInstall())
    for (const [index, p] of this.proposals) {
      if (index > snapshot.index) continue
      this.proposals.delete(index)
      p.reject(new UnavailableError('a snapshot from the leader replaced this node\'s state before the write was confirmed; its outcome is unknown'))
    }
    this.wakeApplied(this.sm.appliedIndex)
    this.metrics.applied.set(this.sm.appliedIndex)
    this.logger.info({ event: 'raft_snapshot_installed', index: snapshot.index, term: snapshot.term }, 'installed a snapshot from the leader')
  }

  /** Between Readies: take a snapshot of the applied state and compact the log behind it, keeping catch-up entries. */
  private async maybeSnapshot (): Promise<void> {
    const applied = this.sm.appliedIndex
    if (!snapshotDue(applied, this.log.view.snapshot().index, this.settings.snapshotEveryEntries)) return
    const meta = this.core.snapshotMetaAt(Math.min(applied, this.core.status().applied))
    if (meta === undefined) return
    await this.log.snapshotAndCompact(meta, compactionIndex(meta.index, this.settings.catchUpEntries, this.sender.compactionFloor()))
    this.logger.info({ event: 'raft_log_compacted', index: meta.index, firstIndex: this.log.view.firstIndex() }, 'took a snapshot and compacted the log')
  }

  /**
   * Applying runs beside the Ready loop's fsyncs rather than between them: the applier keeps the
   * entries' order, and reads wait for the applied index they need.
   */
  private enqueueApply (committed: Entry[], extraOp?: BatchOp): void {
    if (committed.length === 0) return
    this.applying = this.applying.then(async () => { await this.apply(committed, extraOp) }).catch((err: unknown) => { this.fail(err) })
  }

  private async apply (committed: Entry[], extraOp?: BatchOp): Promise<void> {
    if (this.failure !== undefined) return
    const entries: LogEntry[] = committed.map(e => ({
      index: e.index,
      command: e.type === 'normal' && e.data.byteLength > 0 ? parseKvCommand(decode(e.data)) : null
    }))
    const started = performance.now()
    // The log is the durable record of these entries: the applied batch need not be synced; after a
    // crash the core hands back every committed entry above the persisted applied index.
    const outcomes = await this.sm.apply(entries, { sync: false, ...(extraOp !== undefined ? { extraOps: [extraOp] } : {}) })
    this.metrics.applySeconds.observe((performance.now() - started) / 1000)
    for (const [i, e] of committed.entries()) {
      const pending = this.proposals.get(e.index)
      if (pending === undefined) continue
      this.proposals.delete(e.index)
      if (pending.term === e.term) pending.resolve(outcomes[i] as KvOutcome)
      else pending.reject(new NotLeaderError('the write was replaced by another leader\'s log before it committed; it was not applied', { leader: this.soft.leader }))
    }
    const last = (committed[committed.length - 1] as Entry).index
    this.core.appliedTo(last)
    this.metrics.applied.set(last)
    this.wakeApplied(last)
    this.kick()
  }

  /** Runs `fn` on the applier chain, when no apply is in flight. */
  private readonly inApplier = async <T>(fn: () => Promise<T>): Promise<T> => {
    const run = this.applying.then(fn)
    this.applying = run.then(() => {}, () => {})
    return await run
  }

  private wakeApplied (applied: number): void {
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const w = this.appliedWaiters[i] as { index: number, resolve: () => void }
      if (w.index <= applied) { this.appliedWaiters.splice(i, 1); w.resolve() }
    }
  }

  private onSoftState (soft: SoftState): void {
    const previous = this.soft
    this.soft = soft
    if (previous.conf !== soft.conf) this.hooks.onConf?.(soft.conf)
    if (previous.role === 'leader' && soft.role !== 'leader') this.sender.abortAll()
    this.metrics.isLeader.set(soft.role === 'leader' ? 1 : 0)
    if (previous.leader !== soft.leader || previous.role !== soft.role) {
      this.logger.info({ event: 'raft_leader', leader: soft.leader, role: soft.role, term: soft.term }, 'raft leadership changed')
      for (const wake of [...this.leaderWaiters]) wake()
    }
  }

  private sendAll (messages: RaftMessage[]): void {
    for (const m of messages) {
      if (m.type === 'snap') {
        const open = kvSnapshotOpener(this.engine, this.settings.snapshotChunkBytes, (i) => this.core.snapshotMetaAt(i), this.inApplier)
        const started = this.sender.start(m.to, m.term, open, (ok) => { this.core.reportSnapshot(m.to, ok); this.kick() })
        if (started === 'refused') this.core.reportSnapshot(m.to, false)
        continue
      }
      if (!this.transport.send(m.to, raftProtocol, m)) this.core.reportUnreachable(m.to)
    }
  }

  private async waitForLeader (signal: AbortSignal): Promise<void> {
    if (this.soft.leader !== null) return
    await this.waitForLeaderChange(null, signal)
  }

  /** Waits until the known leader differs from `from` (or at most one election timeout). */
  private async waitForLeaderChange (from: PeerId | null, signal: AbortSignal): Promise<void> {
    if (this.soft.leader !== from && this.soft.leader !== null) return
    await new Promise<void>((resolve, reject) => {
      const done = (): void => { this.leaderWaiters.delete(wake); timer.cancel(); resolve() }
      const wake = (): void => { if (this.soft.leader !== from) done() }
      const timer = this.time.setTimeout(done, this.tickMs * 10)
      this.leaderWaiters.add(wake)
      onAbort(signal, () => { this.leaderWaiters.delete(wake); timer.cancel(); reject(signal.reason) })
    })
    this.assertUsable()
  }

  private fail (err: unknown): void {
    if (this.failure !== undefined) return
    this.failure = toQuorumKvError(err)
    this.logger.fatal({ event: 'raft_failed', err: this.failure.message }, 'raft driver stopped on an error; restart the node')
    if (this.ticker !== undefined) clearInterval(this.ticker)
    this.failAll(this.failure)
  }

  private failAll (err: Error): void {
    for (const p of this.proposals.values()) p.reject(err)
    this.proposals.clear()
    for (const r of this.reads.values()) r.reject(err)
    this.reads.clear()
    for (const wake of [...this.leaderWaiters]) wake()
  }

  private assertUsable (): void {
    if (this.failure !== undefined) throw this.failure
    if (this.stopped) throw new ClosedError('the node is stopped')
  }
}

const changeTypes: readonly string[] = ['add-learner', 'promote', 'demote', 'remove']

function parseForwardRequest (raw: unknown): ForwardRequest {
  const r = raw as { command?: unknown, change?: unknown } | null
  if (r === null || typeof r !== 'object') throw new InvalidArgumentError('forward request must be an object')
  if (r.command !== undefined) return { command: parseKvCommand(r.command) }
  const transfer = (raw as { transfer?: unknown }).transfer
  if (transfer !== undefined) {
    if (typeof transfer !== 'string' || transfer.length === 0 || transfer.length > 128) throw new InvalidArgumentError('forward request transfer must name a peer id')
    return { transfer }
  }
  const c = r.change as Partial<MembershipChange> | undefined
  if (c === null || typeof c !== 'object' || typeof c.type !== 'string' || !changeTypes.includes(c.type) ||
    typeof c.node !== 'string' || c.node.length === 0 || c.node.length > 128 ||
    (c.multiaddrs !== undefined && (!Array.isArray(c.multiaddrs) || c.multiaddrs.length > 16 || !c.multiaddrs.every(a => typeof a === 'string' && a.length <= 512)))) {
    throw new InvalidArgumentError('forward request must carry a command or a membership change { type, node, multiaddrs? }')
  }
  return { change: { type: c.type as ConfChangeType, node: c.node, ...(c.multiaddrs !== undefined ? { multiaddrs: c.multiaddrs } : {}) } }
}

function parseOutcome (raw: unknown): KvOutcome {
  const o = raw as Partial<KvOutcome> | null
  if (o === null || typeof o !== 'object' || typeof o.ok !== 'boolean' || typeof o.index !== 'number') {
    throw new InternalError('the leader sent a malformed write outcome')
  }
  return o as KvOutcome
}

function onAbort (signal: AbortSignal, fn: () => void): void {
  if (signal.aborted) { fn(); return }
  signal.addEventListener('abort', fn, { once: true })
}

async function sleep (time: TimeSource, ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = time.setTimeout(resolve, ms)
    onAbort(signal, () => { t.cancel(); reject(signal.reason) })
  })
}

