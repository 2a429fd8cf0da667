import { InternalError, InvalidArgumentError, OverloadedError, StorageError, UnavailableError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'
import type { BatchOp, StorageEngine } from './engine.js'
import { KvSnapshotParser, KvSnapshotWriter, isRaftRecordBytes, kvSnapshotFrameBytesMax, type KvSnapshotPoint } from './kv-snapshot-format.js'
import { decodeIndex, encodeIndex } from './records.js'

/**
 * Snapshots of the raft state machine (KvStateMachine) for Raft: a consistent view of it to send,
 * and the staging and installation of one received, safe against a crash at any point.
 *
 * The state machine's state is the raft records of `data`, the whole `sessions` sublevel and
 * `meta/applied`; quorum records in `data` and the rest of `meta` belong to other layers and are
 * neither sent nor touched.
 *
 * Installing is a redo log, because a snapshot is too large for one atomic batch:
 *   1. chunks are staged in `raft-state` under `kvsnap/` (status `receiving`, then `complete`);
 *      the state machine is untouched, so a crash or a refused stream leaves it as it was and the
 *      staging is discarded on the next open;
 *   2. the driver commits the install by writing `commitOps()` in the same synced batch as the Raft
 *      log's reset to the snapshot (DurableRaftLog.persist(update, extraOps)): from then on the log
 *      and the status (`committed`) both say "the state machine is at the snapshot";
 *   3. `finishInstall()` rolls forward in bounded batches: it deletes the old raft records and
 *      sessions, copies the staged ones, and writes the applied index last, with the status and the
 *      staged chunks removed in that same final batch. Each step is idempotent, so after a crash
 *      `recoverKvSnapshot()` on open simply runs it again.
 * No reader may see the state machine between 2 and the end of 3 (see the driver contract in
 * src/raft/snapshot.ts); the applied index stays at its old value until the last batch.
 */
export type { KvSnapshotPoint } from './kv-snapshot-format.js'

/** Must equal KvStateMachine's key of the applied index. */
const appliedKey = 'applied'
const stagingSublevel = 'raft-state'
const statusKey = 'kvsnap/status'
const chunkPrefix = 'kvsnap/c/'
/** '0' is the character after '/': the end of the chunk key range. */
const chunkRangeEnd = 'kvsnap/c0'

/** Defaults of the bounded batches an install writes (the config's limits.batch* defaults). */
export const installBatchOpsMaxDefault = 1_000
export const installBatchBytesMaxDefault = 8 * 1024 * 1024
/** Attempts to open a consistent view while applies keep landing. */
export const openAttemptsMaxDefault = 16

type StagingState = 'receiving' | 'complete' | 'committed'

interface StagingStatus {
  state: StagingState
  index: number
  term: number
  chunks: number
  bytes: number
}

type KvEntries = AsyncGenerator<[string, Uint8Array]>

/**
 * A point-in-time view of the state machine at `index`, streamed as chunks of the snapshot format.
 * It holds two LevelDB iterators (and their snapshots) until the stream ends or `close()` runs:
 * close it on every path.
 */
export class KvSnapshotSource {
  readonly index: number
  private readonly chunkBytes: number
  private readonly data: KvEntries
  private readonly sessions: KvEntries
  private readonly firstData: IteratorResult<[string, Uint8Array]>
  private readonly firstSession: IteratorResult<[string, Uint8Array]>
  private streamed = false
  private closed = false

  /** @internal use openKvSnapshot */
  constructor (index: number, chunkBytes: number, data: KvEntries, firstData: IteratorResult<[string, Uint8Array]>, sessions: KvEntries, firstSession: IteratorResult<[string, Uint8Array]>) {
    this.index = index
    this.chunkBytes = chunkBytes
    this.data = data
    this.firstData = firstData
    this.sessions = sessions
    this.firstSession = firstSession
  }

  /**
   * The stream, once, labelled with `point` (the index must be this view's; the term is the log's
   * term at it, which only Raft knows). Each chunk is exactly `chunkBytes` except the last. Pulled
   * lazily: memory holds one chunk and one record. The view closes when the stream ends or is
   * returned early.
   */
  chunks (point: KvSnapshotPoint): AsyncGenerator<Uint8Array> {
    if (point.index !== this.index) throw new InvalidArgumentError(`this view is at ${this.index}, not ${point.index}`)
    if (this.streamed || this.closed) throw new InvalidArgumentError('a snapshot view streams once')
    this.streamed = true
    return this.generate(point)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.data.return(undefined)
    await this.sessions.return(undefined)
  }

  private async * generate (point: KvSnapshotPoint): AsyncGenerator<Uint8Array> {
    try {
      const writer = new KvSnapshotWriter(point, this.chunkBytes)
      for (let r = this.firstData; r.done !== true; r = await this.data.next()) {
        const [key, value] = r.value
        if (isRaftRecordBytes(value)) yield * writer.add({ kind: 'data', key, value })
      }
      for (let r = this.firstSession; r.done !== true; r = await this.sessions.next()) {
        const [key, value] = r.value
        yield * writer.add({ kind: 'session', key, value })
      }
      yield * writer.finish()
    } finally {
      await this.close()
    }
  }
}

/**
 * Opens a consistent view of the state machine at its applied index. Each LevelDB iterator reads
 * from the snapshot taken when it was created; two iterators (data, sessions) are consistent with
 * each other and with the applied index when no state machine batch landed between their
 * creations. Every such batch writes `meta/applied`, so reading it before and after and finding it
 * unchanged proves that (and names the index). Called while no apply is in flight (from the
 * driver's applier), the first attempt succeeds; otherwise it retries, and gives up with
 * OverloadedError after `openAttemptsMax` attempts.
 */
export async function openKvSnapshot (engine: StorageEngine, options: { chunkBytes: number, openAttemptsMax?: number }): Promise<KvSnapshotSource> {
  if (!Number.isSafeInteger(options.chunkBytes) || options.chunkBytes < 1) throw new InvalidArgumentError(`chunkBytes must be a positive integer, got ${options.chunkBytes}`)
  const attemptsMax = options.openAttemptsMax ?? openAttemptsMaxDefault
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    const status = await readStatus(engine)
    if (status?.state === 'committed') throw new UnavailableError('a received snapshot is being installed here: this node cannot serve a snapshot until it finishes')
    const before = await engine.get('meta', appliedKey)
    if (before === undefined) throw new InvalidArgumentError('the state machine has applied nothing yet: there is nothing to snapshot')
    const data = engine.entries('data')
    const sessions = engine.entries('sessions')
    let firstData: IteratorResult<[string, Uint8Array]>
    let firstSession: IteratorResult<[string, Uint8Array]>
    try {
      firstData = await data.next()
      firstSession = await sessions.next()
    } catch (err) {
      await data.return(undefined)
      await sessions.return(undefined)
      throw err
    }
    const after = await engine.get('meta', appliedKey)
    if (after !== undefined && Buffer.compare(before, after) === 0) {
      return new KvSnapshotSource(decodeIndex(before), options.chunkBytes, data, firstData, sessions, firstSession)
    }
    await data.return(undefined)
    await sessions.return(undefined)
  }
  throw new OverloadedError(`could not open a consistent snapshot view in ${attemptsMax} attempts: applies kept landing; open it from the applier`)
}

