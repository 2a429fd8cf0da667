import type { Logger } from 'pino'
import { AbortedError, InvalidArgumentError, ProtocolError, QuorumKvError, TimeoutError, toQuorumKvError } from '../../api/errors.js'
import { decode, encode } from '../../codec/msgpack.js'
import type { TimeSource } from '../../runtime/time.js'
import type { MessageHandler, PeerId, RequestOptions } from '../types.js'
import type { TransportMetrics } from './metrics.js'

export interface LoopbackContext {
  readonly localId: PeerId
  readonly logger: Logger
  readonly metrics: TransportMetrics
  readonly time: TimeSource
  readonly handler: (protocol: string) => MessageHandler<unknown> | undefined
}

/**
 * Delivery to this node itself (a coordinator whose preference list includes itself). The
 * message takes a msgpack round trip, so a handler sees exactly what a remote peer would have
 * sent, and delivery is asynchronous, as on the wire.
 */
export function loopbackSend (ctx: LoopbackContext, protocol: string, message: unknown): boolean {
  let copy: unknown
  try {
    copy = decode(encode(message))
  } catch {
    ctx.metrics.drop('unencodable')
    return false
  }
  ctx.metrics.message(protocol, 'sent')
  queueMicrotask(() => {
    const handler = ctx.handler(protocol)
    if (handler?.onMessage === undefined) {
      ctx.metrics.reject('unknown_protocol')
      return
    }
    let parsed: unknown
    try {
      parsed = handler.parse(copy)
    } catch {
      ctx.metrics.reject('parse')
      return
    }
    ctx.metrics.message(protocol, 'received')
    try {
      handler.onMessage(ctx.localId, parsed)
    } catch (err) {
      ctx.logger.error({ peer: ctx.localId, protocol, err }, 'message handler threw')
    }
  })
  return true
}

export async function loopbackRequest (ctx: LoopbackContext, protocol: string, message: unknown, options: RequestOptions): Promise<unknown> {
  let copy: unknown
  try {
    copy = decode(encode(message))
  } catch (err) {
    throw new InvalidArgumentError(`request to ${protocol} cannot be encoded: ${(err as Error).message}`, {}, { cause: err })
  }
  return await new Promise<unknown>((resolve, reject) => {
    const controller = new AbortController()
    let done = false
    const finish = (settle: () => void): void => {
      if (done) return
      done = true
      timer.cancel()
      options.signal?.removeEventListener('abort', onAbort)
      settle()
    }
    const timer = ctx.time.setTimeout(() => {
      controller.abort(new TimeoutError('deadline passed'))
      finish(() => { reject(new TimeoutError(`request to this node on ${protocol} got no reply within ${options.timeoutMs} ms`)) })
    }, options.timeoutMs)
    const onAbort = (): void => {
      controller.abort(new AbortedError('the caller aborted'))
      finish(() => { reject(new AbortedError(`request to this node on ${protocol} was aborted by the caller`)) })
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    queueMicrotask(() => {
      const handler = ctx.handler(protocol)
      if (handler?.onRequest === undefined) {
        ctx.metrics.reject('unknown_protocol')
        finish(() => { reject(new ProtocolError(`this node serves no requests on ${protocol}`)) })
        return
      }
      let parsed: unknown
      try {
        parsed = handler.parse(copy)
      } catch (err) {
        ctx.metrics.reject('parse')
        finish(() => { reject(err instanceof QuorumKvError ? err : new ProtocolError(`invalid ${protocol} request: ${err instanceof Error ? err.message : String(err)}`)) })
        return
      }
      let result: Promise<unknown>
      try {
        result = Promise.resolve(handler.onRequest(ctx.localId, parsed, controller.signal))
      } catch (err) {
        result = Promise.reject(err)
      }
      result.then(
        (value) => {
          let out: unknown
          try {
            out = decode(encode(value))
          } catch (err) {
            finish(() => { reject(toQuorumKvError(err)) })
            return
          }
          finish(() => { resolve(out) })
        },
        (err: unknown) => { finish(() => { reject(toQuorumKvError(err)) }) }
      )
    })
  })
}
