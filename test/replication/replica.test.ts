import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { ClosedError } from '../../src/api/errors.js'
import { QuorumReplica } from '../../src/replication/replica.js'
import type { Transport } from '../../src/transport/types.js'
import { clusterConfig, dec, enc } from './cluster.js'
import { MemoryEngine } from './memory-engine.js'

/** A transport for a node without peers: the replica registers its handler and never sends. */
function loneTransport (id: string): Transport & { handlers: number } {
  const t = {
    localId: id,
    handlers: 0,
    handle: () => { t.handlers++ },
    unhandle: () => { t.handlers-- },
    send: () => false,
    request: async () => { throw new Error('a lone node sends no requests') }
  }
  return t
}

describe('QuorumReplica lifecycle', () => {
  it('serves a single node without peers, and keeps its clock and sequence across a stop and start', async () => {
    const engine = new MemoryEngine()
    const transport = loneTransport('solo')
    const config = clusterConfig()
    const registry = new Registry()
    const first = new QuorumReplica({ transport, engine, registry }, { config, members: ['solo'] })
    await expect(first.get('lww/k')).rejects.toThrow(ClosedError)
    await first.start()
    expect(transport.handlers).toBe(1)
    const w1 = await first.put('lww/k', enc('one'), { w: 2 })
    const r1 = await first.get('lww/k', { r: 2, session: w1.session })
    expect(r1.entry?.merge === 'lww' ? dec(r1.entry.value) : undefined).toBe('one')
    await first.stop()
    expect(transport.handlers).toBe(0)
    const second = new QuorumReplica({ transport, engine, registry }, { config, members: ['solo'] })
    await second.start()
    const w2 = await second.put('lww/k', enc('two'), { session: w1.session })
    expect(w2.version > w1.version).toBe(true)
    expect((await second.store.nextSeq())).toBeGreaterThan(1)
    const r2 = await second.get('lww/k', { session: w2.session })
    expect(r2.entry?.merge === 'lww' ? dec(r2.entry.value) : undefined).toBe('two')
    expect(await registry.metrics()).toContain('quorumkv_hints_pending 0')
    await second.stop()
  })

  it('refuses to start as a node that is not on its own ring', () => {
    expect(() => new QuorumReplica({ transport: loneTransport('x'), engine: new MemoryEngine() }, { config: clusterConfig(), members: ['y'] })).toThrow(/not among/)
  })
})
