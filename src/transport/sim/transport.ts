import {
  AbortedError, ClosedError, InternalError, InvalidArgumentError, OverloadedError, ProtocolError, QuorumKvError,
  TimeoutError, TooLargeError, UnavailableError, errorFromWire, toQuorumKvError
} from '../../api/errors.js'
import { decode, encode } from '../../codec/msgpack.js'
import type { TimeSource, TimerHandle } from '../../runtime/time.js'
import type { MessageHandler, PeerId, RequestOptions, Transport } from '../types.js'
import type { ProcessTime } from './node-time.js'
import { Wire, type Packet } from './packet.js'

/** What became of a packet handed to a process; the network counts it. */
export const Receipt = Object.freeze({ Delivered: 0, Rejected: 1, NoHandler: 2, Ignored: 3 } as const)
export type Receipt = (typeof Receipt)[keyof typeof Receipt]

/** The network as one process sees it. */
export interface SimWire {
  readonly frameBytesMax: number
  /** Message id (> 0) once accepted (it may still be lost), 0 when the link's queue is full. */
  transmit: (from: PeerId, to: PeerId, wire: Wire, protocol: string, bytes: Uint8Array, requestId: number) => number
  hasNode: (id: PeerId) => boolean
  /** A send refused before it reached the wire. */
  refused: (from: PeerId, protocol: string, reason: 'too-large' | 'unencodable') => void
  /**
   * A handler threw something no caller is told about as such: an onMessage throw (`inArrival`:
   * synchronously inside the packet's arrival), or an onRequest throw that is not a
   * QuorumKvError (a bug: the caller only sees an InternalError).
   */
  handlerThrew: (node: PeerId, from: PeerId, protocol: string, err: unknown, inArrival: boolean) => void
}

const noBytes = new Uint8Array(0)

/**
 * One process incarnation's endpoint on the simulated network, implementing the same Transport
 * the libp2p implementation does, with the same errors and the same loopback (a message to
 * itself is delivered asynchronously after a codec round trip, without network faults).
 *
 * `time` is the process's clock: give it to the drivers of this process so that a crash silences
 * their timers too. After `crash`/`restart` this object is dead for good: `send` returns false,
 * `request` rejects with ClosedError, and nothing it started (timers, pending requests, handler
 * replies) ever calls back into the dead process's code.
 */
export class SimTransport implements Transport {
  private readonly handlers = new Map<string, MessageHandler<unknown>>()
  private readonly pending = new Map<number, PendingRequest>()
  /** Requests being served, by request id: a cancel from the caller aborts the handler's signal. */
  private readonly serving = new Map<number, AbortController>()
  private stopped = false

  constructor (
    readonly localId: PeerId,
    private readonly wire: SimWire,
    private readonly processTime: ProcessTime,
    /** 1 for the first start, +1 per restart. */
    readonly incarnation: number
  ) {}

  get time (): TimeSource {
    return this.processTime
  }

  get alive (): boolean {
    return !this.stopped
  }

  /** Requests sent and not yet settled. */
  get pendingRequests (): number {
    return this.pending.size
  }

  /** Requests whose handler has not finished. */
  get servingRequests (): number {
    return this.serving.size
  }

  handle<M> (protocol: string, handler: MessageHandler<M>): void {
    if (this.handlers.has(protocol)) throw new InvalidArgumentError(`a handler for ${protocol} is already registered`)
    this.handlers.set(protocol, handler as MessageHandler<unknown>)
  }

  unhandle (protocol: string): void {
    this.handlers.delete(protocol)
  }

  send (to: PeerId, protocol: string, message: unknown): boolean {
    if (this.stopped) return false
    let bytes: Uint8Array
    try {
      bytes = encode(message)
    } catch {
      this.wire.refused(this.localId, protocol, 'unencodable')
      return false
    }
    if (bytes.length > this.wire.frameBytesMax) {
      this.wire.refused(this.localId, protocol, 'too-large')
      return false
    }
    return this.wire.transmit(this.localId, to, Wire.Message, protocol, bytes, 0) > 0
  }

