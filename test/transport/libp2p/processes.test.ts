import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePorts } from '../../../cluster/ports.js'
import { PeerProcess } from './peer-process.js'
import type { PeerProcessConfig, Reply } from './peer-process.js'

let root: string
const running: PeerProcess[] = []

beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'qkv-transport-')) })
afterAll(async () => { await rm(root, { recursive: true, force: true }) })
afterEach(async () => { for (const p of running.splice(0)) await p.stop() })

async function start (name: string, config: Partial<PeerProcessConfig> = {}): Promise<PeerProcess> {
  const peer = await PeerProcess.start({ dataDir: join(root, name), listen: ['/ip4/127.0.0.1/tcp/0'], allow: '*', ...config })
  running.push(peer)
  return peer
}

async function introduce (peers: PeerProcess[]): Promise<void> {
  for (const a of peers) for (const b of peers) if (a !== b) await a.ok('setPeer', { peerId: b.peerId, addrs: b.multiaddrs })
}

function errorOf (reply: Reply): { code: string, name: string } {
  if (reply.ok) throw new Error(`expected an error, got ${JSON.stringify(reply.result)}`)
  return reply.error
}

describe('transport between real processes', () => {
  it('two processes exchange requests and one-way messages both ways', async () => {
    const [a, b] = await Promise.all([start('two-a'), start('two-b')])
    await introduce([a, b])
    expect(await a.ok('request', { to: b.peerId, protocol: 'echo', body: { hi: 'b' } })).toEqual({ from: a.peerId, body: { hi: 'b' } })
    expect(await b.ok('request', { to: a.peerId, protocol: 'echo', body: [1, 2] })).toEqual({ from: b.peerId, body: [1, 2] })
    for (let i = 0; i < 5; i++) expect(await a.ok('send', { to: b.peerId, protocol: 'echo', body: i })).toBe(true)
    // A request after the messages on the same protocol and stream returns after they were delivered.
    await a.ok('request', { to: b.peerId, protocol: 'echo', body: 'flush' })
    expect(await b.ok('messages')).toEqual([0, 1, 2, 3, 4].map(body => ({ from: a.peerId, protocol: 'echo', body })))
    const err = errorOf(await a.call('request', { to: b.peerId, protocol: 'fail', body: { code: 'NOT_LEADER', message: 'ask another', details: { leader: 'x' } } }))
    expect(err).toMatchObject({ name: 'NotLeaderError', code: 'NOT_LEADER', message: 'ask another', details: { leader: 'x' } })
  })

  it('three processes all reach each other', async () => {
    const peers = await Promise.all([start('three-a'), start('three-b'), start('three-c')])
    await introduce(peers)
    for (const from of peers) {
      for (const to of peers) {
        if (from === to) continue
        expect(await from.ok('request', { to: to.peerId, protocol: 'echo', body: `${from.peerId}>${to.peerId}` })).toEqual({ from: from.peerId, body: `${from.peerId}>${to.peerId}` })
        expect(await from.ok('send', { to: to.peerId, protocol: 'echo', body: 'ping' })).toBe(true)
      }
    }
    for (const to of peers) await peers.find(p => p !== to)!.ok('request', { to: to.peerId, protocol: 'echo', body: 'flush' })
    for (const p of peers) {
      const froms = ((await p.ok('messages')) as Array<{ from: string }>).map(m => m.from).sort()
      expect(froms).toEqual(peers.filter(q => q !== p).map(q => q.peerId).sort())
    }
  })

  it('a peer the gater does not allow is refused, and the refusing side logs its peer id', async () => {
    const guarded = await start('gate-a', { allow: [] })
    const stranger = await start('gate-b')
    await stranger.ok('setPeer', { peerId: guarded.peerId, addrs: guarded.multiaddrs })
    const err = errorOf(await stranger.call('request', { to: guarded.peerId, protocol: 'echo', body: 'let me in' }))
    expect(err.code).toBe('UNAUTHORIZED')
    const deadline = Date.now() + 10_000
    while (!guarded.logs.some(l => l.peer === stranger.peerId) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    const refusal = guarded.logs.find(l => l.peer === stranger.peerId)
    expect(refusal).toMatchObject({ peer: stranger.peerId, reason: 'not_allowed', direction: 'inbound', level: 40 })
    const stats = await guarded.ok('stats') as { refused: Record<string, number> }
    expect(stats.refused.inbound).toBeGreaterThanOrEqual(1)
    // Once allowed, the same peer gets in.
    await guarded.ok('allow', { peers: [stranger.peerId] })
    expect(await stranger.ok('request', { to: guarded.peerId, protocol: 'echo', body: 'now?', retry: { attempts: 20, baseDelayMs: 50 } })).toEqual({ from: stranger.peerId, body: 'now?' })
  })

  it('a node keeps its peer id across restarts', async () => {
    const first = await start('restart-id')
    const id = first.peerId
    await first.stop()
    const second = await start('restart-id')
    expect(second.peerId).toBe(id)
  })

  it('a request to a stopped peer fails, and succeeds again once the peer is back (reconnection)', async () => {
    const [port] = await freePorts(1) as [number]
    const listen = [`/ip4/127.0.0.1/tcp/${port}`]
    const a = await start('reconnect-a')
    let b = await start('reconnect-b', { listen })
    await introduce([a, b])
    expect(await a.ok('request', { to: b.peerId, protocol: 'echo', body: 1 })).toEqual({ from: a.peerId, body: 1 })
    await b.kill()
    const down = errorOf(await a.call('request', { to: b.peerId, protocol: 'echo', body: 2, timeoutMs: 1000 }))
    expect(['UNAVAILABLE', 'TIMEOUT']).toContain(down.code)
    // While it is down, calls keep failing fast (backoff), never hang past their deadline.
    const again = errorOf(await a.call('request', { to: b.peerId, protocol: 'echo', body: 3, timeoutMs: 1000 }))
    expect(['UNAVAILABLE', 'TIMEOUT']).toContain(again.code)
    b = await start('reconnect-b', { listen })
    expect(await a.ok('request', { to: b.peerId, protocol: 'echo', body: 4, timeoutMs: 1000, retry: { attempts: 40, baseDelayMs: 50 } })).toEqual({ from: a.peerId, body: 4 })
    // And the other way round, on the connection the restarted peer dials itself.
    expect(await b.ok('request', { to: a.peerId, protocol: 'echo', body: 5 })).toEqual({ from: b.peerId, body: 5 })
  })
})
