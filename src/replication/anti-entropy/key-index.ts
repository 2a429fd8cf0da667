import { decode } from '../../codec/msgpack.js'
import type { BatchOp } from '../../storage/engine.js'
import { recordFromWire, recordOfEncoding, stateDigest } from '../record.js'
import { ringPosition, ringPositions } from '../ring.js'
import type { ReplicaEngine } from '../store.js'
import type { KeyDigest } from './tree.js'

/**
 * The persisted key index of anti-entropy, in the `antientropy` sublevel: one entry per quorum
 * record, `k<ring position, 12 hex digits><key>` -> the record's version digest. Ordered by ring
 * position, so the keys of any tree segment are one contiguous scan, and written in the same
 * atomic batch as the record itself (by `IndexedEngine`), so a crash never leaves the two apart.
 *
 * `m/built` marks an index that covers every record: a database written before anti-entropy
 * existed gets its index built once, by one scan of `data`.
 */
const entryPrefix = 'k'
const entryEnd = 'l'
export const builtKey = 'm/built'

export function positionHex (position: number): string {
  return position.toString(16).padStart(12, '0')
}

export function indexKey (key: string): string {
  return entryPrefix + positionHex(ringPosition(key)) + key
}

export function parseIndexEntry (k: string, v: Uint8Array): KeyDigest | undefined {
  if (!k.startsWith(entryPrefix) || k.length < 14) return undefined
  const position = Number.parseInt(k.slice(1, 13), 16)
  if (!Number.isSafeInteger(position)) return undefined
  return { position, key: k.slice(13), digest: Buffer.from(v).toString('utf8') }
}

/** The version digest of a stored quorum record, or undefined for anything else (raft records). */
export function digestOfRecordBytes (bytes: Uint8Array): string | undefined {
  const known = recordOfEncoding(bytes)
  if (known !== undefined) return stateDigest(known.state)
  try {
    const raw = decode(bytes)
    if (raw === null || typeof raw !== 'object' || (raw as { q?: unknown }).q !== 1) return undefined
    return stateDigest(recordFromWire(raw).state)
  } catch {
    return undefined
  }
}

/** Index entries with positions in [from, to), in position order. */
export async function * scanIndex (engine: Pick<ReplicaEngine, 'entries'>, from: number, to: number): AsyncGenerator<KeyDigest> {
  const gte = entryPrefix + positionHex(from)
  const lt = to >= ringPositions ? entryEnd : entryPrefix + positionHex(to)
  for await (const [k, v] of engine.entries('antientropy', { gte, lt })) {
    const e = parseIndexEntry(k, v)
    if (e !== undefined) yield e
  }
}

/** A change of one key's version, reported after its batch is durable. */
export interface IndexChange {
  key: string
  position: number
  before: string | undefined
  after: string | undefined
}

/**
 * A ReplicaEngine that keeps the index in step with `data`: every batch that puts or deletes a
 * quorum record also writes its index entry, in the same atomic batch, and the changes are
 * reported once the batch is written so the in-memory trees follow. The replica store is handed
 * this engine instead of the plain one; nothing in the store knows about anti-entropy.
 *
 * It reads each key's previous digest before the batch. That is race-free because the store
 * writes a key only under the key's lock.
 */
export class IndexedEngine implements ReplicaEngine {
  private readonly listeners = new Set<(changes: readonly IndexChange[]) => void>()

  constructor (readonly inner: ReplicaEngine) {}

  onChange (listener: (changes: readonly IndexChange[]) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async get (...args: Parameters<ReplicaEngine['get']>): ReturnType<ReplicaEngine['get']> {
    return await this.inner.get(...args)
  }

  async getMany (...args: Parameters<ReplicaEngine['getMany']>): ReturnType<ReplicaEngine['getMany']> {
    return await this.inner.getMany(...args)
  }

  entries (...args: Parameters<ReplicaEngine['entries']>): ReturnType<ReplicaEngine['entries']> {
    return this.inner.entries(...args)
  }

  async write (ops: readonly BatchOp[], options?: { sync?: boolean }): Promise<void> {
    const touched = new Map<string, string | undefined>()
    for (const op of ops) {
      if (op.sublevel !== 'data') continue
      touched.set(op.key, op.type === 'put' && op.value !== undefined ? digestOfRecordBytes(op.value) : undefined)
    }
    if (touched.size === 0) {
      await this.inner.write(ops, options)
      return
    }
    const keys = [...touched.keys()]
    const idx = keys.map(indexKey)
    const old = await this.inner.getMany('antientropy', idx)
    const extra: BatchOp[] = []
    const changes: IndexChange[] = []
    keys.forEach((key, i) => {
      const beforeBytes = old[i]
      const before = beforeBytes === undefined ? undefined : Buffer.from(beforeBytes).toString('utf8')
      const after = touched.get(key)
      if (before === after) return
      const k = idx[i] as string
      extra.push(after === undefined ? { type: 'del', sublevel: 'antientropy', key: k } : { type: 'put', sublevel: 'antientropy', key: k, value: Buffer.from(after, 'utf8') })
      changes.push({ key, position: ringPosition(key), before, after })
    })
    await this.inner.write(extra.length === 0 ? ops : [...ops, ...extra], options)
    this.emit(changes)
  }

  /**
   * Re-derives the index entry of `key` from its stored record, for an entry found stale (a
   * record written around this engine). The caller holds the key's lock. True when it changed.
   */
  async reindex (key: string): Promise<boolean> {
    const k = indexKey(key)
    const [data, old] = await Promise.all([this.inner.get('data', key), this.inner.get('antientropy', k)])
    const after = data === undefined ? undefined : digestOfRecordBytes(data)
    const before = old === undefined ? undefined : Buffer.from(old).toString('utf8')
    if (before === after) return false
    await this.inner.write([after === undefined ? { type: 'del', sublevel: 'antientropy', key: k } : { type: 'put', sublevel: 'antientropy', key: k, value: Buffer.from(after, 'utf8') }], { sync: false })
    this.emit([{ key, position: ringPosition(key), before, after }])
    return true
  }

  private emit (changes: readonly IndexChange[]): void {
    if (changes.length > 0) for (const l of this.listeners) l(changes)
  }
}

/**
 * Builds the index of a database written without it, by one scan of `data`, in batches of
 * `batchKeys` with `pause()` between them (the rate limit). Then writes the `built` marker.
 */
export async function buildIndex (engine: IndexedEngine, batchKeys: number, pause: () => Promise<void>): Promise<number> {
  const inner = engine.inner
  if (await inner.get('antientropy', builtKey) !== undefined) return 0
  let batch: BatchOp[] = []
  let n = 0
  for await (const [key, value] of inner.entries('data')) {
    const digest = digestOfRecordBytes(value)
    if (digest === undefined) continue
    batch.push({ type: 'put', sublevel: 'antientropy', key: indexKey(key), value: Buffer.from(digest, 'utf8') })
    n++
    if (batch.length >= batchKeys) {
      await inner.write(batch, { sync: false })
      batch = []
      await pause()
    }
  }
  batch.push({ type: 'put', sublevel: 'antientropy', key: builtKey, value: Uint8Array.of(1) })
  await inner.write(batch, { sync: true })
  return n
}
