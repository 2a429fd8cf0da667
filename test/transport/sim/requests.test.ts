import { describe, expect, it } from 'vitest'
import {
  AbortedError, ClosedError, ErrorCode, InternalError, InvalidArgumentError, OverloadedError, PreconditionFailedError,
  ProtocolError, TimeoutError, TooLargeError, UnavailableError
} from '../../../src/api/errors.js'
import type { SimTransport } from '../../../src/transport/sim/transport.js'
import { makeNetwork, testProtocol } from './harness.js'

interface Echo { text: string }

function parseEcho (raw: unknown): Echo {
  const e = raw as Partial<Echo> | null
  if (e === null || typeof e !== 'object' || typeof e.text !== 'string') throw new InvalidArgumentError('an echo has a text')
  return { text: e.text }
}

/** Serves echo requests after `workMs` of the server's own time; counts calls. */
function echoServer (t: SimTransport, workMs = 0): { calls: Echo[], signals: AbortSignal[] } {
  const calls: Echo[] = []
  const signals: AbortSignal[] = []
  t.handle(testProtocol, {
    parse: parseEcho,
    onRequest: async (from, m, signal) => {
      calls.push(m)
      signals.push(signal)
      if (workMs > 0) await new Promise<void>(resolve => { t.time.setTimeout(resolve, workMs) })
      return { echo: m.text, from, at: t.time.now() }
    }
  })
  return { calls, signals }
}

