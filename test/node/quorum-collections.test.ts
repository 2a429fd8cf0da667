import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNode, type QuorumKvNode } from '../../src/index.js'
import { startInProcessNodes } from '../support/in-process-cluster.js'
import { silentLogger } from '../support/silent-logger.js'
import { tempDir } from '../support/tmp.js'

const collections = {
  presence: { mode: 'quorum', merge: 'lww', n: 3, w: 2, r: 2 },
  notes: { mode: 'quorum', merge: 'mv', n: 3, w: 2, r: 2 },
  hits: { mode: 'quorum', merge: 'counter', n: 3, w: 2, r: 2 },
  tags: { mode: 'quorum', merge: 'orset', n: 3, w: 2, r: 2 }
}

describe('quorum collections on one embedded node', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let node: QuorumKvNode

  beforeAll(async () => {
    dir = await tempDir()
    node = await createNode({ schemaVersion: 1, dataDir: dir.path, collections }, { logger: silentLogger })
  })
  afterAll(async () => {
    await node.stop()
    await dir.cleanup()
  })

  it('reads back the last write of an lww register, and refuses strong with what to do instead', async () => {
    const kv = node.client()
    await kv.put('presence/a', { online: true })
    await kv.put('presence/a', { online: false })
    expect((await kv.get('presence/a'))?.value).toEqual({ online: false })
    await expect(kv.get('presence/a', { consistency: 'strong' })).rejects.toMatchObject({ code: 'CONSISTENCY', message: expect.stringMatching(/mode "raft"/) })
    await kv.delete('presence/a')
    expect(await kv.get('presence/a')).toBeUndefined()
  })

  it('keeps concurrent writes of an mv register as siblings until a write with the context resolves them', async () => {
    const a = node.client()
    const b = node.client()
    await a.put('notes/n', 'from a')
    await b.put('notes/n', 'from b') // blind: b never read it, so it is concurrent
    const read = await a.get<string>('notes/n')
    expect(read?.siblings?.sort()).toEqual(['from a', 'from b'])
    expect(typeof read?.context).toBe('string')
    await a.put('notes/n', 'merged', { context: read?.context as string })
    const after = await b.get<string>('notes/n')
    expect(after?.siblings).toEqual(['merged'])
    expect(after?.value).toBe('merged')
  })

  it('counts increments exactly and keeps set members with add-wins semantics', async () => {
    const kv = node.client()
    for (let i = 0; i < 10; i++) await kv.increment('hits/page', 2)
    await kv.increment('hits/page', -5)
    expect((await kv.get('hits/page'))?.value).toBe(15)
    await kv.addToSet('tags/t', 'red')
    await kv.addToSet('tags/t', 'blue')
    await kv.removeFromSet('tags/t', 'red')
    expect((await kv.get<string[]>('tags/t'))?.value).toEqual(['blue'])
  })

  it('refuses an operation the collection does not have', async () => {
    const kv = node.client()
    await expect(kv.put('hits/page', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/use increment/) })
    await expect(kv.increment('presence/x', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(kv.increment('cfg/x', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/raft mode/) })
    await expect(kv.increment('hits/page', 1.5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(kv.addToSet('tags/t', 42 as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect((await kv.get('hits/page'))?.value).toBe(15)
  })

  it('keeps raft collections beside quorum ones', async () => {
    const kv = node.client()
    const w = await kv.put('cfg/x', 1)
    expect((await kv.get('cfg/x', { consistency: 'strong' }))?.version).toBe(w.version)
  })
})

describe('quorum collections across three nodes', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  const nodes: QuorumKvNode[] = []

  beforeAll(async () => {
    dir = await tempDir()
    nodes.push(...(await startInProcessNodes(dir.path, 3, {
      collections,
      raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50 }
    })).nodes)
  })
  afterAll(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await dir.cleanup()
  })

  it('a causal read on another node, given the writer\'s session, sees the write and what it depended on', async () => {
    const writer = (nodes[0] as QuorumKvNode).client()
    const reader = (nodes[2] as QuorumKvNode).client()
    for (let i = 0; i < 20; i++) {
      await writer.put(`notes/a${i}`, `first ${i}`)
      const w = await writer.put(`presence/b${i}`, `second ${i}`, { consistency: 'causal' })
      // Another agent, handed the token, reads the second write and then the first, anywhere.
      expect((await reader.get(`presence/b${i}`, { consistency: 'causal', session: w.session }))?.value).toBe(`second ${i}`)
      expect((await reader.get(`notes/a${i}`, { consistency: 'causal' }))?.value).toBe(`first ${i}`)
    }
  })

  it('counts increments from every node exactly', async () => {
    await Promise.all(nodes.map(async n => { for (let i = 0; i < 10; i++) await n.client().increment('hits/total', 1) }))
    for (const n of nodes) expect((await readAllReplicas(n, 'hits/total'))?.value).toBe(30)
  })

  it('accepts eventual writes (W=1) and reads them back with a session', async () => {
    const kv = (nodes[1] as QuorumKvNode).client()
    const w = await kv.put('presence/e', 'eventual', { consistency: 'eventual' })
    expect((await (nodes[0] as QuorumKvNode).client().get('presence/e', { consistency: 'read-your-writes', session: w.session }))?.value).toBe('eventual')
  })
})

/**
 * A read of every replica (r: 3). On a loaded machine failure detection may hold a node suspect for
 * a moment, and such a read then fails with QUORUM_UNAVAILABLE rather than answer from fewer: it is
 * asked again until every replica answers (at most 10 s).
 */
async function readAllReplicas (n: QuorumKvNode, key: string): ReturnType<ReturnType<QuorumKvNode['client']>['get']> {
  const end = Date.now() + 10_000
  while (true) {
    try {
      return await n.client().get(key, { r: 3 })
    } catch (err) {
      if ((err as { code?: string }).code !== 'QUORUM_UNAVAILABLE' || Date.now() > end) throw err
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
}
