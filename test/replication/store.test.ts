import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { ConfigError, OverloadedError } from '../../src/api/errors.js'
import { emptyVersionVector } from '../../src/clock/version-vector.js'
import { applyIncrement, applyRegisterWrite, emptyRecord, readView, stateContext, type ReplicaRecord } from '../../src/replication/record.js'
import { ReplicaStore, type ReplicaEngine } from '../../src/replication/store.js'
import { StorageEngine } from '../../src/storage/engine.js'
import { encodeRaftRecord } from '../../src/storage/records.js'
import { inTempDir } from '../support/tmp.js'
import { MemoryEngine } from './memory-engine.js'

const limits = { siblingsWarn: 10, siblingsMax: 20 }

function manualTime (): { now: () => number, setTimeout: () => { cancel: () => void }, advance: (ms: number) => void } {
  let t = 1_000
  return { now: () => t, setTimeout: () => ({ cancel: () => {} }), advance: (ms: number) => { t += ms } }
}

async function open<E extends ReplicaEngine = MemoryEngine> (engine: E = new MemoryEngine() as unknown as E, hintsMax = 100, registry?: Registry): Promise<{ store: ReplicaStore, engine: E, time: ReturnType<typeof manualTime> }> {
  const time = manualTime()
  const store = await ReplicaStore.open({ engine, time, ...(registry !== undefined ? { registry } : {}) }, { node: 'a', hintsMax })
  return { store, engine, time }
}

async function put (store: ReplicaStore, key: string, value: string, hintTargets: string[] = []): Promise<ReplicaRecord> {
  const seq = await store.nextSeq()
  return await store.update(key, 'mv', (current) => {
    const base = current ?? emptyRecord('mv')
    const w = applyRegisterWrite(base.state, { node: 'a', seq, context: stateContext(base.state), value: value === '' ? null : Buffer.from(value) }, limits)
    const record = { state: w.state, deps: base.deps }
    return { record, hintTargets, result: record }
  })
}

