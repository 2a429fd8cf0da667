import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { QuorumKvNode } from '../../src/index.js'
import { startInProcessNodes } from '../support/in-process-cluster.js'
import { tempDir } from '../support/tmp.js'
import { waitFor } from '../support/wait.js'

/**
 * Five bootstrap members listed without roles (nodes in this process, real libp2p on 127.0.0.1):
 * the default rule (raft.voters = 3) makes the first three voters and the last two learners. The
 * learners apply the log and serve eventual reads; they count toward no quorum.
 */
describe('bootstrap members beyond raft.voters are learners', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let nodes: QuorumKvNode[]
  let ids: string[]
  const stopped = new Set<number>()
  const node = (i: number): QuorumKvNode => nodes[i] as QuorumKvNode

  beforeAll(async () => {
    dir = await tempDir()
    const started = await startInProcessNodes(dir.path, 5, {
      raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50 },
      gossip: { probeIntervalMs: 500, probeTimeoutMs: 250, gossipIntervalMs: 200 },
      antiEntropy: { enabled: false }
    })
    nodes = started.nodes
    ids = started.ids
  })

  afterAll(async () => {
    await Promise.all(nodes.map(async (n, i) => { if (!stopped.has(i)) await n.stop() }))
    await dir.cleanup()
  })

  async function stop (i: number): Promise<void> {
    stopped.add(i)
    await node(i).stop()
  }

  it('starts with the first three members as voters and the other two as learners', async () => {
    await waitFor(() => node(0).raftStatus()?.leader !== null)
    for (const n of nodes) {
      expect(n.raftStatus()?.voters).toEqual(ids.slice(0, 3))
      expect(n.raftStatus()?.learners).toEqual(ids.slice(3))
    }
    expect(ids.slice(0, 3)).toContain(node(0).raftStatus()?.leader)
  })

  it('a learner applies the log and serves an eventual read of what a voter wrote', async () => {
    const w = await node(0).client().put('l/applied', 'seen by the learners')
    for (const learner of [3, 4]) {
      await waitFor(async () => (await node(learner).client().get('l/applied', { consistency: 'eventual' }))?.version === w.version)
      // The version of a raft write is its log index. The applied index follows the data by a turn:
      // a read may find the entry's batch in LevelDB before the batch's write has returned.
      await waitFor(() => (node(learner).raftStatus()?.appliedIndex ?? 0) >= Number(w.version))
    }
  })

  it('writes commit with a learner stopped, and do not commit with two of three voters stopped although a learner is alive', async () => {
    await stop(4)
    const w = await node(1).client().put('l/without-learner', 'committed by the voters')
    expect((await node(2).client().get('l/without-learner', { consistency: 'strong' }))?.version).toBe(w.version)
    await waitFor(async () => (await node(3).client().get('l/without-learner', { consistency: 'eventual' }))?.version === w.version)

    // Voters 1 and 2 stop: voter 0 and learner 3 are alive, two of four members but one of three voters.
    await stop(1)
    await stop(2)
    await expect(node(0).client().put('l/no-quorum', 'must not commit', { timeoutMs: 1_500 })).rejects.toMatchObject({ code: 'TIMEOUT' })
    await expect(node(3).client().put('l/no-quorum', 'must not commit', { timeoutMs: 1_500 })).rejects.toMatchObject({ code: 'TIMEOUT' })
    // The learner cannot campaign, and the lone voter cannot win: nobody leads.
    await waitFor(() => node(0).raftStatus()?.role !== 'leader')
    expect(node(3).raftStatus()?.role).not.toBe('leader')
    expect(await node(3).client().get('l/no-quorum', { consistency: 'eventual' })).toBeUndefined()
  })
})

