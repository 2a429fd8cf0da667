import { createHash } from 'node:crypto'
import { AbortedError, InvalidArgumentError, OverloadedError, ProtocolError, TimeoutError, UnavailableError, toQuorumKvError } from '../../api/errors.js'
import type { Logger } from '../../observability/logger.js'
import { randomInt, type Random } from '../../runtime/random.js'
import type { TimeSource } from '../../runtime/time.js'
import type { PeerId, Transport } from '../../transport/types.js'
import type { SnapshotMeta } from '../core/index.js'
import {
  bytesPerSecondMaxDefault, chunkAttemptsMaxDefault, chunkRetryDelayMsDefault, chunkTimeoutMsDefault,
  failureBackoffMsDefault, transfersMaxDefault
} from './constants.js'
import { parseSnapshotChunkReply, raftSnapshotProtocol, type SnapshotChunkRequest } from './protocol.js'

/**
 * The leader's side of snapshot transfers. The driver hands it each `snap` message the core asks
 * it to send; it opens the state machine's view (through the driver's `open`), streams it chunk
 * by chunk over raftSnapshotProtocol, and reports once: `onDone(true)` when the follower staged
 * and checked the whole snapshot, `onDone(false)` otherwise. The driver turns that into
 * core.reportSnapshot(to, ok).
 */

/** What the driver opens for one transfer: the snapshot's meta and its byte stream. */
export interface SnapshotStream {
  meta: SnapshotMeta
  /** Pulled one chunk at a time; each at most `chunkBytesMax`. */
  chunks: AsyncIterable<Uint8Array>
  /** Releases the view; called once, whatever the outcome. */
  close: () => Promise<void>
}

export type OpenSnapshot = (signal: AbortSignal) => Promise<SnapshotStream>

export interface SnapshotSenderComponents {
  transport: Transport
  time: TimeSource
  /** Picks transfer ids. */
  random: Random
  logger?: Logger
}

export interface SnapshotSenderInit {
  /** raft.snapshotChunkBytes: a larger chunk from the stream is a bug and fails the transfer. */
  chunkBytesMax: number
  chunkTimeoutMs?: number
  chunkAttemptsMax?: number
  chunkRetryDelayMs?: number
  /** 0: unlimited. */
  bytesPerSecondMax?: number
  transfersMax?: number
  failureBackoffMs?: number
}

/**
 * `started`: onDone will be called once. `running`: a transfer to this peer is under way (the core
 * asked again; that transfer will report). `refused`: nothing started and onDone will not be
 * called (too many transfers, or a recent failure to this peer): report failure at once.
 */
export type SnapshotStartResult = 'started' | 'running' | 'refused'

interface Transfer {
  readonly controller: AbortController
  /** The snapshot index being sent; undefined while the view is being opened. */
  index: number | undefined
  /** Settles once the transfer reported. */
  done: Promise<void>
}

export class SnapshotSender {
  private readonly components: SnapshotSenderComponents
  private readonly init: Required<SnapshotSenderInit>
  private readonly transfers = new Map<PeerId, Transfer>()
  /** When the last transfer to a peer failed; an entry lives failureBackoffMs at most. */
  private readonly failedAt = new Map<PeerId, number>()
  private seq = 0
  private stopped = false

  constructor (components: SnapshotSenderComponents, init: SnapshotSenderInit) {
    this.components = components
    this.init = {
      chunkBytesMax: init.chunkBytesMax,
      chunkTimeoutMs: init.chunkTimeoutMs ?? chunkTimeoutMsDefault,
      chunkAttemptsMax: init.chunkAttemptsMax ?? chunkAttemptsMaxDefault,
      chunkRetryDelayMs: init.chunkRetryDelayMs ?? chunkRetryDelayMsDefault,
      bytesPerSecondMax: init.bytesPerSecondMax ?? bytesPerSecondMaxDefault,
      transfersMax: init.transfersMax ?? transfersMaxDefault,
      failureBackoffMs: init.failureBackoffMs ?? failureBackoffMsDefault
    }
    for (const [name, value] of Object.entries(this.init)) {
      if (!Number.isFinite(value) || value < 0 || (name !== 'bytesPerSecondMax' && name !== 'failureBackoffMs' && name !== 'chunkRetryDelayMs' && value < 1)) {
        throw new InvalidArgumentError(`snapshot sender: ${name} must be a positive number, got ${value}`)
      }
    }
  }

  /**
   * Starts streaming a snapshot to `to` in `term` (the leader's term: the follower refuses any
   * other). See SnapshotStartResult for who reports.
   */
  start (to: PeerId, term: number, open: OpenSnapshot, onDone: (ok: boolean) => void): SnapshotStartResult {
    if (this.transfers.has(to)) return 'running'
    if (this.stopped || this.transfers.size >= this.init.transfersMax) return 'refused'
    const now = this.components.time.now()
    for (const [peer, at] of this.failedAt) if (now - at >= this.init.failureBackoffMs) this.failedAt.delete(peer)
    if (this.failedAt.has(to)) return 'refused'
    const controller = new AbortController()
    const transfer: Transfer = { controller, index: undefined, done: Promise.resolve() }
    const id = `${term.toString(36)}-${(++this.seq).toString(36)}-${randomInt(this.components.random, 2 ** 32).toString(36)}`
    this.transfers.set(to, transfer)
    transfer.done = this.run(to, term, id, open, transfer).then(ok => {
      this.transfers.delete(to)
      if (ok) this.failedAt.delete(to)
      else this.failedAt.set(to, this.components.time.now())
      try {
        onDone(ok)
      } catch (err) {
        this.components.logger?.error({ event: 'raft_snapshot_report_failed', peer: to, err: (err as Error).message }, 'reporting a snapshot transfer threw')
      }
    })
    return 'started'
  }

