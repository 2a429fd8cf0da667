import { ConsistencyLevel, isConsistencyLevel, type ConsistencyLevel as Level } from '../api/consistency.js'
import { AbortedError, ConsistencyError, InternalError, InvalidArgumentError, PreconditionFailedError, TimeoutError, toQuorumKvError } from '../api/errors.js'
import { encode } from '../codec/msgpack.js'
import type { QuorumReplica } from '../replication/replica.js'
import type { QuorumEntry, QuorumReadResult, QuorumWriteResult } from '../replication/api.js'
import type { WriteOptions, WriteResult } from '../api/types.js'
import { decodeSession, emptySession, encodeSession, mergeSessions } from '../client/session.js'
import { checkValueSize, collectionOfKey, validateKey, validateReadOptions, validateWriteOptions } from '../client/validate.js'
import type { CollectionConfig, Config } from '../config/schema.js'
import { collectionOf } from '../config/parse.js'
import type { NodeMetrics } from '../observability/metrics.js'
import type { ClientStamp, KvCommand, KvOutcome, KvStateMachine } from '../storage/kv-state-machine.js'
import type { Replication } from './replication.js'
import { etagOfIndex, versionOfIndex } from '../storage/records.js'

/**
 * The request path of one replica: validates a call (it may come from another process), picks the
 * collection's mode and level, and serves it. Values arrive and leave encoded: the in-process and
 * the remote client encode and decode them, so the node never re-encodes a value.
 */
export interface RawEntry {
  key: string
  value: Uint8Array
  version: string
  etag: string
  session: string
  /** mv collections: every sibling, encoded. */
  siblings?: Uint8Array[]
  /** mv collections: the causal context to pass back with the next put. */
  context?: string
}

/** A read's answer: the entry, or none, and in both cases the session advanced past what it saw. */
export interface RawRead {
  entry: RawEntry | undefined
  session: string
}

export interface KvServiceComponents {
  config: Config
  stateMachine: KvStateMachine
  replication: Replication
  metrics: NodeMetrics
  /** Serves collections in `quorum` mode; absent when the config declares none. */
  quorum?: QuorumReplica
}

type Op = 'put' | 'get' | 'delete' | 'increment' | 'set-add' | 'set-remove'
type Merge = CollectionConfig['merge']

export class KvService {
  private readonly config: Config
  private readonly sm: KvStateMachine
  private readonly replication: Replication
  private readonly metrics: NodeMetrics
  private readonly quorum: QuorumReplica | undefined

  constructor (components: KvServiceComponents) {
    this.config = components.config
    this.sm = components.stateMachine
    this.replication = components.replication
    this.metrics = components.metrics
    this.quorum = components.quorum
  }

  async put (key: unknown, value: Uint8Array, options: unknown, client?: ClientStamp): Promise<WriteResult> {
    return await this.observe('put', options, async () => {
      const k = validateKey(key, this.config.limits)
      const o = validateWriteOptions(options)
      checkValueSize(value, this.config.limits)
      this.metrics.payloadBytes.observe({ op: 'put' }, value.byteLength)
      const quorum = this.quorumFor(k, ['lww', 'mv'], 'put')
      if (quorum !== undefined) return await this.quorumWrite(o, async (qo) => await quorum.put(k, value, qo))
      return await this.write({ op: 'put', key: k, value, ...optional(o.ifMatch, client) }, value.byteLength, o)
    })
  }

  async delete (key: unknown, options: unknown, client?: ClientStamp): Promise<WriteResult> {
    return await this.observe('delete', options, async () => {
      const k = validateKey(key, this.config.limits)
      const o = validateWriteOptions(options)
      const quorum = this.quorumFor(k, ['lww', 'mv', 'counter', 'orset'], 'delete')
      if (quorum !== undefined) return await this.quorumWrite(o, async (qo) => await quorum.delete(k, qo))
      return await this.write({ op: 'delete', key: k, ...optional(o.ifMatch, client) }, 0, o)
    })
  }

