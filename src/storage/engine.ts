import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { ClosedError, StorageError } from '../api/errors.js'

/**
 * One LevelDB database per node, split into sublevels (see docs/storage.md). A batch across
 * sublevels is atomic, which is how data and the index it was applied at land together.
 *
 * The engine is fail-stop: after a failed synced write nothing is known about what reached the
 * disk (fsync errors are not retryable), so every later write is refused until the process
 * restarts and recovers from what is actually on disk.
 */
export const sublevelNames = ['data', 'meta', 'sessions', 'raft-log', 'raft-state', 'hints', 'antientropy'] as const
export type SublevelName = (typeof sublevelNames)[number]

type Db = Level<string, Uint8Array>
type Sublevel = ReturnType<typeof makeSublevel>

function makeSublevel (db: Db, name: string) {
  return db.sublevel<string, Uint8Array>(name, { keyEncoding: 'utf8', valueEncoding: 'view' })
}

export interface BatchOp {
  type: 'put' | 'del'
  sublevel: SublevelName
  key: string
  value?: Uint8Array
}

export class StorageEngine {
  readonly dataDir: string
  private readonly db: Db
  private readonly subs: Record<SublevelName, Sublevel>
  private failure: StorageError | undefined
  private closed = false

  private constructor (dataDir: string, db: Db) {
    this.dataDir = dataDir
    this.db = db
    this.subs = Object.fromEntries(sublevelNames.map(name => [name, makeSublevel(db, name)])) as Record<SublevelName, Sublevel>
  }

  static async open (dataDir: string): Promise<StorageEngine> {
    const location = join(dataDir, 'db')
    try {
      await mkdir(location, { recursive: true })
      const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })
      await db.open()
      return new StorageEngine(dataDir, db)
    } catch (err) {
      const code = (err as { code?: string, cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code
      const hint = code === 'LEVEL_LOCKED' ? ': another process has this dataDir open' : ''
      throw new StorageError(`cannot open the database in ${location}${hint}`, { dataDir, levelCode: code ?? null }, { cause: err })
    }
  }

  async get (sublevel: SublevelName, key: string): Promise<Uint8Array | undefined> {
    this.assertUsable()
    try {
      return await this.subs[sublevel].get(key)
    } catch (err) {
      throw new StorageError(`read of ${sublevel}/${key} failed: ${(err as Error).message}`, {}, { cause: err })
    }
  }

  async getMany (sublevel: SublevelName, keys: string[]): Promise<Array<Uint8Array | undefined>> {
    this.assertUsable()
    try {
      return await this.subs[sublevel].getMany(keys)
    } catch (err) {
      throw new StorageError(`read of ${keys.length} keys from ${sublevel} failed: ${(err as Error).message}`, {}, { cause: err })
    }
  }

  /**
   * Writes the operations atomically. With `sync` (the default) it resolves only after LevelDB
   * fsynced its log: the only point at which a write may be acknowledged.
   */
  async write (ops: readonly BatchOp[], options: { sync?: boolean } = {}): Promise<void> {
    this.assertUsable()
    if (ops.length === 0) return
    const batch = ops.map(op => op.type === 'put'
      ? { type: 'put' as const, sublevel: this.subs[op.sublevel], key: op.key, value: op.value as Uint8Array }
      : { type: 'del' as const, sublevel: this.subs[op.sublevel], key: op.key })
    try {
      await this.db.batch(batch, { sync: options.sync ?? true })
    } catch (err) {
      this.failure = new StorageError(`a synced write failed; the node refuses writes until it is restarted: ${(err as Error).message}`, {}, { cause: err })
      throw this.failure
    }
  }

  /** Iterates a sublevel in key order within [gte, lt). */
  async * entries (sublevel: SublevelName, range: { gte?: string, lt?: string, limit?: number } = {}): AsyncGenerator<[string, Uint8Array]> {
    this.assertUsable()
    const options: { gte?: string, lt?: string, limit?: number } = {}
    if (range.gte !== undefined) options.gte = range.gte
    if (range.lt !== undefined) options.lt = range.lt
    if (range.limit !== undefined) options.limit = range.limit
    for await (const entry of this.subs[sublevel].iterator(options)) yield entry as [string, Uint8Array]
  }

  get failed (): StorageError | undefined {
    return this.failure
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.db.close()
  }

  private assertUsable (): void {
    if (this.closed) throw new ClosedError('the storage engine is closed: the node was stopped')
    if (this.failure !== undefined) throw this.failure
  }
}