  isSending (to: PeerId): boolean {
    return this.transfers.has(to)
  }

  /**
   * The lowest snapshot index being sent, 0 while a view is being opened (its index is not known
   * yet), undefined when nothing is sent. The log must not be compacted past it: the follower
   * continues from the entry after the snapshot it receives.
   */
  compactionFloor (): number | undefined {
    let floor: number | undefined
    for (const t of this.transfers.values()) floor = Math.min(floor ?? Infinity, t.index ?? 0)
    return floor
  }

  /** Stops the transfer to `to` (it reports failure). */
  abort (to: PeerId): void {
    this.transfers.get(to)?.controller.abort(new AbortedError(`the snapshot transfer to ${to} was cancelled`))
  }

  /** Stops every transfer, e.g. when this node stops leading (they report failure). */
  abortAll (): void {
    for (const to of this.transfers.keys()) this.abort(to)
  }

  /** Aborts everything and waits until every transfer reported. */
  async stop (): Promise<void> {
    this.stopped = true
    this.abortAll()
    await Promise.all([...this.transfers.values()].map(async t => { await t.done }))
  }

  private async run (to: PeerId, term: number, id: string, open: OpenSnapshot, transfer: Transfer): Promise<boolean> {
    const { logger } = this.components
    const signal = transfer.controller.signal
    let stream: SnapshotStream | undefined
    try {
      stream = await open(signal)
      transfer.index = stream.meta.index
      const bytes = await this.stream(to, term, id, stream, signal)
      logger?.info({ event: 'raft_snapshot_sent', peer: to, index: stream.meta.index, term, bytes }, 'snapshot sent')
      return true
    } catch (err) {
      const e = toQuorumKvError(err)
      logger?.warn({ event: 'raft_snapshot_send_failed', peer: to, index: stream?.meta.index ?? null, term, code: e.code, err: e.message }, 'snapshot transfer failed')
      return false
    } finally {
      if (stream !== undefined) await stream.close().catch(() => {})
    }
  }

  /** Sends every chunk, then the `done` chunk with the checksum; returns the stream's length. */
  private async stream (to: PeerId, term: number, id: string, stream: SnapshotStream, signal: AbortSignal): Promise<number> {
    const { transport, time } = this.components
    const hash = createHash('sha256')
    const startedMs = time.now()
    let offset = 0
    const chunk = (data: Uint8Array, done: boolean): SnapshotChunkRequest => ({
      transfer: id,
      chunk: { type: 'snap', from: transport.localId, to, term, snapshot: stream.meta, offset, data, done },
      checksum: done ? new Uint8Array(hash.digest()) : new Uint8Array(0)
    })
    for await (const data of stream.chunks) {
      if (data.byteLength > this.init.chunkBytesMax) throw new InvalidArgumentError(`a snapshot chunk of ${data.byteLength} bytes exceeds chunkBytesMax (${this.init.chunkBytesMax})`)
      if (data.byteLength === 0) continue
      hash.update(data)
      await this.sendChunk(to, chunk(data, false), signal)
      offset += data.byteLength
      if (this.init.bytesPerSecondMax > 0) {
        const dueMs = startedMs + offset * 1000 / this.init.bytesPerSecondMax
        const waitMs = dueMs - time.now()
        if (waitMs > 0) await sleep(time, waitMs, signal)
      }
    }
    await this.sendChunk(to, chunk(new Uint8Array(0), true), signal)
    return offset
  }

  /** One chunk, retried on timeouts and transient refusals; the reply must acknowledge exactly it. */
  private async sendChunk (to: PeerId, request: SnapshotChunkRequest, signal: AbortSignal): Promise<void> {
    const { transport, time } = this.components
    const expected = request.chunk.offset + request.chunk.data.byteLength
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw toQuorumKvError(signal.reason)
      try {
        const reply = parseSnapshotChunkReply(await transport.request(to, raftSnapshotProtocol, request, { timeoutMs: this.init.chunkTimeoutMs, signal }))
        if (reply.next !== expected || reply.done !== request.chunk.done) {
          throw new ProtocolError(`peer ${to} acknowledged offset ${reply.next}${reply.done ? ' (done)' : ''}, expected ${expected}${request.chunk.done ? ' (done)' : ''}`)
        }
        return
      } catch (err) {
        const retryable = err instanceof TimeoutError || err instanceof UnavailableError || err instanceof OverloadedError
        if (!retryable || attempt >= this.init.chunkAttemptsMax || signal.aborted) throw err
        await sleep(time, this.init.chunkRetryDelayMs * attempt, signal)
      }
    }
  }
}

async function sleep (time: TimeSource, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw toQuorumKvError(signal.reason)
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { timer.cancel(); reject(toQuorumKvError(signal.reason)) }
    const timer = time.setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