  async get (key: unknown, options: unknown): Promise<RawRead> {
    return await this.observe('get', options, async () => {
      const k = validateKey(key, this.config.limits)
      const o = validateReadOptions(options)
      const session = o.session === undefined ? emptySession() : decodeSession(o.session)
      const quorum = this.quorumFor(k, ['lww', 'mv', 'counter', 'orset'], 'get')
      if (quorum !== undefined) {
        const read = await quorum.get(k, { ...quorumCallOptions(o, this.config), session: session.quorum, ...pick(o, ['r', 'pr', 'maxStalenessMs']) })
        return rawRead(k, read, mergeSessions(session, { quorum: read.session }))
      }
      const level = this.levelFor(k, o.consistency)
      return await this.withDeadline(o, async (signal) => {
        // The level decides when this replica's state may be read (docs/consistency.md): at once,
        // after it applied the session's writes, or after a linearizable read barrier.
        await this.replication.readable(level, { sessionIndex: session.raftIndex, maxStalenessMs: o.maxStalenessMs }, signal)
        // The session advances to the state the read observed (not only the record's own index),
        // so a later read elsewhere, a miss included, never goes back in time.
        const observed = this.sm.appliedIndex
        const record = await this.sm.read(k)
        const token = encodeSession(mergeSessions(session, { raftIndex: observed }))
        if (record === undefined) return { entry: undefined, session: token }
        this.metrics.payloadBytes.observe({ op: 'get' }, record.value.byteLength)
        return { entry: { key: k, value: record.value, version: versionOfIndex(record.index), etag: etagOfIndex(record.index), session: token }, session: token }
      })
    })
  }

  /** Counter collections: adds `delta` (negative to decrement). */
  async increment (key: unknown, delta: unknown, options: unknown): Promise<WriteResult & { value?: number }> {
    return await this.observe('increment', options, async () => {
      const k = validateKey(key, this.config.limits)
      const o = validateWriteOptions(options)
      if (!Number.isSafeInteger(delta)) throw new InvalidArgumentError(`delta must be a safe integer, got ${String(delta)}`)
      const quorum = this.quorumFor(k, ['counter'], 'increment') as QuorumReplica
      return await this.quorumWrite(o, async (qo) => await quorum.increment(k, delta as number, qo))
    })
  }

  /** OR-set collections: adds or removes one element (a string). */
  async setOp (op: 'set-add' | 'set-remove', key: unknown, element: unknown, options: unknown): Promise<WriteResult> {
    return await this.observe(op, options, async () => {
      const k = validateKey(key, this.config.limits)
      const o = validateWriteOptions(options)
      if (typeof element !== 'string' || Buffer.byteLength(element) > this.config.limits.valueBytesMax) {
        throw new InvalidArgumentError(`a set element must be a string of at most ${this.config.limits.valueBytesMax} bytes`)
      }
      const quorum = this.quorumFor(k, ['orset'], op) as QuorumReplica
      return await this.quorumWrite(o, async (qo) => op === 'set-add' ? await quorum.orsetAdd(k, element, qo) : await quorum.orsetRemove(k, element, qo))
    })
  }

  /**
   * The quorum replica serving `key`, or undefined for a raft collection. Refuses an operation the
   * collection's merge policy does not have (a put on a counter, an increment on a register).
   */
  private quorumFor (key: string, merges: Merge[], op: Op): QuorumReplica | undefined {
    const name = collectionOfKey(key)
    const collection = collectionOf(this.config, name)
    if (collection.mode === 'raft') {
      if (op === 'increment' || op === 'set-add' || op === 'set-remove') {
        throw new InvalidArgumentError(`${op} needs a quorum collection with merge "${op === 'increment' ? 'counter' : 'orset'}"; collection "${name}" is in raft mode`, { collection: name })
      }
      return undefined
    }
    if (!merges.includes(collection.merge)) {
      const use = collection.merge === 'counter' ? 'increment' : collection.merge === 'orset' ? 'addToSet / removeFromSet' : 'put'
      throw new InvalidArgumentError(`collection "${name}" merges with "${collection.merge}": ${op} does not apply, use ${use}`, { collection: name, merge: collection.merge })
    }
    if (this.quorum === undefined) throw new InternalError(`collection "${name}" is in quorum mode but the node runs no quorum replica`)
    return this.quorum
  }

  private async quorumWrite (o: WriteOptions, call: (qo: Parameters<QuorumReplica['put']>[2] & object) => Promise<QuorumWriteResult>): Promise<WriteResult & { value?: number }> {
    const session = o.session === undefined ? emptySession() : decodeSession(o.session)
    const result = await call({ ...quorumCallOptions(o, this.config), session: session.quorum, ...pick(o, ['w', 'pw', 'context', 'ifMatch']) })
    const token = encodeSession(mergeSessions(session, { quorum: result.session }))
    return { key: result.key, version: result.version, etag: result.etag, session: token, ...(result.value !== undefined ? { value: result.value } : {}) }
  }