export interface KvSnapshotStagingOptions {
  /** Largest frame accepted in a received stream. */
  frameBytesMax?: number
  batchOpsMax?: number
  batchBytesMax?: number
}

export interface KvSnapshotInstallHooks {
  /** Called after each batch the install wrote (a test seam: throwing here simulates a crash). */
  afterBatch?: (batches: number) => void
}

/**
 * Stages one received snapshot at a time and installs it (see the file comment). Shaped as the
 * SnapshotSink of src/raft/snapshot/receiver.ts: begin, write, complete, discard. Calls must not
 * overlap (the receiver serialises them).
 */
export class KvSnapshotStaging {
  private readonly engine: StorageEngine
  private readonly options: Required<KvSnapshotStagingOptions>
  private point: KvSnapshotPoint | undefined
  private parser: KvSnapshotParser | undefined
  private state: 'idle' | 'receiving' | 'complete' = 'idle'
  private chunks = 0
  private bytes = 0

  constructor (engine: StorageEngine, options: KvSnapshotStagingOptions = {}) {
    this.engine = engine
    this.options = resolveOptions(options)
  }

  /** The point of a completely staged snapshot, if one is. */
  get completed (): KvSnapshotPoint | undefined {
    return this.state === 'complete' ? this.point : undefined
  }

