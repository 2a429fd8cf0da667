import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { QuorumKvNode } from '../../src/index.js'
import { startInProcessNodes } from '../support/in-process-cluster.js'
import { tempDir } from '../support/tmp.js'
import { waitFor } from '../support/wait.js'

/** Three nodes in this process over real libp2p on 127.0.0.1: the read levels across replicas. */
describe('reads across the replicas of a raft collection', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let nodes: QuorumKvNode[]

  beforeAll(async () => {
    dir = await tempDir()
    nodes = (await startInProcessNodes(dir.path, 3, {
      raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50 },
      gossip: { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 100 }
    })).nodes
  })

  afterAll(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await dir.cleanup()
  })

  it('a strong read on any replica returns the write that completed just before it on another', async () => {
    const clients = nodes.map(n => n.client())
    for (let i = 0; i < 60; i++) {
      const value = `v${i}`
      await (clients[i % 3] as typeof clients[0]).put('x/strong', value)
      const e = await (clients[(i + 1) % 3] as typeof clients[0]).get('x/strong', { consistency: 'strong' })
      expect(e?.value).toBe(value)
    }
  })

  it('a read-your-writes read on another replica, given the writer\'s session, sees the write', async () => {
    for (let i = 0; i < 60; i++) {
      const writer = (nodes[i % 3] as QuorumKvNode).client()
      const reader = (nodes[(i + 2) % 3] as QuorumKvNode).client()
      const w = await writer.put('x/ryw', i)
      const e = await reader.get('x/ryw', { consistency: 'read-your-writes', session: w.session })
      expect(e?.value).toBe(i)
      const c = await reader.get('x/ryw', { consistency: 'causal' })
      expect(c?.value).toBe(i) // the reader's own session now includes what it observed
    }
  })

  it('a conditional write is decided once, cluster-wide, when two replicas race', async () => {
    const [a, b] = [(nodes[0] as QuorumKvNode).client(), (nodes[1] as QuorumKvNode).client()]
    for (let i = 0; i < 20; i++) {
      const base = await a.put(`locks/${i}`, 'free')
      const results = await Promise.allSettled([
        a.put(`locks/${i}`, 'alice', { ifMatch: base.etag }),
        b.put(`locks/${i}`, 'bob', { ifMatch: base.etag })
      ])
      expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(1)
      expect(results.filter(r => r.status === 'rejected').map(r => (r as PromiseRejectedResult).reason.code)).toEqual(['PRECONDITION_FAILED'])
    }
  })

  it('lists every member with its role and liveness, and sees a stopped member die', async () => {
    const node = nodes[0] as QuorumKvNode
    await waitFor(() => node.members().every(m => m.liveness === 'alive') && node.members().length === 3)
    const members = node.members()
    expect(members.map(m => m.role)).toEqual(['voter', 'voter', 'voter'])
    expect(members[0]?.peerId).toBe(node.peerId)
    expect(members[0]?.lastSeenAgeMs).toBe(0)
    const victim = nodes[2] as QuorumKvNode
    await victim.stop()
    await waitFor(() => node.members().find(m => m.peerId === victim.peerId)?.liveness === 'dead')
    expect((nodes[1] as QuorumKvNode).members().find(m => m.peerId === victim.peerId)?.liveness).not.toBe('alive')
  })
})