describe('SimTransport.request', () => {
  it('resolves with the remote handler\'s value after a round trip of virtual time', async () => {
    const { clock, net } = makeNetwork(51, { defaults: { delay: { kind: 'fixed', ms: 3 } } })
    const a = net.addNode('a')
    echoServer(net.addNode('b'), 4)
    const reply = await clock.run(() => a.request('b', testProtocol, { text: 'hi' }, { timeoutMs: 100 }), { maxTimeMs: 1000 })
    expect(reply).toEqual({ echo: 'hi', from: 'a', at: 7 })
    expect(clock.now()).toBe(10)
    expect(net.stats('a', 'b')).toMatchObject({ sent: 1, delivered: 1 })
    expect(net.stats('b', 'a')).toMatchObject({ sent: 1, delivered: 1 })
  })

  it('times out on the virtual clock when the peer is crashed', async () => {
    const { clock, net } = makeNetwork(52)
    const a = net.addNode('a')
    echoServer(net.addNode('b'))
    net.crash('b')
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'hi' }, { timeoutMs: 250 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(clock.now()).toBe(250)
    expect(a.pendingRequests).toBe(0)
  })

  it('times out when the reply is lost on the reverse link, although the server handled it', async () => {
    const { clock, net } = makeNetwork(53)
    const a = net.addNode('a')
    const server = echoServer(net.addNode('b'))
    net.partition(['b'], ['a'], { oneWay: true })
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'hi' }, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(server.calls.length).toBe(1)
  })

  it('rejects with AbortedError when the signal fires, and the cancel aborts the server\'s handler', async () => {
    const { clock, net } = makeNetwork(54, { defaults: { delay: { kind: 'fixed', ms: 2 } } })
    const a = net.addNode('a')
    const server = echoServer(net.addNode('b'), 50)
    const controller = new AbortController()
    clock.setTimeout(() => { controller.abort() }, 10)
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'hi' }, { timeoutMs: 1000, signal: controller.signal }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AbortedError)
    expect(clock.now()).toBe(10)
    await clock.runUntilIdle()
    expect(server.signals[0]?.aborted).toBe(true)
    // The request and the cancel went out; the handler finished after the cancel, so no reply.
    expect(net.stats('a', 'b').sent).toBe(2)
    expect(net.stats('b', 'a').sent).toBe(0)
  })

  it('rejects at once when the signal is already aborted', async () => {
    const { net } = makeNetwork(55)
    const a = net.addNode('a')
    echoServer(net.addNode('b'))
    await expect(a.request('b', testProtocol, { text: 'x' }, { timeoutMs: 10, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError)
    expect(net.stats('a', 'b').sent).toBe(0)
  })

  it('a timed-out request cancels the handler on the server', async () => {
    const { clock, net } = makeNetwork(56)
    const a = net.addNode('a')
    const server = echoServer(net.addNode('b'), 500)
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'slow' }, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    await clock.runFor(5)
    expect(server.signals[0]?.aborted).toBe(true)
    await clock.runUntilIdle()
    expect(net.stats('b', 'a').sent).toBe(0)
  })

  it('an error thrown by the remote handler comes back as the same class, code and details', async () => {
    const { clock, net } = makeNetwork(57)
    const a = net.addNode('a')
    net.addNode('b').handle(testProtocol, {
      parse: parseEcho,
      onRequest: async () => { throw new PreconditionFailedError('etag is stale: re-read the key', { key: 'agents/1', current: 'e7' }) }
    })
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'x' }, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PreconditionFailedError)
    expect(err).toMatchObject({ code: ErrorCode.PreconditionFailed, message: 'etag is stale: re-read the key', details: { key: 'agents/1', current: 'e7' } })
  })

  it('a non-quorumkv throw in a handler comes back as an InternalError and is recorded as a bug', async () => {
    const { clock, net } = makeNetwork(58)
    const a = net.addNode('a')
    net.addNode('b').handle(testProtocol, {
      parse: parseEcho,
      onRequest: () => { throw new TypeError('oops') }
    })
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'x' }, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InternalError)
    expect(net.handlerErrors().map(e => e.error)).toEqual([new TypeError('oops')])
  })

  it('a request whose parse throws never reaches onRequest, and the caller gets the parse error', async () => {
    const { clock, net } = makeNetwork(59)
    const a = net.addNode('a')
    const server = echoServer(net.addNode('b'))
    const err = await clock.run(() => a.request('b', testProtocol, { nope: 1 }, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toBe('an echo has a text')
    expect(server.calls).toEqual([])
    expect(net.stats('a', 'b').rejected).toBe(1)
  })

  it('a parse that throws a plain error is reported to the caller as a ProtocolError', async () => {
    const { clock, net } = makeNetwork(60)
    const a = net.addNode('a')
    net.addNode('b').handle(testProtocol, { parse: () => { throw new TypeError('bad shape') }, onRequest: async () => 1 })
    const err = await clock.run(() => a.request('b', testProtocol, {}, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as Error).message).toContain('bad shape')
  })

  it('a peer without a request handler for the protocol answers with a ProtocolError', async () => {
    const { clock, net } = makeNetwork(61)
    const a = net.addNode('a')
    net.addNode('b').handle(testProtocol, { parse: (raw) => raw, onMessage: () => {} })
    const err = await clock.run(() => a.request('b', testProtocol, {}, { timeoutMs: 100 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProtocolError)
  })

  it('refuses requests it cannot send: unknown peer, bad timeout, too large, full queue, dead transport', async () => {
    const { net } = makeNetwork(62, { peerQueueMax: 1, frameBytesMax: 64 })
    const a = net.addNode('a')
    net.addNode('b')
    await expect(a.request('ghost', testProtocol, {}, { timeoutMs: 10 })).rejects.toBeInstanceOf(UnavailableError)
    await expect(a.request('b', testProtocol, {}, { timeoutMs: 0 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(a.request('b', testProtocol, { text: 'x'.repeat(100) }, { timeoutMs: 10 })).rejects.toBeInstanceOf(TooLargeError)
    await expect(a.request('b', testProtocol, { big: 2n ** 70n }, { timeoutMs: 10 })).rejects.toBeInstanceOf(InvalidArgumentError)
    void a.request('b', testProtocol, {}, { timeoutMs: 10 }).catch(() => {})
    await expect(a.request('b', testProtocol, {}, { timeoutMs: 10 })).rejects.toBeInstanceOf(OverloadedError)
    net.crash('a')
    await expect(a.request('b', testProtocol, {}, { timeoutMs: 10 })).rejects.toBeInstanceOf(ClosedError)
  })

  it('a request to itself is served through the loopback', async () => {
    const { clock, net } = makeNetwork(63, { defaults: { dropProbability: 1 } })
    const a = net.addNode('a')
    echoServer(a)
    const reply = await clock.run(() => a.request('a', testProtocol, { text: 'me' }, { timeoutMs: 10 }), { maxTimeMs: 100 })
    expect(reply).toMatchObject({ echo: 'me', from: 'a' })
  })

  it('a duplicated request may run the handler twice, but the caller sees one reply', async () => {
    const { clock, net } = makeNetwork(64, { defaults: { duplicateProbability: 1, delay: { kind: 'uniform', minMs: 1, maxMs: 20 } } })
    const a = net.addNode('a')
    const server = echoServer(net.addNode('b'))
    const reply = await clock.run(() => a.request('b', testProtocol, { text: 'once' }, { timeoutMs: 100 }), { maxTimeMs: 1000 })
    expect(reply).toMatchObject({ echo: 'once' })
    await clock.runUntilIdle()
    expect(server.calls.length).toBe(2)
    expect(a.pendingRequests).toBe(0)
    // Both replies were duplicated too: four copies reach a, one is used.
    expect(net.stats('b', 'a').delivered).toBe(4)
  })

  it('requests a process sent never settle once it crashes, and no code of it runs again', async () => {
    const { clock, net } = makeNetwork(65)
    const a = net.addNode('a')
    echoServer(net.addNode('b'), 50)
    let settled = false
    const controller = new AbortController()
    void a.request('b', testProtocol, { text: 'x' }, { timeoutMs: 100, signal: controller.signal }).finally(() => { settled = true })
    await clock.runFor(10)
    net.crash('a')
    controller.abort()
    const a2 = net.restart('a')
    await clock.runUntilIdle()
    expect(settled).toBe(false)
    expect(a.pendingRequests).toBe(0)
    expect(a2.pendingRequests).toBe(0)
    // The server's reply reached the new process, which had not asked for it.
    expect(net.stats('b', 'a').delivered).toBe(1)
  })

  it('a server that crashes while handling a request never replies; the caller times out', async () => {
    const { clock, net } = makeNetwork(66)
    const a = net.addNode('a')
    const server = echoServer(net.addNode('b'), 50)
    clock.setTimeout(() => { net.crash('b') }, 20)
    const err = await clock.run(() => a.request('b', testProtocol, { text: 'x' }, { timeoutMs: 200 }), { maxTimeMs: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(server.calls.length).toBe(1)
    expect(net.stats('b', 'a').sent).toBe(0)
  })
})
