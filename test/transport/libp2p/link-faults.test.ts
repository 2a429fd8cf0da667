import { afterEach, describe, expect, it } from 'vitest'
import { InvalidArgumentError, UnauthorizedError, UnavailableError } from '../../../src/api/errors.js'
import type { QuorumKvError } from '../../../src/api/errors.js'
import { LinkFaults } from '../../../src/transport/libp2p/link-faults.js'
import { protocolId } from '../../../src/transport/types.js'
import { eventually, startNode, startPair } from './helpers.js'
import type { TestNode } from './helpers.js'

const echo = protocolId('echo')
const nodes: TestNode[] = []
/** Far longer than a refused dial takes: a request that fails before it failed fast, not by timing out. */
const timeoutMs = 20_000

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.transport.stop()
})

async function pair (): Promise<[TestNode, TestNode]> {
  const both = await startPair()
  nodes.push(...both)
  for (const n of both) n.transport.handle(echo, { parse: (x: unknown) => x, onRequest: async (_f, m) => m })
  return both
}

async function rejection (promise: Promise<unknown>): Promise<QuorumKvError> {
  return await promise.then(() => { throw new Error('expected a rejection') }, (err: QuorumKvError) => err)
}

const connections = (from: TestNode, to: TestNode): number => from.transport['node']?.getConnections(to.transport['node']?.peerId).length ?? 0

describe('LinkFaults (the partition harness\'s hook)', () => {
  it('a cut on both ends closes the connection and makes requests fail with UnavailableError in both directions; a heal restores them at once', async () => {
    const [a, b] = await pair()
    const fa = new LinkFaults(a.transport, () => true)
    const fb = new LinkFaults(b.transport, () => true)
    expect(await a.transport.request(b.transport.peerId, echo, 1, { timeoutMs })).toBe(1)
    expect(connections(a, b)).toBeGreaterThan(0)

    fa.cutLinks([b.transport.peerId])
    fb.cutLinks([a.transport.peerId])
    expect(fa.cutPeers).toEqual([b.transport.peerId])
    await eventually(() => connections(a, b) === 0 && connections(b, a) === 0)
    const ab = await rejection(a.transport.request(b.transport.peerId, echo, 2, { timeoutMs }))
    expect(ab).toBeInstanceOf(UnavailableError)
    expect(ab.details).toMatchObject({ reason: 'not_allowed' })
    const ba = await rejection(b.transport.request(a.transport.peerId, echo, 3, { timeoutMs }))
    expect(ba).toBeInstanceOf(UnavailableError)
    expect(a.transport.send(b.transport.peerId, echo, 'x')).toBe(false)

    // The refused dials put each peer in backoff; the heal lifts it, so the first request goes through.
    fa.healLinks()
    fb.healLinks()
    expect(fa.cutPeers).toEqual([])
    expect(await a.transport.request(b.transport.peerId, echo, 4, { timeoutMs })).toBe(4)
    expect(await b.transport.request(a.transport.peerId, echo, 5, { timeoutMs })).toBe(5)
  })

  it('a request in flight when the link is cut fails with UnavailableError, not at its deadline', async () => {
    const [a, b] = await pair()
    let started = 0
    b.transport.unhandle(echo)
    b.transport.handle(echo, { parse: (x: unknown) => x, onRequest: async () => { started++; return await new Promise(() => {}) } })
    const hung = rejection(a.transport.request(b.transport.peerId, echo, 'x', { timeoutMs }))
    await eventually(() => started === 1)
    new LinkFaults(a.transport, () => true).cutLinks([b.transport.peerId])
    new LinkFaults(b.transport, () => true).cutLinks([a.transport.peerId])
    expect(await hung).toBeInstanceOf(UnavailableError)
  })

  it('a cut on one end only refuses the other end\'s dials on arrival (which is why the harness cuts both ends)', async () => {
    const [a, b] = await pair()
    new LinkFaults(b.transport, () => true).cutLinks([a.transport.peerId])
    await eventually(() => connections(a, b) === 0)
    const err = await rejection(a.transport.request(b.transport.peerId, echo, 1, { timeoutMs }))
    expect(err instanceof UnauthorizedError || err instanceof UnavailableError).toBe(true)
  })

  it('keeps the normal access decision underneath: a peer it refuses stays refused after a heal', async () => {
    const [a, b] = await pair()
    const c = await startNode()
    nodes.push(c)
    c.transport.handle(echo, { parse: (x: unknown) => x, onRequest: async (_f, m) => m })
    a.transport.setPeerAddresses(c.transport.peerId, c.transport.multiaddrs)
    const faults = new LinkFaults(a.transport, peer => peer !== c.transport.peerId)
    faults.cutLinks([b.transport.peerId])
    faults.healLinks()
    expect(await a.transport.request(b.transport.peerId, echo, 1, { timeoutMs })).toBe(1)
    const err = await rejection(a.transport.request(c.transport.peerId, echo, 2, { timeoutMs }))
    expect(err).toBeInstanceOf(UnavailableError)
    expect(err.details).toMatchObject({ reason: 'not_allowed' })
  })

  it('refuses a cut of its own link and a malformed list', async () => {
    const [a] = await pair()
    const faults = new LinkFaults(a.transport, () => true)
    expect(() => { faults.cutLinks([a.transport.peerId]) }).toThrow(InvalidArgumentError)
    expect(() => { faults.cutLinks([42 as unknown as string]) }).toThrow(InvalidArgumentError)
    expect(() => { faults.cutLinks(Array.from({ length: 300 }, (_, i) => `p${i}`)) }).toThrow(InvalidArgumentError)
    expect(faults.cutPeers).toEqual([])
  })
})
