import { decode } from '../../src/codec/msgpack.js'
import { decodeRecord, readView, stateDigest, type MergeKind } from '../../src/replication/record.js'
import { StorageEngine } from '../../src/storage/engine.js'

/**
 * What one replica holds of some quorum keys, read from its LevelDB directory after its process
 * stopped: the local view, with no coordinator merging other replicas' answers into it.
 */
export interface DiskView {
  /** What a read would return from this copy alone: the lww value, the mv siblings (sorted), the counter, the set members (sorted). */
  value: unknown
  /** A digest of the copy's causal context: equal copies have equal digests. */
  context: string
}

export async function readReplicaDisk (dataDir: string, keys: ReadonlyArray<{ key: string, merge: MergeKind }>): Promise<Map<string, DiskView>> {
  const engine = await StorageEngine.open(dataDir)
  try {
    const out = new Map<string, DiskView>()
    for (const { key, merge } of keys) {
      const bytes = await engine.get('data', key)
      if (bytes === undefined) continue
      const record = decodeRecord(bytes, key, merge)
      const view = readView(record.state)
      const value = view.merge === 'lww'
        ? (view.value === undefined ? null : decode(view.value))
        : view.merge === 'mv'
          ? view.values.map(v => decode(v)).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
          : view.merge === 'counter' ? view.value : [...view.members].sort()
      out.set(key, { value, context: stateDigest(record.state) })
    }
    return out
  } finally {
    await engine.close()
  }
}
