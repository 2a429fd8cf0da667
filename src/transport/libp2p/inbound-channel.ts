import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from 'pino'
import { AbortedError, InternalError, OverloadedError, ProtocolError, QuorumKvError, TooLargeError, toQuorumKvError } from '../../api/errors.js'
import { decodeUntrusted, encode } from '../../codec/msgpack.js'
import type { MessageHandler } from '../types.js'
import { Kind, Malformed, guardToListener } from './envelope.js'
import { FrameWriter, queueBudget } from './frame-writer.js'
import { FrameDecoder } from './framing.js'
import type { RejectReason, TransportMetrics } from './metrics.js'

export interface InboundContext {
  readonly logger: Logger
  readonly metrics: TransportMetrics
  readonly frameBytesMax: number
  /** Requests of one stream in its handlers at once. */
  readonly inboundRequestsMax: number
  /** Bytes of replies queued on one stream before it is reset (its reader is not reading). */
  readonly replyBytesMax: number
  /** The current handler of a protocol; undefined once it was unhandled. */
  readonly handler: (protocol: string) => MessageHandler<unknown> | undefined
  readonly closed: (channel: InboundChannel) => void
}

/**
 * Serves one stream a peer opened: every frame is decoded, its envelope checked by a hand-written
 * guard and its body passed through the handler's `parse` before a handler sees it. Bad input is
 * counted and answered with an error when a request id is known; otherwise the stream is reset.
 * Nothing a peer sends can throw out of here.
 */
export class InboundChannel {
  readonly peer: string
  readonly protocol: string
  private readonly stream: Stream
  private readonly ctx: InboundContext
  private readonly decoder: FrameDecoder
  private readonly writer: FrameWriter
  private readonly inflight = new Map<number, AbortController>()
  private remoteDone = false
  private finished = false

