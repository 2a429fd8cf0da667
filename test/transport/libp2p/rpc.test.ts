import { afterEach, describe, expect, it } from 'vitest'
import { AbortedError, ClosedError, InternalError, InvalidArgumentError, NotLeaderError, OverloadedError, ProtocolError, TimeoutError, TooLargeError, UnauthorizedError, UnavailableError } from '../../../src/api/errors.js'
import type { QuorumKvError } from '../../../src/api/errors.js'
import { protocolId } from '../../../src/transport/types.js'
import type { MessageHandler } from '../../../src/transport/types.js'
import { counterValue, eventually, startNode, startPair } from './helpers.js'
import type { TestNode } from './helpers.js'

const echo = protocolId('echo')
const nodes: TestNode[] = []

afterEach(async () => {
  // One at a time: two libp2p nodes closing their shared connection at once each wait 500 ms for the other.
  for (const n of nodes.splice(0)) await n.transport.stop()
})

async function pair (init: Parameters<typeof startPair>[0] = {}): Promise<[TestNode, TestNode]> {
  const both = await startPair(init)
  nodes.push(...both)
  return both
}

function rejection (promise: Promise<unknown>): Promise<QuorumKvError> {
  return promise.then(() => { throw new Error('expected a rejection') }, (err: QuorumKvError) => err)
}

const anything = (x: unknown): unknown => x

