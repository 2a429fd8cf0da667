import { OverloadedError, ProtocolError } from '../api/errors.js'
import type { VersionVector } from '../clock/version-vector.js'
import { encode } from '../codec/msgpack.js'
import { recordToWire, type ReplicaRecord } from './record.js'

/**
 * Coalesces the states sent to one peer into batches: a write, a read repair or a handoff asks to
 * replicate one key, and the batcher sends whatever has queued for that peer as one request once
 * fewer than `inflightBatchesMax` of its batches are in flight. Under load one request (one frame,
 * one encryption, one reply, and on the replica one fsync through the engine's group commit)
 * carries many keys; an idle peer still gets a lone write at once.
 *
 * Each item keeps its own outcome: the replica answers per key, and a failed batch fails each of
 * its items with the batch's error.
 *
 * Two queues per peer, both bounded: states a caller waits for (a write that still needs this
 * acknowledgement, a handoff) go before background ones (the copies an `eventual` write sends after
 * it was acknowledged, read repairs), so a backlog of background copies never delays a quorum
 * write. A full queue refuses at once (OverloadedError): a write's copy is then left to its durable
 * hint and the handoff rounds, a read repair to the next read.
 */
export interface ReplicateItem {
  key: string
  /** The record's wire form, msgpack-encoded (its size bounds the batch exactly). */
  rec: Uint8Array
  hintFor?: string
}

/** Sends one batch; resolves with one result per item, in order: the replica's context or the error it gave. */
export type SendReplicateBatch = (to: string, items: ReplicateItem[], timeoutMs: number) => Promise<Array<VersionVector | Error>>

export interface ReplicateBatchLimits {
  inflightBatchesMax: number
  /** States queued for one peer at most, per queue (foreground, background). */
  queuedMax: number
  itemsPerBatchMax: number
  /** Encoded record bytes in one batch; a single larger record still goes, alone. */
  bytesPerBatchMax: number
}

interface Queued {
  item: ReplicateItem
  timeoutMs: number
  resolve: (ctx: VersionVector) => void
  reject: (err: unknown) => void
}

interface PeerQueue {
  foreground: Queued[]
  background: Queued[]
  inflight: number
  /** A flush is scheduled: after the current turn (foreground), or later (background only). */
  scheduled: 'turn' | 'later' | undefined
}

export class ReplicateBatcher {
  private readonly peers = new Map<string, PeerQueue>()
  private readonly encodings = new WeakMap<ReplicaRecord, Uint8Array>()

  /**
   * @param later runs a function after pending I/O (in a node, a zero-delay timer): when only
   *   background states are queued, the caller's answer (the acknowledgement of an eventual write)
   *   goes out before their batch is encoded and written.
   */
  constructor (private readonly send: SendReplicateBatch, private readonly limits: ReplicateBatchLimits, private readonly later: (fn: () => void) => void) {}

  async replicate (to: string, key: string, rec: ReplicaRecord, hintFor: string | undefined, timeoutMs: number, background = false): Promise<VersionVector> {
    let q = this.peers.get(to)
    if (q === undefined) {
      q = { foreground: [], background: [], inflight: 0, scheduled: undefined }
      this.peers.set(to, q)
    }
    const peer = q
    const queue = background ? peer.background : peer.foreground
    if (queue.length >= this.limits.queuedMax) {
      throw new OverloadedError(`${queue.length} states are already queued for ${to}; this one is left to its hint`, { peer: to, queuedMax: this.limits.queuedMax })
    }
    const item: ReplicateItem = { key, rec: this.encoded(rec), ...(hintFor !== undefined ? { hintFor } : {}) }
    return await new Promise<VersionVector>((resolve, reject) => {
      queue.push({ item, timeoutMs, resolve, reject })
      // After the current turn at the earliest: states queued by the same burst of work share the batch.
      if (!background && peer.scheduled !== 'turn') {
        peer.scheduled = 'turn'
        queueMicrotask(() => { this.flush(to, peer) })
      } else if (background && peer.scheduled === undefined) {
        peer.scheduled = 'later'
        this.later(() => { this.flush(to, peer) })
      }
    })
  }

  /** A record's encoding, once: a write sends the same record to every other replica. */
  private encoded (rec: ReplicaRecord): Uint8Array {
    let bytes = this.encodings.get(rec)
    if (bytes === undefined) {
      bytes = encode(recordToWire(rec))
      this.encodings.set(rec, bytes)
    }
    return bytes
  }

  private flush (to: string, q: PeerQueue): void {
    q.scheduled = undefined
    while (q.foreground.length + q.background.length > 0 && q.inflight < this.limits.inflightBatchesMax) {
      const batch = this.take(q)
      q.inflight++
      const timeoutMs = Math.max(...batch.map(b => b.timeoutMs))
      this.send(to, batch.map(b => b.item), timeoutMs).then(
        (results) => {
          batch.forEach((b, i) => {
            const r = results[i]
            if (r instanceof Error) b.reject(r)
            else if (r === undefined) b.reject(new ProtocolError('the replica answered fewer results than the batch had items'))
            else b.resolve(r)
          })
        },
        (err: unknown) => { for (const b of batch) b.reject(err) }
      ).finally(() => {
        q.inflight--
        if (q.foreground.length + q.background.length > 0) this.flush(to, q)
        else if (q.inflight === 0) this.peers.delete(to)
      })
    }
  }

  /** The next batch: foreground states first, then background ones, within the batch bounds. */
  private take (q: PeerQueue): Queued[] {
    const batch: Queued[] = []
    let bytes = 0
    for (const queue of [q.foreground, q.background]) {
      let n = 0
      while (n < queue.length && batch.length + n < this.limits.itemsPerBatchMax) {
        const size = (queue[n] as Queued).item.rec.byteLength
        if (batch.length + n > 0 && bytes + size > this.limits.bytesPerBatchMax) break
        bytes += size
        n++
      }
      batch.push(...queue.splice(0, n))
      if (queue.length > 0) break // the batch is full
    }
    return batch
  }
}
