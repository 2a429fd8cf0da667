import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConsistencyLevel, PreconditionFailedError, createNode, consistencyLevels, type QuorumKvNode } from '../../src/index.js'
import { silentLogger } from '../support/silent-logger.js'
import { tempDir } from '../support/tmp.js'

describe('a single embedded node', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let node: QuorumKvNode

  beforeEach(async () => {
    dir = await tempDir()
    node = await createNode({ schemaVersion: 1, dataDir: dir.path }, { logger: silentLogger })
  })

  afterEach(async () => {
    await node.stop()
    await dir.cleanup()
  })

  it('returns the written value on an immediate read', async () => {
    const kv = node.client()
    const w = await kv.put('agents/42', { name: 'scout' }, { consistency: ConsistencyLevel.Strong })
    expect(w.key).toBe('agents/42')
    expect(typeof w.version).toBe('string')
    expect(typeof w.etag).toBe('string')
    const e = await kv.get('agents/42', { consistency: 'eventual' })
    expect(e).toMatchObject({ key: 'agents/42', value: { name: 'scout' }, version: w.version, etag: w.etag })
  })

  it('serves every consistency level with the latest write', async () => {
    const kv = node.client()
    for (const [i, level] of consistencyLevels.entries()) {
      await kv.put('cfg/x', i, { consistency: level })
      const e = await kv.get('cfg/x', level === 'bounded' ? { consistency: level, maxStalenessMs: 0 } : { consistency: level })
      expect(e?.value).toBe(i)
    }
  })

  it('resolves a get of a missing or deleted key to undefined', async () => {
    const kv = node.client()
    expect(await kv.get('nothing/here')).toBeUndefined()
    await kv.put('tmp/a', 'x')
    const d = await kv.delete('tmp/a')
    expect(d.version).not.toBe('')
    expect(await kv.get('tmp/a')).toBeUndefined()
  })

  it('refuses a write whose ifMatch is stale and writes nothing', async () => {
    const kv = node.client()
    const first = await kv.put('agents/1', { v: 1 })
    await kv.put('agents/1', { v: 2 })
    await expect(kv.put('agents/1', { v: 3 }, { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError)
    await expect(kv.delete('agents/1', { ifMatch: first.etag })).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' })
    expect((await kv.get('agents/1'))?.value).toEqual({ v: 2 })
  })

  it('applies a write whose ifMatch is current, and only one of two racing ones', async () => {
    const kv = node.client()
    const base = await kv.put('locks/a', 'free')
    const results = await Promise.allSettled([
      kv.put('locks/a', 'alice', { ifMatch: base.etag }),
      kv.put('locks/a', 'bob', { ifMatch: base.etag })
    ])
    const won = results.filter(r => r.status === 'fulfilled')
    expect(won).toHaveLength(1)
    const holder = (await kv.get('locks/a'))?.value
    expect(['alice', 'bob']).toContain(holder)
  })

  it('fails ifMatch on a key that does not exist', async () => {
    const kv = node.client()
    await expect(kv.put('agents/none', 1, { ifMatch: 'r1' })).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' })
    expect(await kv.get('agents/none')).toBeUndefined()
  })

  it('keeps values of every msgpack type intact', async () => {
    const kv = node.client()
    const values: unknown[] = ['text', 42, -1.5, true, null, [1, 'a', { b: [] }], { nested: { deep: new Uint8Array([1, 2, 3]) } }, new Uint8Array([0, 255])]
    for (const [i, value] of values.entries()) {
      await kv.put(`types/${i}`, value)
      const read = (await kv.get(`types/${i}`))?.value
      // Byte strings come back as Buffer, Node's Uint8Array subclass.
      expect(plainBytes(read)).toEqual(value)
    }
  })

  it('advances the session token with every write and read', async () => {
    const kv = node.client()
    const before = kv.session()
    const w = await kv.put('s/a', 1)
    expect(w.session).not.toBe(before)
    expect(kv.session()).toBe(w.session)
    const other = node.client()
    const e = await other.get('s/a', { consistency: 'causal', session: w.session })
    expect(e?.value).toBe(1)
  })

  it('exposes Prometheus metrics for requests and errors', async () => {
    const kv = node.client()
    await kv.put('m/a', 1, { consistency: 'strong' })
    await kv.get('m/a', { consistency: 'eventual' })
    await kv.put('m/a', 2, { ifMatch: 'r999' }).catch(() => {})
    const text = await node.metrics()
    expect(text).toMatch(/quorumkv_requests_total\{op="put",consistency="strong"\} 1/)
    expect(text).toMatch(/quorumkv_requests_total\{op="get",consistency="eventual"\} 1/)
    expect(text).toMatch(/quorumkv_errors_total\{op="put",code="PRECONDITION_FAILED"\} 1/)
    expect(text).toMatch(/quorumkv_request_duration_seconds_bucket/)
    expect(text).toMatch(/quorumkv_payload_bytes_bucket\{le="64",op="put"\}/)
  })

  it('groups concurrent writes into shared synced batches', async () => {
    const kv = node.client()
    await Promise.all(Array.from({ length: 200 }, async (_, i) => await kv.put(`g/${i}`, i)))
    const text = await node.metrics()
    const count = Number(/quorumkv_commit_batch_size_count (\d+)/.exec(text)?.[1])
    const sum = Number(/quorumkv_commit_batch_size_sum (\d+)/.exec(text)?.[1])
    expect(sum).toBe(200)
    expect(count).toBeLessThan(200)
  })

  it('refuses calls after stop', async () => {
    const kv = node.client()
    await node.stop()
    await expect(kv.get('a')).rejects.toMatchObject({ code: 'CLOSED' })
    expect(() => node.client()).toThrow(/stopped/)
  })
})

describe('reopening a data directory', () => {
  it('shows every acknowledged write after a clean stop', async () => {
    const dir = await tempDir()
    try {
      const a = await createNode({ schemaVersion: 1, dataDir: dir.path }, { logger: silentLogger })
      const kv = a.client()
      const writes = await Promise.all(Array.from({ length: 100 }, async (_, i) => await kv.put(`r/${i}`, { i })))
      await kv.delete('r/0')
      await a.stop()
      const b = await createNode({ schemaVersion: 1, dataDir: dir.path }, { logger: silentLogger })
      const kv2 = b.client()
      expect(await kv2.get('r/0')).toBeUndefined()
      for (let i = 1; i < 100; i++) {
        const e = await kv2.get(`r/${i}`)
        expect(e?.value).toEqual({ i })
        expect(e?.etag).toBe(writes[i]?.etag)
      }
      // Versions keep increasing across restarts: an etag from before is never reused.
      const next = await kv2.put('r/1', 'again')
      expect(Number(next.version)).toBeGreaterThan(Math.max(...writes.map(w => Number(w.version))))
      await b.stop()
    } finally {
      await dir.cleanup()
    }
  })

  it('refuses a second node on the same data directory', async () => {
    const dir = await tempDir()
    const a = await createNode({ schemaVersion: 1, dataDir: dir.path }, { logger: silentLogger })
    try {
      await expect(createNode({ schemaVersion: 1, dataDir: dir.path }, { logger: silentLogger })).rejects.toMatchObject({ code: 'STORAGE' })
    } finally {
      await a.stop()
      await dir.cleanup()
    }
  })
})

function plainBytes (value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (Array.isArray(value)) return value.map(plainBytes)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainBytes(v)]))
  return value
}
