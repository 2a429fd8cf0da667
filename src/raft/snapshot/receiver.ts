import { createHash, type Hash } from 'node:crypto'
import { InvalidArgumentError, OverloadedError, ProtocolError, TooLargeError, UnavailableError } from '../../api/errors.js'
import type { Logger } from '../../observability/logger.js'
import type { PeerId, Transport } from '../../transport/types.js'
import type { SnapshotMessage, SnapshotMeta } from '../core/index.js'
import { receiverQueuedRequestsMaxDefault, snapshotBytesMaxDefault } from './constants.js'
import { parseSnapshotChunkRequest, raftSnapshotProtocol, type SnapshotChunkReply, type SnapshotChunkRequest } from './protocol.js'

/**
 * The follower's side of snapshot transfers: assembles one snapshot at a time into a sink
 * (staging storage), and once the whole stream is staged and its checksum matches, hands the
 * driver ONE `snap` message (done: true, empty data) to step into its core.
 *
 * Only the leader this node follows, in its current term, can send: a chunk from anyone else, or
 * of another term, is refused before it touches the sink, and a transfer whose leader lost its
 * term cannot continue. Nothing reaches the state machine here: the sink only stages, and the
 * state machine changes only when the core accepts the snapshot (rd.snapshot).
 */

/** Where a received stream is staged (KvSnapshotStaging in production). Calls never overlap. */
export interface SnapshotSink {
  /** Starts a new stream for `meta`, dropping whatever was staged. */
  begin: (meta: SnapshotMeta) => Promise<void>
  /** The next bytes (throws ProtocolError when they are malformed). */
  write: (data: Uint8Array) => Promise<void>
  /** The stream ended and its checksum matched: check the content and make it durable. */
  complete: () => Promise<void>
  discard: () => Promise<void>
}

export interface SnapshotReceiverComponents {
  transport: Transport
  sink: SnapshotSink
  /** The leader this node follows and the current term (the core's soft state). */
  leader: () => { id: PeerId | null, term: number }
  /**
   * A snapshot is staged: step this message into the core, synchronously. The first Ready after
   * it carries `snapshot` when the core took it; call release() after that Ready either way.
   */
  onSnapshot: (message: SnapshotMessage) => void
  logger?: Logger
}

export interface SnapshotReceiverInit {
  /** Largest chunk accepted (the transport's frame limit bounds it as well). */
  chunkBytesMax: number
  /** Largest snapshot accepted. */
  snapshotBytesMax?: number
  queuedRequestsMax?: number
}

interface Incoming {
  id: string
  from: PeerId
  term: number
  meta: SnapshotMeta
  /** Offset of the next byte expected. */
  next: number
  hash: Hash
  /** Staged and checked; handed to the driver. */
  complete: boolean
}

export type SnapshotReceiverState = 'idle' | 'receiving' | 'complete'

export class SnapshotReceiver {
  private readonly components: SnapshotReceiverComponents
  private readonly chunkBytesMax: number
  private readonly snapshotBytesMax: number
  private readonly queuedRequestsMax: number
  private incoming: Incoming | undefined
  /** The last transfer handed to the driver: its `done` chunk, resent after release(), is acknowledged again. */
  private lastCompleted: { id: string, next: number } | undefined
  /** Requests and release() run one at a time, in arrival order. */
  private tail: Promise<unknown> = Promise.resolve()
  private queued = 0
  private started = false

  constructor (components: SnapshotReceiverComponents, init: SnapshotReceiverInit) {
    this.components = components
    this.chunkBytesMax = init.chunkBytesMax
    this.snapshotBytesMax = init.snapshotBytesMax ?? snapshotBytesMaxDefault
    this.queuedRequestsMax = init.queuedRequestsMax ?? receiverQueuedRequestsMaxDefault
    if (!(this.chunkBytesMax >= 1) || !(this.snapshotBytesMax >= 1) || !(this.queuedRequestsMax >= 1)) {
      throw new InvalidArgumentError('snapshot receiver: chunkBytesMax, snapshotBytesMax and queuedRequestsMax must be positive')
    }
  }

  get state (): SnapshotReceiverState {
    if (this.incoming === undefined) return 'idle'
    return this.incoming.complete ? 'complete' : 'receiving'
  }

  /** The snapshot staged and handed to the driver, until release(). */
  get completed (): SnapshotMeta | undefined {
    return this.incoming?.complete === true ? this.incoming.meta : undefined
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.components.transport.handle<SnapshotChunkRequest>(raftSnapshotProtocol, {
      parse: parseSnapshotChunkRequest,
      onRequest: async (from, request) => await this.onRequest(from, request)
    })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.components.transport.unhandle(raftSnapshotProtocol)
    await this.tail.catch(() => {})
  }

  /**
   * Ends the handed-over snapshot: after the Ready that followed onSnapshot was processed (the
   * state machine installed it, or the core declined it). Drops whatever is still staged and
   * accepts new transfers again.
   */
  async release (): Promise<void> {
    await this.serial(async () => { await this.drop() })
  }

