import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalCluster } from '../../cluster/local.js'
import { connect, type Client } from '../../src/index.js'
import { loadIdentity } from '../../src/transport/libp2p/identity.js'
import { runInProcess as cli } from '../cli/run-cli.js'
import { readReplicaDisk } from '../support/replica-disk.js'
import { tempDir } from '../support/tmp.js'

/**
 * Issue 6: a node is stopped, writes continue, its data directory is deleted and it comes back
 * empty. Its identity lived in that directory, so it returns as a new member (a node that lost its
 * data must not reuse its old id: it would reissue version-vector dots others already hold); an
 * operator adds it, promotes it and removes the old id. With read repair off and hinted handoff
 * stretched past the test, anti-entropy alone must give it every key of the quorum collection.
 */
describe('a node that lost its data directory', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let cluster: LocalCluster
  let kv: Client

  beforeAll(async () => {
    dir = await tempDir()
    cluster = await LocalCluster.start({
      nodes: 3,
      dir: dir.path,
      logLevel: 'warn',
      configOverrides: {
        raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50 },
        collections: { q: { mode: 'quorum', merge: 'lww', n: 3, w: 2, r: 2 } },
        quorum: { readRepair: false, handoffIntervalMs: 3_600_000 },
        antiEntropy: { intervalMs: 300, rangesPerRoundMax: 1_000 }
      }
    })
    kv = await connect({ peers: cluster.members.slice(0, 2).flatMap(m => m.multiaddrs), identity: cluster.clientKey, requestTimeoutMs: 5_000 })
  })

  afterAll(async () => {
    await kv?.close()
    await cluster?.stopAll()
    await dir?.cleanup()
  })

  it('is filled again by anti-entropy once it rejoins empty', async () => {
    const written = new Map<string, string>()
    for (let i = 0; i < 150; i++) {
      await kv.put(`q/before-${i}`, `b${i}`)
      written.set(`q/before-${i}`, `b${i}`)
    }
    const node3 = cluster.member('node3')
    const oldId = node3.peerId
    await cluster.kill('node3', 'SIGKILL')
    for (let i = 0; i < 150; i++) {
      await kv.put(`q/during-${i}`, `d${i}`)
      written.set(`q/during-${i}`, `d${i}`)
    }
    await rm(node3.dataDir, { recursive: true, force: true })
    await cluster.startMember('node3') // a new identity in an empty data directory
    const newId = (await loadIdentity(join(node3.dataDir, 'identity.key'))).peerId
    expect(newId).not.toBe(oldId)
    const addr = (node3.multiaddrs[0] as string).replace(/\/p2p\/.*$/, `/p2p/${newId}`)
    const target = ['--dir', dir.path]
    for (const args of [['member', 'add', newId, '--addr', addr], ['member', 'promote', newId], ['member', 'remove', oldId]]) {
      let result = await cli([...args, ...target])
      // Promotion waits until the learner has caught up with the log: retry for a while.
      for (let i = 0; i < 40 && result.code !== 0; i++) {
        await new Promise(resolve => setTimeout(resolve, 250))
        result = await cli([...args, ...target])
      }
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0)
    }

    // Wait until node3's own disk holds every key (it is stopped to read its LevelDB directly).
    const keys = [...written.keys()].map(key => ({ key, merge: 'lww' as const }))
    let missing = keys.length
    for (let attempt = 0; attempt < 10 && missing > 0; attempt++) {
      await new Promise(resolve => setTimeout(resolve, 2_000))
      await cluster.kill('node3', 'SIGTERM')
      const disk = await readReplicaDisk(node3.dataDir, keys)
      missing = keys.filter(({ key }) => disk.get(key)?.value !== written.get(key)).length
      if (missing > 0) await cluster.startMember('node3')
    }
    expect(missing).toBe(0)
  })
})
