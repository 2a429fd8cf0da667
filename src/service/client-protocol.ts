import { InvalidArgumentError } from '../api/errors.js'
import type { WriteResult } from '../api/types.js'
import { protocolId, type MessageHandler, type Transport } from '../transport/types.js'
import { parseClientStamp, type ClientStamp } from '../storage/kv-state-machine.js'
import type { AccessControl } from './access.js'
import type { KvService, RawRead } from './kv-service.js'

/**
 * The protocol remote clients use (`connect()`): one request per call, answered with the result or
 * the error. Values travel encoded; the node checks rights, then hands the call to the same
 * service that serves in-process clients, which validates everything else.
 */
export const clientProtocol = protocolId('client')

export type ClientRequest =
  | { op: 'put', key: string, value: Uint8Array, options: Record<string, unknown>, client: ClientStamp }
  | { op: 'delete', key: string, options: Record<string, unknown>, client: ClientStamp }
  | { op: 'get', key: string, options: Record<string, unknown> }
  | { op: 'increment', key: string, delta: number, options: Record<string, unknown> }
  | { op: 'set-add' | 'set-remove', key: string, element: string, options: Record<string, unknown> }

/** `leader`: the Raft leader this node knows of, so a client can send its next calls there. */
export type ClientResponse = (WriteResult | RawRead) & { leader?: string }

/** Options a remote caller may send: everything but the AbortSignal, which cannot cross the wire. */
const remoteOptionKeys = new Set(['timeoutMs', 'consistency', 'session', 'maxStalenessMs', 'r', 'pr', 'ifMatch', 'context', 'w', 'pw'])

export function parseClientRequest (raw: unknown): ClientRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidArgumentError('client request must be an object')
  const r = raw as Record<string, unknown>
  if (typeof r.key !== 'string') throw new InvalidArgumentError('client request key must be a string')
  const options = r.options ?? {}
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InvalidArgumentError('client request options must be an object')
  for (const k of Object.keys(options)) if (!remoteOptionKeys.has(k)) throw new InvalidArgumentError(`unknown option ${JSON.stringify(k)}`)
  const base = { key: r.key, options: options as Record<string, unknown> }
  switch (r.op) {
    case 'get': return { op: 'get', ...base }
    case 'put':
      if (!(r.value instanceof Uint8Array)) throw new InvalidArgumentError('client request value must be bytes')
      return { op: 'put', ...base, value: r.value, client: parseClientStamp(r.client) }
    case 'delete': return { op: 'delete', ...base, client: parseClientStamp(r.client) }
    case 'increment':
      if (!Number.isSafeInteger(r.delta)) throw new InvalidArgumentError('client request delta must be a safe integer')
      return { op: 'increment', ...base, delta: r.delta as number }
    case 'set-add': case 'set-remove':
      if (typeof r.element !== 'string') throw new InvalidArgumentError('client request element must be a string')
      return { op: r.op, ...base, element: r.element }
    default: throw new InvalidArgumentError(`unknown client op ${JSON.stringify(r.op)}`)
  }
}

export function registerClientProtocol (transport: Transport, service: KvService, access: AccessControl, leaderHint: () => string | null = () => null): void {
  const handler: MessageHandler<ClientRequest> = {
    parse: parseClientRequest,
    onRequest: async (from, request, signal): Promise<ClientResponse> => {
      const options = { ...request.options, signal }
      switch (request.op) {
        case 'get':
          access.check(from, 'read', request.key)
          return withLeader(await service.get(request.key, options), leaderHint())
        case 'put':
          access.check(from, 'write', request.key)
          return withLeader(await service.put(request.key, request.value, options, request.client), leaderHint())
        case 'delete':
          access.check(from, 'write', request.key)
          return withLeader(await service.delete(request.key, options, request.client), leaderHint())
        case 'increment':
          access.check(from, 'write', request.key)
          return await service.increment(request.key, request.delta, options)
        case 'set-add': case 'set-remove':
          access.check(from, 'write', request.key)
          return await service.setOp(request.op, request.key, request.element, options)
      }
    }
  }
  transport.handle(clientProtocol, handler)
}

function withLeader<T extends object> (result: T, leader: string | null): T & { leader?: string } {
  return leader === null ? result : { ...result, leader }
}
