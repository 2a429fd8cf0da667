import { ProtocolError, TimeoutError, UnavailableError, toQuorumKvError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { RaftCore, type ConfState, type Entry, type RaftMessage, type SnapshotMeta } from '../../src/raft/core/index.js'
import { DurableRaftLog } from '../../src/raft/log-store.js'
import { KvSnapshotStaging, SnapshotReceiver, SnapshotSender, compactionIndex, kvSnapshotOpener, recoverKvSnapshot } from '../../src/raft/snapshot.js'
import { seededRandom, type Random } from '../../src/runtime/random.js'
import { systemTime } from '../../src/runtime/time.js'
import { StorageEngine } from '../../src/storage/engine.js'
import { KvStateMachine, parseKvCommand, type KvCommand } from '../../src/storage/kv-state-machine.js'
import type { MessageHandler, PeerId, RequestOptions, Transport } from '../../src/transport/types.js'

/**
 * A small Raft driver over the real core, the LevelDB log, the key-value state machine and the
 * snapshot machinery, following the contract of src/raft/snapshot.ts step by step. Raft messages
 * are stepped directly (in order, with an isolation filter); snapshot chunks travel over an
 * in-process request/response transport that can lose requests and replies. Real I/O, so no
 * simulated clock: retries use real (1 ms) timers.
 */
export class DirectNetwork {
  readonly transports = new Map<PeerId, DirectTransport>()
  /** Peers that can reach no one (and no one them). */
  readonly isolated = new Set<PeerId>()
  /** Chance that a request, or its reply, is lost (the caller then times out). */
  lossProbability = 0
  lost = 0
  private readonly random: Random

  constructor (seed: number) {
    this.random = seededRandom(seed)
  }

  transport (id: PeerId): DirectTransport {
    const t = new DirectTransport(id, this)
    this.transports.set(id, t)
    return t
  }

  /** @internal */
  loses (): boolean {
    const lost = this.random.next() < this.lossProbability
    if (lost) this.lost++
    return lost
  }
}

export class DirectTransport implements Transport {
  readonly handlers = new Map<string, MessageHandler<unknown>>()

  constructor (readonly localId: PeerId, private readonly net: DirectNetwork) {}

  handle<M> (protocol: string, handler: MessageHandler<M>): void {
    this.handlers.set(protocol, handler as MessageHandler<unknown>)
  }

  unhandle (protocol: string): void {
    this.handlers.delete(protocol)
  }

  send (): boolean {
    return false
  }

  async request (to: PeerId, protocol: string, message: unknown, _options: RequestOptions): Promise<unknown> {
    const peer = this.net.transports.get(to)
    if (peer === undefined || this.net.isolated.has(to) || this.net.isolated.has(this.localId)) throw new UnavailableError(`${to} is unreachable`)
    if (this.net.loses()) throw new TimeoutError('request lost')
    const handler = peer.handlers.get(protocol)
    if (handler?.onRequest === undefined) throw new ProtocolError(`${to} serves no ${protocol}`)
    let parsed: unknown
    try {
      parsed = handler.parse(decode(encode(message)))
    } catch (err) {
      throw toQuorumKvError(err)
    }
    const reply = await handler.onRequest(this.localId, parsed, new AbortController().signal)
    if (this.net.loses()) throw new TimeoutError('reply lost')
    return decode(encode(reply))
  }
}

export interface MiniNodeOptions {
  chunkBytes: number
  catchUpEntries: number
}

export class MiniNode {
  sm!: KvStateMachine
  log!: DurableRaftLog
  core!: RaftCore
  staging!: KvSnapshotStaging
  sender!: SnapshotSender
  receiver!: SnapshotReceiver
  readonly outbox: RaftMessage[] = []
  /** Snapshots installed here (their index). */
  readonly installs: number[] = []
  /** Transfers this node reported to its core. */
  readonly reports: Array<{ to: PeerId, ok: boolean }> = []
  private snapshotStepped = false
  private running: Promise<void> | undefined
  /** Applies and snapshot views run one at a time (the driver's applier chain). */
  private applier: Promise<unknown> = Promise.resolve()

  private constructor (readonly id: PeerId, readonly engine: StorageEngine, readonly transport: DirectTransport, private readonly options: MiniNodeOptions) {}

  static async open (id: PeerId, dataDir: string, transport: DirectTransport, bootstrap: ConfState, options: MiniNodeOptions): Promise<MiniNode> {
    const engine = await StorageEngine.open(dataDir)
    const n = new MiniNode(id, engine, transport, options)
    // Open: recover before the state machine is loaded and the core takes its applied index.
    await recoverKvSnapshot(engine)
    n.sm = await KvStateMachine.open(engine, { clientSessionsMax: 100 })
    n.log = await DurableRaftLog.open(engine, bootstrap)
    n.core = new RaftCore({ id, storage: n.log.view, random: seededRandom(id.charCodeAt(0)), applied: n.sm.appliedIndex, electionTimeoutTicks: 10, preVote: false, checkQuorum: false })
    n.staging = new KvSnapshotStaging(engine, { batchOpsMax: 7 })
    n.sender = new SnapshotSender({ transport, time: systemTime, random: seededRandom(1) }, { chunkBytesMax: options.chunkBytes, chunkRetryDelayMs: 1, chunkAttemptsMax: 50, failureBackoffMs: 1 })
    n.receiver = new SnapshotReceiver({
      transport,
      sink: n.staging,
      leader: () => ({ id: n.core.softState().leader, term: n.core.softState().term }),
      onSnapshot: m => { n.core.step(m); n.snapshotStepped = true }
    }, { chunkBytesMax: options.chunkBytes })
    n.receiver.start()
    return n
  }

  async close (): Promise<void> {
    await this.sender.stop()
    await this.receiver.stop()
    await this.running
    await this.engine.close()
  }

  hasWork (): boolean {
    return this.core.hasReady() || this.sender.compactionFloor() !== undefined
  }

  async process (): Promise<void> {
    this.running ??= this.loop().finally(() => { this.running = undefined })
    await this.running
  }

  /** Takes a snapshot at the applied index and compacts behind it (between Readies). */
  async snapshot (): Promise<SnapshotMeta> {
    await this.running
    const meta = this.core.snapshotMetaAt(this.sm.appliedIndex)
    if (meta === undefined) throw new Error(`${this.id} cannot snapshot now`)
    await this.log.snapshotAndCompact(meta, compactionIndex(meta.index, this.options.catchUpEntries, this.sender.compactionFloor()))
    return meta
  }

  private async inApplier<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.applier.then(fn)
    this.applier = run.catch(() => {})
    return await run
  }

  private async loop (): Promise<void> {
    while (this.core.hasReady()) {
      const rd = this.core.ready()
      const stepped = this.snapshotStepped
      this.snapshotStepped = false
      this.sendAll(rd.messagesBeforePersist)
      if (rd.snapshot !== undefined) {
        const snap = rd.snapshot
        await this.applier
        await this.log.persist({ snapshot: snap, entries: rd.entries, ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}) }, this.staging.commitOps(snap))
        // Stands in for sm.replaceState(() => staging.finishInstall()): reopen the state machine.
        await this.inApplier(async () => {
          await this.staging.finishInstall()
          this.sm = await KvStateMachine.open(this.engine, { clientSessionsMax: 100 })
        })
        this.installs.push(snap.index)
      } else if (rd.entries.length > 0 || rd.hardState !== undefined) {
        await this.log.persist({ entries: rd.entries, ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}) })
      }
      this.sendAll(rd.messages)
      if (rd.committedEntries.length > 0) {
        const committed = rd.committedEntries
        await this.inApplier(async () => {
          await this.sm.apply(committed.map(e => ({ index: e.index, command: e.type === 'normal' && e.data.byteLength > 0 ? parseKvCommand(decode(e.data)) : null })), { sync: false })
          this.core.appliedTo((committed[committed.length - 1] as Entry).index)
        })
      }
      this.core.advance(rd)
      if (stepped) await this.receiver.release()
    }
  }

  private sendAll (messages: RaftMessage[]): void {
    for (const m of messages) {
      if (m.type !== 'snap') {
        this.outbox.push(m)
        continue
      }
      const open = kvSnapshotOpener(this.engine, this.options.chunkBytes, i => this.core.snapshotMetaAt(i), async fn => await this.inApplier(fn))
      const started = this.sender.start(m.to, m.term, open, ok => {
        this.reports.push({ to: m.to, ok })
        this.core.reportSnapshot(m.to, ok)
      })
      if (started === 'refused') this.core.reportSnapshot(m.to, false)
    }
  }
}