  /** Starts staging the snapshot of `point`, dropping whatever was staged before. */
  async begin (point: KvSnapshotPoint): Promise<void> {
    await this.discard()
    this.point = { index: point.index, term: point.term }
    this.parser = new KvSnapshotParser(this.point, { frameBytesMax: this.options.frameBytesMax })
    await this.engine.write([statusOp({ state: 'receiving', index: point.index, term: point.term, chunks: 0, bytes: 0 })], { sync: false })
    this.state = 'receiving'
  }

  /** Validates and stages the next bytes of the stream (ProtocolError when they are malformed). */
  async write (data: Uint8Array): Promise<void> {
    if (this.state !== 'receiving' || this.parser === undefined) throw new InternalError('KvSnapshotStaging.write without begin')
    if (data.byteLength === 0) return
    this.parser.push(data)
    await this.engine.write([{ type: 'put', sublevel: stagingSublevel, key: chunkKey(this.chunks), value: data }], { sync: false })
    this.chunks++
    this.bytes += data.byteLength
  }

  /** The stream ended: checks its trailer and makes the staged copy durable. */
  async complete (): Promise<void> {
    if (this.state !== 'receiving' || this.parser === undefined || this.point === undefined) throw new InternalError('KvSnapshotStaging.complete without begin')
    this.parser.end()
    await this.engine.write([statusOp({ state: 'complete', ...this.point, chunks: this.chunks, bytes: this.bytes })], { sync: true })
    this.parser = undefined
    this.state = 'complete'
  }

  /** Drops the staged snapshot (nothing of the state machine changes). */
  async discard (): Promise<void> {
    this.state = 'idle'
    this.point = undefined
    this.parser = undefined
    this.chunks = 0
    this.bytes = 0
    await discardStaging(this.engine)
  }

  /**
   * The operation that commits the install, for the same synced batch as the Raft log's reset to
   * `point` (DurableRaftLog.persist's extraOps). Throws unless the staged snapshot is complete and
   * is that snapshot.
   */
  commitOps (point: KvSnapshotPoint): BatchOp[] {
    const staged = this.completed
    if (staged === undefined || staged.index !== point.index || staged.term !== point.term) {
      throw new InternalError(`asked to install the snapshot at ${point.index}/${point.term}, but ${staged === undefined ? 'none is staged completely' : `the staged one is at ${staged.index}/${staged.term}`}`)
    }
    return [statusOp({ state: 'committed', index: point.index, term: point.term, chunks: this.chunks, bytes: this.bytes })]
  }

  /** Rolls the committed install forward (step 3 of the file comment). */
  async finishInstall (hooks: KvSnapshotInstallHooks = {}): Promise<KvSnapshotPoint> {
    const point = await finishKvSnapshotInstall(this.engine, this.options, hooks)
    this.state = 'idle'
    this.point = undefined
    this.chunks = 0
    this.bytes = 0
    return point
  }
}

/**
 * What open must do before the state machine is loaded: finish an install that was committed
 * (the Raft log already stands at that snapshot), or drop an uncommitted staging.
 */
export async function recoverKvSnapshot (engine: StorageEngine, options: KvSnapshotStagingOptions = {}): Promise<{ action: 'none' | 'discarded' } | { action: 'finished', point: KvSnapshotPoint }> {
  const status = await readStatus(engine)
  if (status?.state === 'committed') return { action: 'finished', point: await finishKvSnapshotInstall(engine, resolveOptions(options), {}) }
  return { action: await discardStaging(engine) ? 'discarded' : 'none' }
}