describe('Libp2pTransport requests and messages', () => {
  it('answers requests and delivers one-way messages in order over long-lived streams', async () => {
    const [a, b] = await pair()
    const received: unknown[] = []
    b.transport.handle(echo, { parse: anything, onRequest: async (from, m) => ({ from, m }), onMessage: (_from, m) => { received.push(m) } })
    const reply = await a.transport.request(b.transport.peerId, echo, { x: 1 }, { timeoutMs: 5000 })
    expect(reply).toEqual({ from: a.transport.peerId, m: { x: 1 } })
    for (let i = 0; i < 100; i++) expect(a.transport.send(b.transport.peerId, echo, i)).toBe(true)
    await eventually(() => received.length === 100)
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => i))
    const many = await Promise.all(Array.from({ length: 200 }, async (_, i) => await a.transport.request(b.transport.peerId, echo, i, { timeoutMs: 5000 })))
    expect(many.map(r => (r as { m: number }).m)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    // One stream per (peer, protocol, direction), not one per request.
    const conn = b.transport['node']!.getConnections(a.transport['node']!.peerId)
    expect(conn.flatMap(c => c.streams).filter(s => s.protocol === echo)).toHaveLength(1)
  })

  it('a request past its deadline fails with TimeoutError and the peer handler is told to stop', async () => {
    const [a, b] = await pair()
    let handlerSignal: AbortSignal | undefined
    b.transport.handle(echo, { parse: anything, onRequest: async (_f, _m, signal) => { handlerSignal = signal; return await new Promise(() => {}) } })
    const err = await rejection(a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs: 200 }))
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('TIMEOUT')
    await eventually(() => handlerSignal?.aborted === true)
    expect(await counterValue(a.registry, 'quorumkv_rpc_requests_total', { outcome: 'timeout' })).toBe(1)
  })

  it('an aborted request fails with AbortedError, frees its slot and aborts the remote handler', async () => {
    const [a, b] = await startPair({ peerQueueMax: 1 })
    nodes.push(a, b)
    let handlerSignal: AbortSignal | undefined
    b.transport.handle(echo, {
      parse: anything,
      onRequest: async (_f, m, signal) => {
        if (m === 'hang') { handlerSignal = signal; return await new Promise(() => {}) }
        return m
      }
    })
    const controller = new AbortController()
    const pending = rejection(a.transport.request(b.transport.peerId, echo, 'hang', { timeoutMs: 10_000, signal: controller.signal }))
    await eventually(() => handlerSignal !== undefined)
    controller.abort()
    expect(await pending).toBeInstanceOf(AbortedError)
    await eventually(() => handlerSignal?.aborted === true)
    // peerQueueMax is 1: the aborted request no longer holds the only slot.
    expect(await a.transport.request(b.transport.peerId, echo, 'ok', { timeoutMs: 5000 })).toBe('ok')
    const early = new AbortController()
    early.abort()
    expect(await rejection(a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs: 1000, signal: early.signal }))).toBeInstanceOf(AbortedError)
  })

  it('a handler error comes back as the same class, code, message and details', async () => {
    const [a, b] = await pair()
    b.transport.handle(echo, {
      parse: anything,
      onRequest: async (_f, m) => {
        if (m === 'leader') throw new NotLeaderError('not the leader: ask node-2', { leader: 'node-2' })
        throw new Error('boom')
      }
    })
    const err = await rejection(a.transport.request(b.transport.peerId, echo, 'leader', { timeoutMs: 5000 }))
    expect(err).toBeInstanceOf(NotLeaderError)
    expect(err.toJSON()).toEqual({ name: 'NotLeaderError', code: 'NOT_LEADER', message: 'not the leader: ask node-2', details: { leader: 'node-2' } })
    const internal = await rejection(a.transport.request(b.transport.peerId, echo, 'other', { timeoutMs: 5000 }))
    expect(internal).toBeInstanceOf(InternalError)
    expect(internal.message).toContain('boom')
  })

  it('a message its parse() refuses never reaches the handler, is counted, and a request gets the parse error', async () => {
    const [a, b] = await pair()
    const seen: unknown[] = []
    const handler: MessageHandler<{ n: number }> = {
      parse: (raw) => {
        if (typeof raw !== 'object' || raw === null || typeof (raw as { n?: unknown }).n !== 'number') throw new InvalidArgumentError('n must be a number')
        return raw as { n: number }
      },
      onRequest: async (_f, m) => { seen.push(m); return m.n },
      onMessage: (_f, m) => { seen.push(m) }
    }
    b.transport.handle(echo, handler)
    const err = await rejection(a.transport.request(b.transport.peerId, echo, { n: 'x' }, { timeoutMs: 5000 }))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.message).toBe('n must be a number')
    a.transport.send(b.transport.peerId, echo, { nope: true })
    expect(await a.transport.request(b.transport.peerId, echo, { n: 3 }, { timeoutMs: 5000 })).toBe(3)
    await eventually(async () => await counterValue(b.registry, 'quorumkv_rpc_rejected_total', { reason: 'parse' }) === 2)
    expect(seen).toEqual([{ n: 3 }])
  })

  it('a frame over the receiver\'s frameBytesMax is refused: the stream is closed and counted', async () => {
    const a = await startNode({ frameBytesMax: 1 << 20 })
    const b = await startNode({ frameBytesMax: 1024 })
    nodes.push(a, b)
    a.transport.setPeerAddresses(b.transport.peerId, b.transport.multiaddrs)
    let calls = 0
    b.transport.handle(echo, { parse: anything, onRequest: async (_f, m) => { calls++; return m } })
    const err = await rejection(a.transport.request(b.transport.peerId, echo, new Uint8Array(4096), { timeoutMs: 5000 }))
    expect(err).toBeInstanceOf(UnavailableError)
    expect(await counterValue(b.registry, 'quorumkv_rpc_rejected_total', { reason: 'oversized' })).toBe(1)
    expect(calls).toBe(0)
    // The next request opens a fresh stream.
    expect(await a.transport.request(b.transport.peerId, echo, 'small', { timeoutMs: 5000 })).toBe('small')
    // A sender refuses to send what is over its own limit, without touching the wire.
    expect(await rejection(b.transport.request(a.transport.peerId, echo, new Uint8Array(2048), { timeoutMs: 5000 }))).toBeInstanceOf(TooLargeError)
  })

  it('a full peer queue makes request() fail with OverloadedError and send() return false', async () => {
    const [a, b] = await pair({ peerQueueMax: 4 })
    let calls = 0
    b.transport.handle(echo, { parse: anything, onRequest: async () => { calls++; return await new Promise(() => {}) }, onMessage: () => {} })
    const hung = Array.from({ length: 4 }, () => a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs: 60_000 }).catch((e: unknown) => e))
    await eventually(() => calls === 4)
    const err = await rejection(a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs: 60_000 }))
    expect(err).toBeInstanceOf(OverloadedError)
    expect(err.code).toBe('OVERLOADED')
    // One-way sends on a protocol whose stream is still being dialled fill the frame queue.
    const other = protocolId('other')
    b.transport.handle(other, { parse: anything, onMessage: () => {} })
    const results = Array.from({ length: 10 }, (_, i) => a.transport.send(b.transport.peerId, other, i))
    expect(results.filter(r => r)).toHaveLength(4)
    expect(await counterValue(a.registry, 'quorumkv_rpc_messages_dropped_total', { reason: 'queue_full' })).toBe(6)
    await a.transport.stop()
    for (const r of await Promise.all(hung)) expect(r).toBeInstanceOf(ClosedError)
  })

  it('a request on a protocol the peer does not handle fails with ProtocolError', async () => {
    const [a, b] = await pair()
    const err = await rejection(a.transport.request(b.transport.peerId, protocolId('nothing'), 'x', { timeoutMs: 5000 }))
    expect(err).toBeInstanceOf(ProtocolError)
  })

  it('after unhandle(), requests on an open stream get an error reply and are counted', async () => {
    const [a, b] = await pair()
    b.transport.handle(echo, { parse: anything, onRequest: async (_f, m) => m })
    expect(await a.transport.request(b.transport.peerId, echo, 1, { timeoutMs: 5000 })).toBe(1)
    b.transport.unhandle(echo)
    expect(await rejection(a.transport.request(b.transport.peerId, echo, 2, { timeoutMs: 5000 }))).toBeInstanceOf(ProtocolError)
    expect(await counterValue(b.registry, 'quorumkv_rpc_rejected_total', { reason: 'unknown_protocol' })).toBe(1)
  })

  it('a node this node itself does not allow is never dialled', async () => {
    const a = await startNode({ isAllowed: () => false })
    const b = await startNode()
    nodes.push(a, b)
    a.transport.setPeerAddresses(b.transport.peerId, b.transport.multiaddrs)
    const err = await rejection(a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs: 5000 }))
    expect(err).toBeInstanceOf(UnavailableError)
    expect(err.details).toMatchObject({ reason: 'not_allowed' })
    expect(await counterValue(a.registry, 'quorumkv_transport_connections_refused_total', { direction: 'dial' })).toBe(1)
  })

  it('a peer with no known address fails fast with UnavailableError, then backs off', async () => {
    const a = await startNode()
    const stranger = await startNode()
    nodes.push(a, stranger)
    const first = await rejection(a.transport.request(stranger.transport.peerId, echo, 'x', { timeoutMs: 5000 }))
    expect(first).toBeInstanceOf(UnavailableError)
    const second = await rejection(a.transport.request(stranger.transport.peerId, echo, 'x', { timeoutMs: 5000 }))
    expect(second).toBeInstanceOf(UnavailableError)
    expect(second.details).toHaveProperty('retryInMs')
    expect(a.transport.send(stranger.transport.peerId, echo, 'x')).toBe(false)
    // New addresses reset the backoff.
    stranger.transport.handle(echo, { parse: anything, onRequest: async (_f, m) => m })
    a.transport.setPeerAddresses(stranger.transport.peerId, stranger.transport.multiaddrs)
    expect(await a.transport.request(stranger.transport.peerId, echo, 'y', { timeoutMs: 5000 })).toBe('y')
  })

  it('delivers requests and messages to itself through the same parse and handler', async () => {
    const a = await startNode()
    nodes.push(a)
    const messages: unknown[] = []
    a.transport.handle(echo, {
      parse: (raw) => { if (raw === 'bad') throw new InvalidArgumentError('bad'); return raw },
      onRequest: async (from, m) => ({ from, m }),
      onMessage: (_f, m) => { messages.push(m) }
    })
    expect(await a.transport.request(a.transport.peerId, echo, 1, { timeoutMs: 1000 })).toEqual({ from: a.transport.peerId, m: 1 })
    expect(await rejection(a.transport.request(a.transport.peerId, echo, 'bad', { timeoutMs: 1000 }))).toBeInstanceOf(InvalidArgumentError)
    expect(a.transport.send(a.transport.peerId, echo, 'hi')).toBe(true)
    await eventually(() => messages.length === 1)
  })

  it('requests and sends after stop() are refused with ClosedError / false', async () => {
    const [a, b] = await pair()
    await a.transport.stop()
    expect(await rejection(a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs: 1000 }))).toBeInstanceOf(ClosedError)
    expect(a.transport.send(b.transport.peerId, echo, 'x')).toBe(false)
  })

  it('refuses an unknown peer at the gater, logs the refusal with its peer id, and counts it; the stranger learns it is not allowed', async () => {
    const stranger = await startNode()
    const guarded = await startNode({ isAllowed: () => false })
    nodes.push(stranger, guarded)
    stranger.transport.setPeerAddresses(guarded.transport.peerId, guarded.transport.multiaddrs)
    const err = await rejection(stranger.transport.request(guarded.transport.peerId, echo, 'x', { timeoutMs: 5000 }))
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.details).toMatchObject({ reason: 'refused_by_peer' })
    await eventually(() => guarded.logs.lines.some(l => l.peer === stranger.transport.peerId && l.reason === 'not_allowed'))
    expect(await counterValue(guarded.registry, 'quorumkv_transport_connections_refused_total', { direction: 'inbound' })).toBeGreaterThanOrEqual(1)
  })

  it('accepts more than libp2p\'s default of 5 new connections per second from one host', async () => {
    const server = await startNode()
    nodes.push(server)
    server.transport.handle(echo, { parse: anything, onRequest: async (_f, m) => m })
    for (let i = 0; i < 12; i++) {
      const client = await startNode()
      client.transport.setPeerAddresses(server.transport.peerId, server.transport.multiaddrs)
      expect(await client.transport.request(server.transport.peerId, echo, i, { timeoutMs: 5000 })).toBe(i)
      await client.transport.stop()
    }
  })

  it('setAllowed() cuts off a peer that was allowed before', async () => {
    const [a, b] = await pair()
    b.transport.handle(echo, { parse: anything, onRequest: async (_f, m) => m })
    expect(await a.transport.request(b.transport.peerId, echo, 1, { timeoutMs: 5000 })).toBe(1)
    b.transport.setAllowed(peer => peer !== a.transport.peerId)
    await eventually(async () => {
      try {
        await a.transport.request(b.transport.peerId, echo, 2, { timeoutMs: 1000 })
        return false
      } catch (err) {
        return err instanceof UnauthorizedError || err instanceof UnavailableError
      }
    })
    expect(b.logs.lines.some(l => l.peer === a.transport.peerId && l.level === 40)).toBe(true)
  })
})