export class MiniCluster {
  readonly nodes = new Map<PeerId, MiniNode>()

  constructor (readonly net: DirectNetwork) {}

  node (id: PeerId): MiniNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** Processes Readies and delivers messages until nothing moves (transfers included). */
  async stabilize (roundsMax = 5_000): Promise<void> {
    for (let round = 0; round < roundsMax; round++) {
      let moved = false
      for (const n of this.nodes.values()) {
        if (n.core.hasReady()) {
          await n.process()
          moved = true
        }
      }
      for (const n of this.nodes.values()) {
        const out = n.outbox.splice(0)
        for (const m of out) {
          moved = true
          const to = this.nodes.get(m.to)
          if (to === undefined || this.net.isolated.has(m.to) || this.net.isolated.has(m.from)) continue
          to.core.step(m)
        }
      }
      if ([...this.nodes.values()].some(n => n.sender.compactionFloor() !== undefined)) {
        await new Promise(resolve => { setTimeout(resolve, 1) })
        moved = true
      }
      if (!moved) return
    }
    throw new Error('the cluster did not stabilize')
  }

  async tickAll (ticks = 1): Promise<void> {
    for (let i = 0; i < ticks; i++) {
      for (const n of this.nodes.values()) n.core.tick()
      await this.stabilize()
    }
  }

  async propose (leader: PeerId, commands: KvCommand[]): Promise<void> {
    this.node(leader).core.propose(commands.map(c => encode(c)))
    await this.stabilize()
  }
}
