import { StorageError } from '../../src/api/errors.js'
import type { BatchOp, SublevelName } from '../../src/storage/engine.js'
import type { ReplicaEngine } from '../../src/replication/store.js'

/**
 * An in-memory stand-in for StorageEngine with the same contract (atomic batches across
 * sublevels, ordered iteration), for unit tests and the deterministic simulator, where real I/O
 * would break replay. Every call resolves on a microtask, so a simulated process's work still
 * interleaves as it would around real awaits. It outlives simulated crashes: that is the disk.
 */
export class MemoryEngine implements ReplicaEngine {
  private readonly subs = new Map<SublevelName, Map<string, Uint8Array>>()
  writes = 0
  /** When set, every write fails with a StorageError (a failing disk). */
  failWrites = false

  private sub (name: SublevelName): Map<string, Uint8Array> {
    let m = this.subs.get(name)
    if (m === undefined) {
      m = new Map()
      this.subs.set(name, m)
    }
    return m
  }

  async get (sublevel: SublevelName, key: string): Promise<Uint8Array | undefined> {
    return this.sub(sublevel).get(key)
  }

  async getMany (sublevel: SublevelName, keys: string[]): Promise<Array<Uint8Array | undefined>> {
    const m = this.sub(sublevel)
    return keys.map(k => m.get(k))
  }

  async write (ops: readonly BatchOp[], _options: { sync?: boolean } = {}): Promise<void> {
    if (this.failWrites) throw new StorageError('simulated disk failure')
    for (const op of ops) {
      if (op.type === 'put') this.sub(op.sublevel).set(op.key, (op.value as Uint8Array).slice())
      else this.sub(op.sublevel).delete(op.key)
    }
    this.writes++
  }

  async * entries (sublevel: SublevelName, range: { gte?: string, lt?: string, limit?: number } = {}): AsyncGenerator<[string, Uint8Array]> {
    const keys = [...this.sub(sublevel).keys()].filter(k => (range.gte === undefined || k >= range.gte) && (range.lt === undefined || k < range.lt)).sort()
    let n = 0
    for (const k of keys) {
      if (range.limit !== undefined && n++ >= range.limit) return
      const v = this.sub(sublevel).get(k)
      if (v !== undefined) yield [k, v]
    }
  }

  /** Keys of a sublevel, for assertions. */
  keys (sublevel: SublevelName): string[] {
    return [...this.sub(sublevel).keys()].sort()
  }
}
