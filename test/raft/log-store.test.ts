import { describe, expect, it } from 'vitest'
import { encode } from '../../src/codec/msgpack.js'
import { DurableRaftLog, indexKey } from '../../src/raft/log-store.js'
import { StorageEngine } from '../../src/storage/engine.js'
import { tempDir } from '../support/tmp.js'

const conf = { voters: ['a'], learners: [] }
const entries = (from: number, to: number): Array<{ index: number, term: number, type: 'normal', data: Uint8Array }> =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term: 1, type: 'normal' as const, data: new Uint8Array([i % 256]) }))

async function diskIndexes (engine: StorageEngine): Promise<number[]> {
  const out: number[] = []
  for await (const [key] of engine.entries('raft-log')) out.push(parseInt(key, 16))
  return out
}

describe('DurableRaftLog compaction', () => {
  it('drops compacted entries from disk after the compaction point is durable, and a reopen ignores any left behind', async () => {
    const dir = await tempDir()
    try {
      let engine = await StorageEngine.open(dir.path)
      let log = await DurableRaftLog.open(engine, conf)
      await log.persist({ entries: entries(1, 5_000), hardState: { term: 1, vote: 'a', commit: 5_000 } })
      await log.snapshotAndCompact({ index: 4_000, term: 1, conf }, 3_000)
      expect(log.view.firstIndex()).toBe(3_001)
      await log.trimmed()
      expect(await diskIndexes(engine)).toEqual(entries(3_001, 5_000).map(e => e.index))

      // A crash between the compaction point and the trim: entries at or below it are still on disk.
      await engine.write(entries(2_990, 3_000).map(e => ({ type: 'put' as const, sublevel: 'raft-log' as const, key: indexKey(e.index), value: encode([1, 0, e.data]) })))
      await engine.close()
      engine = await StorageEngine.open(dir.path)
      log = await DurableRaftLog.open(engine, conf)
      expect(log.view.firstIndex()).toBe(3_001)
      expect(log.view.lastIndex()).toBe(5_000)
      expect((await diskIndexes(engine))[0]).toBe(3_001)
      await engine.close()
    } finally {
      await dir.cleanup()
    }
  })
})