  private async onRequest (from: PeerId, request: SnapshotChunkRequest): Promise<SnapshotChunkReply> {
    if (this.queued >= this.queuedRequestsMax) throw new OverloadedError(`${this.queued} snapshot chunks are waiting here: retry later`)
    this.queued++
    try {
      return await this.serial(async () => await this.handle(from, request))
    } finally {
      this.queued--
    }
  }

  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn)
    this.tail = run.catch(() => {})
    return await run
  }

  private async handle (from: PeerId, request: SnapshotChunkRequest): Promise<SnapshotChunkReply> {
    const m = request.chunk
    let cur = this.incoming
    const ours = cur !== undefined && cur.id === request.transfer
    try {
      this.authorize(from, m)
    } catch (err) {
      // A transfer whose sender no longer leads cannot finish: free its staging now.
      if (err instanceof ProtocolError && ours && cur?.complete === false) await this.drop()
      throw err
    }
    const length = m.data.byteLength
    if (length > this.chunkBytesMax) throw new TooLargeError(`a snapshot chunk of ${length} bytes exceeds ${this.chunkBytesMax}`, { bytes: length, chunkBytesMax: this.chunkBytesMax })
    if (cur?.complete === true) {
      // Handed to the driver: nothing may change it until release().
      const resent = ours && m.done && m.offset + length === cur.next && sameMeta(cur.meta, m.snapshot)
      if (resent) return { next: cur.next, done: true }
      throw new OverloadedError('a received snapshot is waiting to be installed here: retry shortly')
    }
    if (!ours && m.done && this.lastCompleted?.id === request.transfer && m.offset + length === this.lastCompleted.next) {
      return { next: this.lastCompleted.next, done: true }
    }
    if (cur !== undefined && ours) {
      if (cur.term !== m.term || !sameMeta(cur.meta, m.snapshot)) {
        await this.drop()
        throw new ProtocolError(`transfer ${request.transfer} changed its snapshot or term midway`)
      }
      if (m.offset < cur.next) {
        // A resent chunk whose acknowledgement was lost: it is staged already.
        if (!m.done && m.offset + length <= cur.next) return { next: cur.next, done: false }
        await this.drop()
        throw new ProtocolError(`chunk at ${m.offset} (${length} bytes) overlaps what transfer ${request.transfer} staged up to ${cur.next}`)
      }
      if (m.offset > cur.next) {
        await this.drop()
        throw new ProtocolError(`chunk at ${m.offset} leaves a gap: transfer ${request.transfer} expected ${cur.next}`)
      }
    } else {
      if (m.offset !== 0) throw new ProtocolError(`transfer ${request.transfer} is unknown here (a restart, or another transfer replaced it): start again from offset 0`)
      cur = await this.begin(from, request)
    }
    if (m.offset + length > this.snapshotBytesMax) {
      await this.drop()
      throw new TooLargeError(`the snapshot exceeds ${this.snapshotBytesMax} bytes, the most this node accepts`, { snapshotBytesMax: this.snapshotBytesMax })
    }
    try {
      if (length > 0) {
        cur.hash.update(m.data)
        await this.components.sink.write(m.data)
        cur.next += length
      }
      if (!m.done) return { next: cur.next, done: false }
      if (!cur.hash.digest().equals(request.checksum)) throw new ProtocolError(`snapshot ${m.snapshot.index}/${m.snapshot.term} from ${from} fails its checksum`)
      await this.components.sink.complete()
    } catch (err) {
      await this.drop()
      throw err
    }
    cur.complete = true
    this.lastCompleted = { id: cur.id, next: cur.next }
    this.components.logger?.info({ event: 'raft_snapshot_received', peer: from, index: m.snapshot.index, term: m.term, bytes: cur.next }, 'snapshot received')
    this.components.onSnapshot({ type: 'snap', from, to: m.to, term: m.term, snapshot: m.snapshot, offset: 0, data: new Uint8Array(0), done: true })
    return { next: cur.next, done: true }
  }

  /** Only the leader this node follows, in the current term, may send a snapshot. */
  private authorize (from: PeerId, m: SnapshotMessage): void {
    if (m.from !== from) throw new ProtocolError(`a snapshot chunk from ${from} claims to come from ${m.from}`)
    if (m.to !== this.components.transport.localId) throw new ProtocolError(`a snapshot chunk for ${m.to} reached ${this.components.transport.localId}`)
    const leader = this.components.leader()
    if (m.term < leader.term) throw new ProtocolError(`a snapshot of term ${m.term} is stale: this node is in term ${leader.term}`, { term: leader.term })
    if (m.term > leader.term || leader.id === null) {
      // The sender may lead a term this node has not heard of yet: its next heartbeat tells us.
      throw new UnavailableError(`this node does not know a leader of term ${m.term} yet: retry`, { term: leader.term })
    }
    if (leader.id !== from) throw new ProtocolError(`${from} does not lead term ${m.term} (${leader.id} does): snapshot refused`, { leader: leader.id })
  }

  private async begin (from: PeerId, request: SnapshotChunkRequest): Promise<Incoming> {
    await this.drop()
    const m = request.chunk
    const next: Incoming = { id: request.transfer, from, term: m.term, meta: m.snapshot, next: 0, hash: createHash('sha256'), complete: false }
    await this.components.sink.begin(m.snapshot)
    this.incoming = next
    return next
  }

  private async drop (): Promise<void> {
    if (this.incoming === undefined) return
    this.incoming = undefined
    await this.components.sink.discard()
  }
}

function sameMeta (a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term &&
    a.conf.voters.length === b.conf.voters.length && a.conf.voters.every((v, i) => b.conf.voters[i] === v) &&
    a.conf.learners.length === b.conf.learners.length && a.conf.learners.every((v, i) => b.conf.learners[i] === v)
}
