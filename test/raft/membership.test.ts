import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePorts } from '../../cluster/ports.js'
import { createNode, generateIdentity, type QuorumKvNode } from '../../src/index.js'
import { silentLogger } from '../support/silent-logger.js'
import { tempDir } from '../support/tmp.js'
import { waitFor } from '../support/wait.js'

/** Membership changes on a live cluster (nodes in this process, real libp2p on 127.0.0.1). */
describe('membership of a raft cluster', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  const nodes: QuorumKvNode[] = []
  let ports: number[]
  let ids: string[]
  const raft = { electionTimeoutMs: 500, heartbeatIntervalMs: 50 }

  async function start (i: number, members: Array<{ peerId: string, multiaddrs: string[] }>, join: string[] = []): Promise<QuorumKvNode> {
    return await createNode({
      schemaVersion: 1,
      dataDir: joinPath(i),
      listen: [`/ip4/127.0.0.1/tcp/${ports[i] as number}`],
      cluster: { members, join },
      raft
    }, { logger: silentLogger })
  }
  const joinPath = (i: number): string => join(dir.path, `n${i}`)
  const addr = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[i] as number}/p2p/${ids[i] as string}`

  beforeAll(async () => {
    dir = await tempDir()
    ports = await freePorts(4)
    ids = []
    for (let i = 0; i < 4; i++) {
      await mkdir(joinPath(i))
      ids.push((await generateIdentity(join(joinPath(i), 'identity.key'))).peerId)
    }
    const members = [0, 1, 2].map(i => ({ peerId: ids[i] as string, multiaddrs: [addr(i)] }))
    nodes.push(...await Promise.all([0, 1, 2].map(async i => await start(i, members))))
  })

  afterAll(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await dir.cleanup()
  })

  it('adds a joining node as a learner that receives the log, promotes it, and removes a voter', async () => {
    const kv = (nodes[0] as QuorumKvNode).client()
    await kv.put('m/before', 'written before the join')
    // The new node knows the members only by address; it is no member until an operator adds it.
    const joiner = await start(3, [], [0, 1, 2].map(addr))
    nodes.push(joiner)
    expect(joiner.raftStatus()?.voters).toEqual([])

    await (nodes[1] as QuorumKvNode).addMember({ peerId: ids[3] as string, multiaddrs: [addr(3)] }, { timeoutMs: 10_000 })
    await waitFor(async () => (await joiner.client().get('m/before', { consistency: 'eventual' }))?.value === 'written before the join')
    expect((nodes[0] as QuorumKvNode).raftStatus()?.learners).toContain(ids[3])

    await (nodes[2] as QuorumKvNode).promoteMember(ids[3] as string, { timeoutMs: 10_000 })
    await waitFor(async () => joiner.raftStatus()?.voters.includes(ids[3] as string) === true)
    const w = await joiner.client().put('m/after', 'via the new voter')
    const e = await (nodes[0] as QuorumKvNode).client().get('m/after', { consistency: 'strong' })
    expect(e?.version).toBe(w.version)

    await joiner.removeMember(ids[2] as string, { timeoutMs: 10_000 })
    await waitFor(async () => (nodes[0] as QuorumKvNode).raftStatus()?.voters.length === 3 && !(nodes[0] as QuorumKvNode).raftStatus()?.voters.includes(ids[2] as string))
    // Three voters remain (0, 1, 3): the cluster still commits with node 2 stopped.
    await (nodes[2] as QuorumKvNode).stop()
    await kv.put('m/without-2', 'still committing')
    expect((await joiner.client().get('m/without-2', { consistency: 'strong' }))?.value).toBe('still committing')
  })

  it('hands leadership to another voter on request, from any member', async () => {
    const live = [nodes[0], nodes[1], nodes[3]] as QuorumKvNode[] // the voters after the first test (node 2 was removed and stopped)
    const before = (live[0] as QuorumKvNode).raftStatus()?.leader
    const target = live.find(n => n.peerId !== before) as QuorumKvNode
    const asker = live.find(n => n.peerId !== target.peerId && n.peerId !== before) ?? target
    await asker.transferLeadership(target.peerId, { timeoutMs: 10_000 })
    await waitFor(() => target.raftStatus()?.role === 'leader')
    const w = await target.client().put('m/after-transfer', 1)
    expect((await (live.find(n => n !== target) as QuorumKvNode).client().get('m/after-transfer', { consistency: 'strong' }))?.version).toBe(w.version)
  })

  it('refuses membership calls with bad arguments', async () => {
    const node = nodes[0] as QuorumKvNode
    await expect(node.addMember({ peerId: 'not a peer id!', multiaddrs: ['/ip4/127.0.0.1/tcp/1'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(node.addMember({ peerId: ids[3] as string, multiaddrs: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })
})

