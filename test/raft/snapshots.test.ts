import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePorts } from '../../cluster/ports.js'
import { createNode, generateIdentity, type QuorumKvNode } from '../../src/index.js'
import { silentLogger } from '../support/silent-logger.js'
import { tempDir } from '../support/tmp.js'

/**
 * Log compaction and snapshot transfer on a live cluster (nodes in this process, real libp2p and
 * LevelDB): a member that was down while the log was compacted past it catches up from a snapshot.
 */
describe('raft snapshots', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  const nodes: Array<QuorumKvNode | undefined> = []
  let ports: number[]
  let members: Array<{ peerId: string, multiaddrs: string[] }>
  const events: string[] = []

  const config = (i: number): Record<string, unknown> => ({
    schemaVersion: 1,
    dataDir: join(dir.path, `n${i}`),
    listen: [`/ip4/127.0.0.1/tcp/${ports[i] as number}`],
    cluster: { members },
    raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50, snapshotEveryEntries: 50, catchUpEntries: 10, snapshotChunkBytes: 4096 }
  })
  const capture = pino({ level: 'info' }, new Writable({ write (chunk: Buffer, _enc, done) { events.push(chunk.toString()); done() } }))

  beforeAll(async () => {
    dir = await tempDir()
    ports = await freePorts(3)
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      await mkdir(join(dir.path, `n${i}`))
      ids.push((await generateIdentity(join(dir.path, `n${i}`, 'identity.key'))).peerId)
    }
    members = ids.map((peerId, i) => ({ peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${ports[i] as number}/p2p/${peerId}`] }))
    for (let i = 0; i < 3; i++) nodes.push(await createNode(config(i), { logger: i === 2 ? capture : silentLogger }))
  })

  afterAll(async () => {
    for (const n of nodes) await n?.stop()
    await dir.cleanup()
  })

  it('a member that missed compacted entries catches up from a snapshot and keeps every write', async () => {
    const kv = (nodes[0] as QuorumKvNode).client()
    await kv.put('s/first', 0)
    await (nodes[2] as QuorumKvNode).stop()
    nodes[2] = undefined
    const values = new Map<string, string>()
    for (let i = 0; i < 300; i++) {
      const value = `v${i}-${'x'.repeat(i % 7 === 0 ? 3000 : 10)}`
      await kv.put(`s/${i}`, value)
      values.set(`s/${i}`, value)
    }
    await kv.delete('s/first')
    nodes[2] = await createNode(config(2), { logger: capture })
    const lagging = (nodes[2] as QuorumKvNode).client()
    const deadline = Date.now() + 30_000
    while ((await lagging.get('s/299', { consistency: 'eventual' }))?.value !== values.get('s/299')) {
      if (Date.now() > deadline) throw new Error('the restarted member did not catch up')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(events.some(e => e.includes('"raft_snapshot_installed"'))).toBe(true)
    for (const [key, value] of values) expect((await lagging.get(key, { consistency: 'eventual' }))?.value).toBe(value)
    expect(await lagging.get('s/first', { consistency: 'eventual' })).toBeUndefined()
    // It keeps following the log after the snapshot, and serves strong reads.
    const w = await kv.put('s/after', 'after the snapshot')
    expect((await lagging.get('s/after', { consistency: 'strong' }))?.version).toBe(w.version)
  })

  it('a member restarts from its own compacted log and snapshot with nothing lost', async () => {
    await (nodes[1] as QuorumKvNode).stop()
    nodes[1] = await createNode(config(1), { logger: silentLogger })
    const kv = (nodes[1] as QuorumKvNode).client()
    expect((await kv.get('s/0', { consistency: 'strong' }))?.value).toBe(`v0-${'x'.repeat(3000)}`)
    const w = await kv.put('s/after-restart', 1)
    expect((await (nodes[2] as QuorumKvNode).client().get('s/after-restart', { consistency: 'strong' }))?.version).toBe(w.version)
  })
})