  request (to: PeerId, protocol: string, message: unknown, options: RequestOptions): Promise<unknown> {
    const timeoutMs = options.timeoutMs
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) return Promise.reject(new InvalidArgumentError(`timeoutMs must be a positive number, got ${timeoutMs}`))
    if (this.stopped) return Promise.reject(new ClosedError(`the transport of ${this.localId} is stopped (crashed or restarted): use its new incarnation`))
    const signal = options.signal
    if (signal?.aborted === true) return Promise.reject(new AbortedError('the request was aborted before it was sent'))
    if (!this.wire.hasNode(to)) return Promise.reject(new UnavailableError(`no address is known for peer ${to}: add it to the address book`, { peer: to }))
    let bytes: Uint8Array
    try {
      bytes = encode(message)
    } catch (err) {
      return Promise.reject(new InvalidArgumentError(`request to ${protocol} cannot be encoded: ${(err as Error).message}`, {}, { cause: err }))
    }
    if (bytes.length > this.wire.frameBytesMax) {
      return Promise.reject(new TooLargeError(`request of ${bytes.length} bytes exceeds frameBytesMax (${this.wire.frameBytesMax})`, { bytes: bytes.length, frameBytesMax: this.wire.frameBytesMax }))
    }
    const id = this.wire.transmit(this.localId, to, Wire.Request, protocol, bytes, 0)
    if (id === 0) return Promise.reject(new OverloadedError(`send queue to peer ${to} is full: back off and retry`, { peer: to }))
    return new Promise((resolve, reject) => {
      const pending = new PendingRequest(this, id, to, protocol, timeoutMs, resolve, reject, signal)
      this.pending.set(id, pending)
      pending.timer = this.processTime.setTimeout(pending.onTimeout, timeoutMs)
      signal?.addEventListener('abort', pending.onAbort, { once: true })
    })
  }

  /** @internal Called by the network for a packet that reached this process. */
  receive (packet: Packet, from: PeerId): Receipt {
    switch (packet.wire) {
      case Wire.Message: return this.receiveMessage(packet, from)
      case Wire.Request: return this.receiveRequest(packet, from)
      case Wire.Cancel: return this.receiveCancel(packet)
      default: return this.receiveReply(packet)
    }
  }

  /** @internal The process died: drop everything without running any of its code again. */
  kill (): void {
    this.stopped = true
    this.handlers.clear()
    for (const pending of this.pending.values()) pending.detach()
    this.pending.clear()
    this.serving.clear()
    this.processTime.kill()
  }

  /** @internal A pending request gave up (deadline or abort): forget it and tell the peer, best effort. */
  giveUp (pending: PendingRequest): void {
    this.pending.delete(pending.id)
    this.wire.transmit(this.localId, pending.peer, Wire.Cancel, pending.protocol, noBytes, pending.id)
  }

  /** @internal */
  settled (pending: PendingRequest): void {
    this.pending.delete(pending.id)
  }

  private receiveMessage (packet: Packet, from: PeerId): Receipt {
    const handler = this.handlers.get(packet.protocol)
    if (handler?.onMessage === undefined) return Receipt.NoHandler
    let message: unknown
    try {
      message = handler.parse(decode(packet.bytes))
    } catch {
      return Receipt.Rejected
    }
    try {
      handler.onMessage(from, message)
    } catch (err) {
      this.wire.handlerThrew(this.localId, from, packet.protocol, err, true)
    }
    return Receipt.Delivered
  }

  private receiveRequest (packet: Packet, from: PeerId): Receipt {
    const handler = this.handlers.get(packet.protocol)
    const onRequest = handler?.onRequest
    if (handler === undefined || onRequest === undefined) {
      this.replyError(packet, from, new ProtocolError(`${this.localId} serves no requests on ${packet.protocol}`, { peer: this.localId, protocol: packet.protocol }))
      return Receipt.NoHandler
    }
    // A duplicated copy of a request still being served: the first copy will answer.
    if (this.serving.has(packet.id)) return Receipt.Ignored
    let message: unknown
    try {
      message = handler.parse(decode(packet.bytes))
    } catch (err) {
      this.replyError(packet, from, err instanceof QuorumKvError ? err : new ProtocolError(`invalid ${packet.protocol} request: ${err instanceof Error ? err.message : String(err)}`))
      return Receipt.Rejected
    }
    const controller = new AbortController()
    this.serving.set(packet.id, controller)
    new Promise(resolve => { resolve(onRequest.call(handler, from, message, controller.signal)) }).then(
      value => { this.complete(packet, from, controller, value, false) },
      (err: unknown) => { this.complete(packet, from, controller, err, true) }
    )
    return Receipt.Delivered
  }

  private receiveCancel (packet: Packet): Receipt {
    const controller = this.serving.get(packet.requestId)
    if (controller === undefined) return Receipt.Ignored
    this.serving.delete(packet.requestId)
    controller.abort(new AbortedError('the caller cancelled the request'))
    return Receipt.Delivered
  }

  private receiveReply (packet: Packet): Receipt {
    const pending = this.pending.get(packet.requestId)
    if (pending === undefined) return Receipt.Ignored
    let body: unknown
    try {
      body = decode(packet.bytes)
    } catch (err) {
      pending.fail(new ProtocolError(`peer ${pending.peer} sent an undecodable reply on ${packet.protocol}`, {}, { cause: err }))
      return Receipt.Rejected
    }
    if (packet.wire === Wire.Reply) {
      pending.succeed(body)
    } else {
      const e = (body !== null && typeof body === 'object' ? body : {}) as { code?: unknown, message?: unknown, details?: unknown }
      pending.fail(errorFromWire(e.code, e.message, e.details))
    }
    return Receipt.Delivered
  }

  private complete (request: Packet, to: PeerId, controller: AbortController, result: unknown, failed: boolean): void {
    if (this.serving.get(request.id) === controller) this.serving.delete(request.id)
    // A dead process sends nothing; a cancelled caller is gone.
    if (this.stopped || controller.signal.aborted) return
    if (failed) {
      if (!(result instanceof QuorumKvError)) this.wire.handlerThrew(this.localId, to, request.protocol, result, false)
      this.replyError(request, to, toQuorumKvError(result))
      return
    }
    let bytes: Uint8Array
    try {
      bytes = encode(result)
    } catch (err) {
      this.replyError(request, to, new InternalError(`the ${request.protocol} handler returned a value that cannot be encoded: ${(err as Error).message}`))
      return
    }
    if (bytes.length > this.wire.frameBytesMax) {
      this.replyError(request, to, new TooLargeError(`reply of ${bytes.length} bytes exceeds frameBytesMax (${this.wire.frameBytesMax})`, { bytes: bytes.length }))
      return
    }
    this.wire.transmit(this.localId, to, Wire.Reply, request.protocol, bytes, request.id)
  }

  private replyError (request: Packet, to: PeerId, error: QuorumKvError): void {
    let bytes: Uint8Array
    try {
      bytes = encode({ code: error.code, message: error.message, details: error.details })
    } catch {
      bytes = encode({ code: error.code, message: error.message })
    }
    this.wire.transmit(this.localId, to, Wire.ErrorReply, request.protocol, bytes, request.id)
  }
}