describe('ReplicaStore', () => {
  it('stores a record durably and reads it back after reopening', async () => {
    const { store, engine } = await open()
    await put(store, 'c/k', 'x')
    const again = await open(engine)
    const rec = await again.store.read('c/k', 'mv')
    expect(rec === undefined ? undefined : readView(rec.state)).toMatchObject({ merge: 'mv', values: [Buffer.from('x')] })
  })

  it('issues node-wide sequence numbers that keep increasing across restarts', async () => {
    const { store, engine } = await open()
    const first = [await store.nextSeq(), await store.nextSeq()]
    const again = await open(engine)
    const next = await again.store.nextSeq()
    expect(first[1]).toBeGreaterThan(first[0] as number)
    expect(next).toBeGreaterThan(first[1] as number)
  })

  it('serialises concurrent read-modify-writes of one key: no increment is lost', async () => {
    const { store } = await open()
    await Promise.all(Array.from({ length: 50 }, async () => {
      const seq = await store.nextSeq()
      await store.update('c/n', 'counter', (current) => {
        const base = current ?? emptyRecord('counter')
        return { record: { state: applyIncrement(base.state, 'a', seq, 1), deps: base.deps }, result: undefined }
      })
    }))
    const rec = await store.read('c/n', 'counter')
    expect(rec === undefined ? undefined : readView(rec.state)).toEqual({ merge: 'counter', value: 50 })
  })

  it('writes hints with the record, counts them in quorumkv_hints_pending, and keeps them across restarts', async () => {
    const registry = new Registry()
    const { store, engine } = await open(new MemoryEngine(), 100, registry)
    await put(store, 'c/k', 'x', ['b', 'c', 'a'])
    expect(store.hintsPending).toBe(2)
    expect(store.hintTargets().sort()).toEqual(['b', 'c'])
    expect(await registry.getSingleMetricAsString('quorumkv_hints_pending')).toContain('quorumkv_hints_pending 2')
    const again = await open(engine)
    expect(again.store.hintsPending).toBe(2)
    expect(again.store.hintedKeys('b', 10)).toEqual(['c/k'])
  })

  it('clears a hint only when the acknowledged state covers it, so an older ack cannot drop a newer write\'s hint', async () => {
    const { store } = await open()
    const first = await put(store, 'c/k', 'x', ['b'])
    const second = await put(store, 'c/k', 'y', ['b'])
    expect(await store.clearHint('c/k', 'b', stateContext(first.state))).toBe(false)
    expect(store.hasHint('b', 'c/k')).toBe(true)
    expect(await store.clearHint('c/k', 'b', stateContext(second.state))).toBe(true)
    expect(store.hintsPending).toBe(0)
  })

  it('clears the hints acknowledged in one turn with one write; a write that refreshes a hint meanwhile keeps its own', async () => {
    await inTempDir(async (path) => {
      const disk = await StorageEngine.open(path)
      const writes: string[][] = []
      const engine: ReplicaEngine = {
        get: async (...a) => await disk.get(...a),
        getMany: async (...a) => await disk.getMany(...a),
        entries: (...a) => disk.entries(...a),
        write: async (ops, o) => { writes.push(ops.map(op => `${op.type} ${op.sublevel}`)); await disk.write(ops, o) }
      }
      const { store } = await open(engine)
      const r1 = await put(store, 'c/1', 'x', ['b', 'c'])
      const r2 = await put(store, 'c/2', 'y', ['b'])
      const r3 = await put(store, 'c/3', 'z', ['b'])
      writes.length = 0
      // The answers of one replicate batch.
      store.clearHintSoon('c/1', 'b', stateContext(r1.state))
      store.clearHintSoon('c/1', 'c', stateContext(r1.state))
      store.clearHintSoon('c/2', 'b', stateContext(r2.state))
      // A key whose lock is held: its hint goes the locked way, once the holder is done.
      let release = (): void => {}
      const held = store.withKey('c/3', async () => { await new Promise<void>(resolve => { release = resolve }) })
      store.clearHintSoon('c/3', 'b', stateContext(r3.state))
      // A new write of c/2 starts in the same turn: its hint is written after the delete.
      const refreshed = put(store, 'c/2', 'y2', ['b'])
      await refreshed
      expect(writes[0]).toEqual(['del hints', 'del hints', 'del hints'])
      expect(store.hasHint('b', 'c/2')).toBe(true)
      expect(store.hasHint('b', 'c/3')).toBe(true)
      release()
      await held
      // The locked clear queued on c/3's lock before this does: once this runs, it has finished.
      await store.withKey('c/3', async () => {})
      expect(store.hasHint('b', 'c/3')).toBe(false)
      expect(store.hintsPending).toBe(1)
      await disk.close()
      // What is on disk agrees: only the refreshed write's hint.
      const reopened = await StorageEngine.open(path)
      const again = await open(reopened)
      expect(again.store.hintsPending).toBe(1)
      expect(again.store.hintedKeys('b', 10)).toEqual(['c/2'])
      await reopened.close()
    })
  })

  it('keeps the oldest unacknowledged write time of a hint when a newer write refreshes it', async () => {
    const { store, time } = await open()
    await put(store, 'c/k', 'x', ['b'])
    time.advance(500)
    await put(store, 'c/k', 'y', ['b'])
    expect(store.oldestHintSince('b')).toBe(1_000)
  })

  it('refuses a write that would pass hintsMax and writes nothing', async () => {
    const { store } = await open(new MemoryEngine(), 2)
    await put(store, 'c/1', 'x', ['b', 'c'])
    await expect(put(store, 'c/2', 'y', ['b'])).rejects.toThrow(OverloadedError)
    expect(await store.read('c/2', 'mv')).toBeUndefined()
    await put(store, 'c/1', 'z', ['b', 'c'])
  })

  it('indexes tombstones, and reaps a key only when the agreed tombstone covers everything held', async () => {
    const { store, engine, time } = await open()
    const live = await put(store, 'c/k', 'x', ['b'])
    const deleted = await put(store, 'c/k', '', ['b'])
    expect(store.tombstonesOlderThan(time.now(), 10)).toEqual(['c/k'])
    expect(await store.reap('c/k', 'mv', stateContext(live.state))).toBe(false)
    expect((await open(engine)).store.tombstoneCount).toBe(1)
    expect(await store.reap('c/k', 'mv', stateContext(deleted.state))).toBe(true)
    expect(await store.read('c/k', 'mv')).toBeUndefined()
    expect(store.hintsPending).toBe(0)
    expect(store.tombstoneCount).toBe(0)
    expect(engine.keys('meta').filter(k => k.startsWith('q/tomb/'))).toEqual([])
  })

  it('a write that makes a deleted key live again drops it from the tombstone index', async () => {
    const { store, time } = await open()
    await put(store, 'c/k', '')
    await put(store, 'c/k', 'back')
    expect(store.tombstonesOlderThan(time.now(), 10)).toEqual([])
  })

  it('reports a raft record under a quorum key as a configuration change', async () => {
    const { store, engine } = await open()
    await engine.write([{ type: 'put', sublevel: 'data', key: 'c/r', value: encodeRaftRecord({ value: new Uint8Array([1]), index: 4 }) }])
    await expect(store.read('c/r', 'mv')).rejects.toThrow(ConfigError)
  })

  it('leaves the record alone when a plan returns no record', async () => {
    const { store, engine } = await open()
    const before = engine.writes
    const r = await store.update('c/k', 'mv', () => ({ result: 7 }))
    expect(r).toBe(7)
    expect(engine.writes).toBe(before)
    expect(emptyVersionVector).toEqual({})
  })
  it('works on the LevelDB engine: records, hints and sequence survive a reopen', async () => {
    await inTempDir(async (path) => {
      let engine = await StorageEngine.open(path)
      let { store } = await open(engine)
      await put(store, 'c/k', 'x', ['b'])
      const seq = await store.nextSeq()
      await engine.close()
      engine = await StorageEngine.open(path)
      store = (await open(engine)).store
      expect(store.hintedKeys('b', 5)).toEqual(['c/k'])
      expect(await store.nextSeq()).toBeGreaterThan(seq)
      expect((await store.read('c/k', 'mv'))?.state.merge).toBe('mv')
      await engine.close()
    })
  })
})