async function finishKvSnapshotInstall (engine: StorageEngine, options: Required<KvSnapshotStagingOptions>, hooks: KvSnapshotInstallHooks): Promise<KvSnapshotPoint> {
  const status = await readStatus(engine)
  if (status?.state !== 'committed') throw new InternalError('there is no committed snapshot install to finish')
  const point = { index: status.index, term: status.term }
  const appliedBytes = await engine.get('meta', appliedKey)
  const applied = appliedBytes === undefined ? 0 : decodeIndex(appliedBytes)
  if (applied >= point.index) throw new InternalError(`a snapshot at ${point.index} was committed over a state machine already at ${applied}`)
  const batch = new BoundedBatch(engine, options, hooks)
  for await (const [key, value] of engine.entries('data')) {
    if (isRaftRecordBytes(value)) await batch.add({ type: 'del', sublevel: 'data', key })
  }
  for await (const [key] of engine.entries('sessions')) await batch.add({ type: 'del', sublevel: 'sessions', key })
  await batch.flush()
  // It checked out when it arrived; if it no longer does, half of the old state is already gone
  // and only a fresh copy of the whole node helps.
  const damaged = (err: unknown): StorageError => new StorageError(`the staged snapshot at ${point.index} is damaged on disk and the install cannot finish: stop the node, empty its data directory and add it back to the cluster`, { index: point.index }, { cause: err })
  const parser = new KvSnapshotParser(point, { frameBytesMax: options.frameBytesMax })
  let chunks = 0
  for await (const [, bytes] of engine.entries(stagingSublevel, { gte: chunkPrefix, lt: chunkRangeEnd })) {
    chunks++
    let records
    try {
      records = parser.push(bytes)
    } catch (err) {
      throw damaged(err)
    }
    for (const r of records) await batch.add({ type: 'put', sublevel: r.kind === 'data' ? 'data' : 'sessions', key: r.key, value: r.value })
  }
  try {
    parser.end()
  } catch (err) {
    throw damaged(err)
  }
  if (chunks !== status.chunks) throw damaged(new InternalError(`${chunks} staged chunks found, ${status.chunks} were committed`))
  await batch.flush()
  const last: BatchOp[] = [
    { type: 'put', sublevel: 'meta', key: appliedKey, value: encodeIndex(point.index) },
    { type: 'del', sublevel: stagingSublevel, key: statusKey }
  ]
  for (let i = 0; i < status.chunks; i++) last.push({ type: 'del', sublevel: stagingSublevel, key: chunkKey(i) })
  await engine.write(last, { sync: true })
  return point
}

/** Deletes the status and every staged chunk; true when there was anything. */
async function discardStaging (engine: StorageEngine): Promise<boolean> {
  const ops: BatchOp[] = []
  if (await engine.get(stagingSublevel, statusKey) !== undefined) ops.push({ type: 'del', sublevel: stagingSublevel, key: statusKey })
  for await (const [key] of engine.entries(stagingSublevel, { gte: chunkPrefix, lt: chunkRangeEnd })) ops.push({ type: 'del', sublevel: stagingSublevel, key })
  // Chunk keys are few (one per chunk of up to snapshotChunkBytes): one batch holds them.
  await engine.write(ops, { sync: false })
  return ops.length > 0
}

/** Writes operations in batches of bounded count and size (not synced: the final batch is). */
class BoundedBatch {
  private ops: BatchOp[] = []
  private bytes = 0
  private written = 0

  constructor (private readonly engine: StorageEngine, private readonly limits: { batchOpsMax: number, batchBytesMax: number }, private readonly hooks: KvSnapshotInstallHooks) {}

  async add (op: BatchOp): Promise<void> {
    this.ops.push(op)
    this.bytes += op.key.length + (op.value?.byteLength ?? 0)
    if (this.ops.length >= this.limits.batchOpsMax || this.bytes >= this.limits.batchBytesMax) await this.flush()
  }

  async flush (): Promise<void> {
    if (this.ops.length === 0) return
    const ops = this.ops
    this.ops = []
    this.bytes = 0
    await this.engine.write(ops, { sync: false })
    this.hooks.afterBatch?.(++this.written)
  }
}

async function readStatus (engine: StorageEngine): Promise<StagingStatus | undefined> {
  const bytes = await engine.get(stagingSublevel, statusKey)
  if (bytes === undefined) return undefined
  const s = decode(bytes) as Partial<StagingStatus> | null
  if (s === null || typeof s !== 'object' || (s.state !== 'receiving' && s.state !== 'complete' && s.state !== 'committed') ||
    !Number.isSafeInteger(s.index) || !Number.isSafeInteger(s.term) || !Number.isSafeInteger(s.chunks) || !Number.isSafeInteger(s.bytes)) {
    throw new StorageError('the snapshot staging status is corrupt: stop the node, empty its data directory and add it back to the cluster')
  }
  return s as StagingStatus
}

function statusOp (status: StagingStatus): BatchOp {
  return { type: 'put', sublevel: stagingSublevel, key: statusKey, value: encode(status) }
}

function chunkKey (seq: number): string {
  return chunkPrefix + seq.toString(16).padStart(8, '0')
}

function resolveOptions (options: KvSnapshotStagingOptions): Required<KvSnapshotStagingOptions> {
  return {
    frameBytesMax: options.frameBytesMax ?? kvSnapshotFrameBytesMax,
    batchOpsMax: options.batchOpsMax ?? installBatchOpsMaxDefault,
    batchBytesMax: options.batchBytesMax ?? installBatchBytesMaxDefault
  }
}