/** A request waiting for its reply, its deadline or its abort, whichever comes first. */
class PendingRequest {
  timer: TimerHandle | undefined
  readonly onTimeout: () => void
  readonly onAbort: () => void

  constructor (
    private readonly owner: SimTransport,
    readonly id: number,
    readonly peer: PeerId,
    readonly protocol: string,
    private readonly timeoutMs: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: unknown) => void,
    private readonly signal: AbortSignal | undefined
  ) {
    this.onTimeout = () => {
      this.giveUp(new TimeoutError(`request to peer ${this.peer} on ${this.protocol} got no reply within ${this.timeoutMs} ms; it may or may not have been processed`, { peer: this.peer, timeoutMs: this.timeoutMs }))
    }
    this.onAbort = () => {
      this.giveUp(new AbortedError(`request to peer ${this.peer} on ${this.protocol} was aborted by the caller; it may or may not have been processed`, { peer: this.peer }, { cause: this.signal?.reason }))
    }
  }

  succeed (value: unknown): void {
    this.detach()
    this.owner.settled(this)
    this.resolve(value)
  }

  fail (err: unknown): void {
    this.detach()
    this.owner.settled(this)
    this.reject(err)
  }

  private giveUp (err: QuorumKvError): void {
    this.detach()
    this.owner.giveUp(this)
    this.reject(err)
  }

  /** Stops listening for the deadline and the abort. */
  detach (): void {
    this.timer?.cancel()
    this.signal?.removeEventListener('abort', this.onAbort)
  }
}
