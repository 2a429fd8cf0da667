import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, UnavailableError } from '../../../src/api/errors.js'
import { Libp2pTransport, generatePrivateNetworkKey } from '../../../src/transport/libp2p/index.js'
import { protocolId } from '../../../src/transport/types.js'
import { captureLogs, startNode } from './helpers.js'
import type { TestNode } from './helpers.js'
import { PeerProcess } from './peer-process.js'

const echo = protocolId('echo')
const nodes: TestNode[] = []
const processes: PeerProcess[] = []

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.transport.stop()
  for (const p of processes.splice(0)) await p.stop()
})

async function node (privateNetworkKey?: Uint8Array): Promise<TestNode> {
  // A dial across mismatched keys hangs until the dial deadline: keep it short here.
  const n = await startNode({ dialTimeoutMs: 1000, ...(privateNetworkKey === undefined ? {} : { privateNetworkKey }) })
  n.transport.handle(echo, { parse: x => x, onRequest: async (_f, m) => m })
  nodes.push(n)
  return n
}

describe('private network (pnet)', () => {
  it('members with the same key talk; nodes with another key or none cannot connect', async () => {
    const key = generatePrivateNetworkKey()
    const [a, b, other, open] = [await node(key), await node(key), await node(generatePrivateNetworkKey()), await node()]
    a.transport.setPeerAddresses(b.transport.peerId, b.transport.multiaddrs)
    expect(await a.transport.request(b.transport.peerId, echo, 'in', { timeoutMs: 5000 })).toBe('in')
    for (const outsider of [other, open]) {
      outsider.transport.setPeerAddresses(b.transport.peerId, b.transport.multiaddrs)
      await expect(outsider.transport.request(b.transport.peerId, echo, 'let me in', { timeoutMs: 5000 })).rejects.toBeInstanceOf(UnavailableError)
      a.transport.setPeerAddresses(outsider.transport.peerId, outsider.transport.multiaddrs)
      await expect(a.transport.request(outsider.transport.peerId, echo, 'hello?', { timeoutMs: 5000 })).rejects.toBeInstanceOf(UnavailableError)
    }
  })

  it('refuses a per-peer queue larger than its cipher can carry', async () => {
    const make = (peerQueueBytesMax: number): Libp2pTransport => new Libp2pTransport({ logger: captureLogs().logger, registry: new Registry() }, {
      privateKey: key,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      isAllowed: () => true,
      privateNetworkKey: generatePrivateNetworkKey(),
      peerQueueBytesMax
    })
    const key = await generateKeyPair('Ed25519')
    expect(() => make(64 * 1024 * 1024)).toThrow(ConfigError)
    expect(() => make(8 * 1024 * 1024)).not.toThrow()
  })

  it('two processes survive bursts of large and small requests both ways with the default limits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qkv-pnet-'))
    try {
      const privateNetworkKey = new TextDecoder().decode(generatePrivateNetworkKey())
      const config = { listen: ['/ip4/127.0.0.1/tcp/0'], allow: '*' as const, privateNetworkKey, logLevel: 'warn' }
      const a = await PeerProcess.start({ dataDir: join(dir, 'a'), ...config })
      const b = await PeerProcess.start({ dataDir: join(dir, 'b'), ...config })
      processes.push(a, b)
      await a.ok('setPeer', { peerId: b.peerId, addrs: b.multiaddrs })
      await b.ok('setPeer', { peerId: a.peerId, addrs: a.multiaddrs })
      const counts = await Promise.all([
        a.ok('burst', { to: b.peerId, bytes: 4_000_000, count: 8 }),
        b.ok('burst', { to: a.peerId, bytes: 4_000_000, count: 8 }),
        a.ok('burst', { to: b.peerId, bytes: 64 * 1024, count: 256 }),
        b.ok('burst', { to: a.peerId, bytes: 64, count: 1000 })
      ]) as Array<Record<string, number>>
      // Every request either went through or was refused at once by a full queue; no lost links.
      for (const c of counts) expect(Object.keys(c).filter(code => code !== 'ok' && code !== 'OVERLOADED'), JSON.stringify(counts)).toEqual([])
      expect(counts.reduce((n, c) => n + (c.ok ?? 0), 0)).toBeGreaterThan(0)
      expect(a.child.exitCode).toBeNull()
      expect(b.child.exitCode).toBeNull()
      expect(await a.ok('request', { to: b.peerId, protocol: 'echo', body: 'still here' })).toEqual({ from: a.peerId, body: 'still here' })
    } finally {
      for (const p of processes.splice(0)) await p.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