  constructor (ctx: InboundContext, peer: string, protocol: string, stream: Stream) {
    this.ctx = ctx
    this.peer = peer
    this.protocol = protocol
    this.stream = stream
    this.decoder = new FrameDecoder(ctx.frameBytesMax)
    // Replies are bounded by the requests in flight; error replies to refused requests need room too.
    this.writer = new FrameWriter(queueBudget(ctx.inboundRequestsMax * 2 + 16, ctx.replyBytesMax))
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose, { once: true })
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite, { once: true })
    this.writer.attach(stream)
  }

  get queuedBytes (): number { return this.writer.queuedBytes }

  /** Resets the stream (transport stopping, or the peer is no longer allowed). */
  abort (error: Error): void {
    this.stream.abort(error)
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    if (this.finished) return
    const oversized = this.decoder.push(evt.data, this.onFrame)
    if (oversized !== undefined) this.refuse('oversized', `frame of ${oversized.bodyBytes} bytes exceeds frameBytesMax (${this.ctx.frameBytesMax})`)
  }

  private readonly onFrame = (body: Uint8Array): boolean => {
    let raw: unknown
    try {
      raw = decodeUntrusted(body)
    } catch {
      this.refuse('undecodable', 'frame body is not msgpack')
      return false
    }
    const envelope = guardToListener(raw)
    if (envelope instanceof Malformed) {
      this.ctx.metrics.reject('malformed')
      if (envelope.id === undefined) {
        this.refuse(undefined, `malformed envelope: ${envelope.problem}`)
        return false
      }
      this.replyError(envelope.id, new ProtocolError(`malformed envelope: ${envelope.problem}`))
      return true
    }
    switch (envelope[0]) {
      case Kind.Msg: this.onOneWay(envelope[1]); break
      case Kind.Req: this.onRequest(envelope[1], envelope[2]); break
      case Kind.Cancel: this.inflight.get(envelope[1])?.abort(new AbortedError('the caller cancelled the request')); break
    }
    return !this.finished
  }

  private onOneWay (body: unknown): void {
    const handler = this.ctx.handler(this.protocol)
    if (handler?.onMessage === undefined) {
      // No request id to answer: the message is dropped and counted; framing is intact, so
      // the stream stays up for the messages that follow.
      this.ctx.metrics.reject('unknown_protocol')
      return
    }
    let message: unknown
    try {
      message = handler.parse(body)
    } catch {
      this.ctx.metrics.reject('parse')
      return
    }
    this.ctx.metrics.message(this.protocol, 'received')
    try {
      handler.onMessage(this.peer, message)
    } catch (err) {
      this.ctx.logger.error({ peer: this.peer, protocol: this.protocol, err }, 'message handler threw')
    }
  }

  private onRequest (id: number, body: unknown): void {
    const { metrics } = this.ctx
    if (this.inflight.has(id)) {
      metrics.reject('malformed')
      this.replyError(id, new ProtocolError(`request id ${id} is already in flight on this stream`))
      return
    }
    if (this.inflight.size >= this.ctx.inboundRequestsMax) {
      metrics.reject('overloaded')
      this.replyError(id, new OverloadedError(`peer is serving ${this.ctx.inboundRequestsMax} requests of this stream already: back off and retry`))
      return
    }
    const handler = this.ctx.handler(this.protocol)
    if (handler?.onRequest === undefined) {
      metrics.reject('unknown_protocol')
      this.replyError(id, new ProtocolError(`this node serves no requests on ${this.protocol}`))
      return
    }
    let message: unknown
    try {
      message = handler.parse(body)
    } catch (err) {
      metrics.reject('parse')
      this.replyError(id, err instanceof QuorumKvError ? err : new ProtocolError(`invalid ${this.protocol} request: ${err instanceof Error ? err.message : String(err)}`))
      return
    }
    const controller = new AbortController()
    this.inflight.set(id, controller)
    let result: Promise<unknown>
    try {
      result = Promise.resolve(handler.onRequest(this.peer, message, controller.signal))
    } catch (err) {
      result = Promise.reject(err)
    }
    result.then(
      (value) => { this.complete(id, controller, value, undefined) },
      (err: unknown) => { this.complete(id, controller, undefined, toQuorumKvError(err)) }
    )
  }

  private complete (id: number, controller: AbortController, value: unknown, error: QuorumKvError | undefined): void {
    if (this.inflight.get(id) !== controller) return
    this.inflight.delete(id)
    this.ctx.metrics.serve(this.protocol, error === undefined ? 'ok' : 'error')
    // A cancelled caller is gone, and a finished stream has nobody to read the reply.
    if (!controller.signal.aborted && !this.finished) {
      if (error !== undefined) {
        if (error instanceof InternalError) this.ctx.logger.error({ peer: this.peer, protocol: this.protocol, err: error.cause ?? error }, 'request handler failed')
        this.replyError(id, error)
      } else {
        this.reply(id, value)
      }
    }
    if (this.remoteDone && this.inflight.size === 0) this.closeGracefully()
  }

  private reply (id: number, value: unknown): void {
    let bytes: Uint8Array
    try {
      bytes = encode([Kind.Res, id, value])
    } catch (err) {
      this.replyError(id, new InternalError(`the ${this.protocol} handler returned a value that cannot be encoded: ${(err as Error).message}`))
      return
    }
    if (bytes.byteLength > this.ctx.frameBytesMax) {
      this.replyError(id, new TooLargeError(`reply of ${bytes.byteLength} bytes exceeds frameBytesMax (${this.ctx.frameBytesMax})`, { bytes: bytes.byteLength }))
      return
    }
    this.write(bytes)
  }

  private replyError (id: number, error: QuorumKvError): void {
    let bytes: Uint8Array
    try {
      bytes = encode([Kind.Err, id, error.code, error.message, error.details])
    } catch {
      bytes = encode([Kind.Err, id, error.code, error.message, null]) // details that cannot travel are left behind
    }
    this.write(bytes)
  }

  private write (bytes: Uint8Array): void {
    if (this.finished) return
    if (!this.writer.enqueue(bytes)) this.refuse(undefined, 'the peer does not read its replies (reply queue full)')
  }

  /** Counts (when a reason is given) and resets the stream: framing is lost or the peer misbehaves. */
  private refuse (reason: RejectReason | undefined, problem: string): void {
    if (reason !== undefined) this.ctx.metrics.reject(reason)
    if (this.finished) return
    this.ctx.logger.debug({ peer: this.peer, protocol: this.protocol, reason: reason ?? 'malformed', problem }, 'resetting an inbound stream')
    this.stream.abort(new ProtocolError(problem))
  }

  private readonly onRemoteCloseWrite = (): void => {
    if (this.decoder.partial) {
      this.refuse('truncated', 'the stream ended in the middle of a frame')
      return
    }
    this.remoteDone = true
    if (this.inflight.size === 0) this.closeGracefully()
  }

  private closeGracefully (): void {
    if (this.finished) return
    this.stream.close().catch((err: unknown) => { this.stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }

  private readonly onClose = (): void => {
    this.finished = true
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.writer.detach()
    const gone = new AbortedError('the stream to the caller closed')
    for (const controller of this.inflight.values()) controller.abort(gone)
    this.inflight.clear()
    this.ctx.closed(this)
  }
}