  private async write (command: KvCommand, bytes: number, o: WriteOptions): Promise<WriteResult> {
    const session = o.session === undefined ? emptySession() : decodeSession(o.session)
    this.levelFor(command.key, o.consistency)
    const outcome: KvOutcome = await this.withDeadline(o, async (signal) => await this.replication.submit(command, bytes + command.key.length, signal))
    if (!outcome.ok) {
      if (outcome.code === 'PRECONDITION_FAILED') throw new PreconditionFailedError(outcome.message, { key: command.key })
      throw new InternalError(outcome.message, { key: command.key })
    }
    const seen = mergeSessions(session, { raftIndex: outcome.index })
    return { key: command.key, version: versionOfIndex(outcome.index), etag: etagOfIndex(outcome.index), session: encodeSession(seen) }
  }

  /** The level a call runs at, refusing what the collection does not offer. */
  private levelFor (key: string, asked: Level | undefined): Level {
    const name = collectionOfKey(key)
    const collection: CollectionConfig = collectionOf(this.config, name)
    const level = asked ?? (collection.defaultConsistency as Level | undefined) ?? (collection.mode === 'raft' ? ConsistencyLevel.Strong : ConsistencyLevel.Causal)
    if (collection.mode === 'quorum' && level === ConsistencyLevel.Strong) {
      throw new ConsistencyError(
        `collection "${name}" is replicated in quorum mode, which does not offer strong consistency: declare it with mode "raft" for linearizable reads and writes, or ask for causal or read-your-writes`,
        { collection: name, mode: 'quorum', asked: level }
      )
    }
    return level
  }

  /** Runs `fn` under the call's deadline and signal, turning their expiry into TIMEOUT or ABORTED. */
  private async withDeadline<T> (o: { timeoutMs?: number, signal?: AbortSignal }, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = o.timeoutMs ?? this.config.timeouts.requestTimeoutMs
    const deadline = new AbortController()
    const timer = setTimeout(() => { deadline.abort(new TimeoutError(`no answer within ${timeoutMs} ms; a write may or may not have taken effect`, { timeoutMs })) }, timeoutMs)
    const onAbort = (): void => { deadline.abort(new AbortedError('the call was aborted by its signal; a write may or may not have taken effect')) }
    if (o.signal?.aborted === true) onAbort()
    o.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const signal = deadline.signal
      if (signal.aborted) throw signal.reason
      return await new Promise<T>((resolve, reject) => {
        signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
        fn(signal).then(resolve, reject)
      })
    } finally {
      clearTimeout(timer)
      o.signal?.removeEventListener('abort', onAbort)
    }
  }

  private async observe<T> (op: Op, options: unknown, fn: () => Promise<T>): Promise<T> {
    const asked = (options as { consistency?: unknown } | undefined)?.consistency
    // Labels come from a closed set so a caller cannot grow the metric's cardinality.
    const consistency = asked === undefined ? 'default' : isConsistencyLevel(asked) ? asked : 'invalid'
    const end = this.metrics.requestDuration.startTimer({ op, consistency })
    this.metrics.requestsTotal.inc({ op, consistency })
    try {
      return await fn()
    } catch (err) {
      const e = toQuorumKvError(err)
      this.metrics.errorsTotal.inc({ op, code: e.code })
      throw e
    } finally {
      end()
    }
  }
}

function quorumCallOptions (o: { timeoutMs?: number, signal?: AbortSignal, consistency?: Level }, config: Config): { timeoutMs: number, signal?: AbortSignal, consistency?: Level } {
  return { timeoutMs: o.timeoutMs ?? config.timeouts.requestTimeoutMs, ...(o.signal !== undefined ? { signal: o.signal } : {}), ...(o.consistency !== undefined ? { consistency: o.consistency } : {}) }
}

function pick<T extends object, K extends keyof T> (o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}

/** A quorum read as the client protocol carries it: counters and sets encoded like any value. */
function rawRead (key: string, read: QuorumReadResult, session: ReturnType<typeof emptySession>): RawRead {
  const token = encodeSession(session)
  const e: QuorumEntry | undefined = read.entry
  if (e === undefined) return { entry: undefined, session: token }
  const base = { key, version: e.version, etag: e.etag, session: token, ...(read.context !== undefined ? { context: read.context } : {}) }
  switch (e.merge) {
    case 'lww': return { entry: { ...base, value: e.value }, session: token }
    case 'mv': return { entry: { ...base, value: e.values[0] ?? encode(null), siblings: e.values }, session: token }
    case 'counter': return { entry: { ...base, value: encode(e.value) }, session: token }
    case 'orset': return { entry: { ...base, value: encode(e.members) }, session: token }
  }
}

function optional (ifMatch: string | undefined, client: ClientStamp | undefined): { ifMatch?: string, client?: ClientStamp } {
  return { ...(ifMatch !== undefined ? { ifMatch } : {}), ...(client !== undefined ? { client } : {}) }
}
