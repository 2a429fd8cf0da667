import { AbortedError, ClosedError, ErrorCode, QuorumKvError, TimeoutError, UnavailableError } from '../api/errors.js'
import type { Client, Entry, ReadOptions, WriteOptions, WriteResult } from '../api/types.js'
import { encodeValue } from '../codec/msgpack.js'
import { randomInt, type Random } from '../runtime/random.js'
import { systemTime, type TimeSource } from '../runtime/time.js'
import { clientProtocol, type ClientRequest, type ClientResponse } from '../service/client-protocol.js'
import type { RawEntry, RawRead } from '../service/kv-service.js'
import type { PeerId, Transport } from '../transport/types.js'
import { decodeEntry, joinTokens } from './local-client.js'
import { validateReadOptions, validateWriteOptions } from './validate.js'
import { decodeSession, emptySession, encodeSession, mergeSessions } from './session.js'

/**
 * The thin client: the `Client` interface over the client protocol of any Transport. It holds no
 * data. Each call goes to one node (the last one that answered, else a random one); a node that is
 * unreachable, overloaded or stopping is skipped and the call retried on the next one after a
 * jittered backoff, within the call's deadline. Writes carry the client id and a sequence number,
 * so a retried write is applied at most once (the state machine deduplicates it).
 */
export interface RemoteClientOptions {
  transport: Transport
  /** The nodes this client may talk to. */
  nodes: PeerId[]
  random: Random
  time?: TimeSource
  /** Deadline of a call that names no timeoutMs. */
  requestTimeoutMs?: number
  /** Longest a single attempt on one node may take while other nodes remain to try. */
  attemptTimeoutMs?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** Most attempts of one call across nodes. */
  attemptsMax?: number
  /** A stable id for deduplication; default random. */
  clientId?: string
  /** Called after each call with the node that served it (the CLI's --debug). */
  onServed?: (info: { op: string, key: string, peer: PeerId, attempts: number }) => void
  /** Releases what the client owns (its transport) on close. */
  onClose?: () => Promise<void>
}

/** Errors after which another node may succeed: nothing was decided about the call. */
const retryable = new Set<string>([ErrorCode.Unavailable, ErrorCode.Overloaded, ErrorCode.Closed, ErrorCode.NotLeader, ErrorCode.Timeout, ErrorCode.QuorumUnavailable])

export class RemoteClient implements Client {
  private readonly transport: Transport
  private readonly nodes: PeerId[]
  private readonly random: Random
  private readonly time: TimeSource
  private readonly requestTimeoutMs: number
  private readonly attemptTimeoutMs: number
  private readonly backoffBaseMs: number
  private readonly backoffMaxMs: number
  private readonly attemptsMax: number
  private readonly clientId: string
  private readonly onServed: RemoteClientOptions['onServed']
  private readonly onClose: RemoteClientOptions['onClose']
  private preferred: number
  private token = encodeSession(emptySession())
  private nextSeq = 1
  private readonly inflight = new Set<number>()
  private closed = false

  constructor (options: RemoteClientOptions) {
    if (options.nodes.length === 0) throw new UnavailableError('no nodes to connect to: pass at least one peer address')
    this.transport = options.transport
    this.nodes = [...options.nodes]
    this.random = options.random
    this.time = options.time ?? systemTime
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 2_000
    this.backoffBaseMs = options.backoffBaseMs ?? 20
    this.backoffMaxMs = options.backoffMaxMs ?? 1_000
    this.attemptsMax = options.attemptsMax ?? Math.max(3, this.nodes.length * 3)
    this.clientId = options.clientId ?? randomId(this.random)
    this.onServed = options.onServed
    this.onClose = options.onClose
    this.preferred = randomInt(this.random, this.nodes.length)
  }

  async put<V> (key: string, value: V, options: WriteOptions = {}): Promise<WriteResult> {
    const encoded = encodeValue(value)
    const result = await this.write('put', key, options, (client, opts) => ({ op: 'put', key, value: encoded, options: opts, client }))
    return result
  }

  async delete (key: string, options: WriteOptions = {}): Promise<WriteResult> {
    return await this.write('delete', key, options, (client, opts) => ({ op: 'delete', key, options: opts, client }))
  }

  async increment (key: string, delta: number, options: WriteOptions = {}): Promise<WriteResult> {
    return await this.crdtWrite('increment', key, options, (opts) => ({ op: 'increment', key, delta, options: opts }))
  }

  async addToSet (key: string, element: string, options: WriteOptions = {}): Promise<WriteResult> {
    return await this.crdtWrite('set-add', key, options, (opts) => ({ op: 'set-add', key, element, options: opts }))
  }

  async removeFromSet (key: string, element: string, options: WriteOptions = {}): Promise<WriteResult> {
    return await this.crdtWrite('set-remove', key, options, (opts) => ({ op: 'set-remove', key, element, options: opts }))
  }

  /**
   * Counter and set writes are not idempotent and carry no deduplication stamp on quorum
   * collections, so they are sent once: a failure is reported, never retried on another node.
   */
  private async crdtWrite (op: string, key: string, options: WriteOptions, build: (opts: Record<string, unknown>) => ClientRequest): Promise<WriteResult> {
    const result = await this.call(op, key, options, build, 1) as WriteResult
    if (result === null || typeof result !== 'object' || typeof result.version !== 'string' || typeof result.session !== 'string') {
      throw new QuorumKvError(ErrorCode.Protocol, 'node sent a malformed write result')
    }
    this.advance(result.session)
    return { key: result.key, version: result.version, etag: result.etag, session: isSessionless(options) ? this.token : result.session }
  }

  async get<V> (key: string, options: ReadOptions = {}): Promise<Entry<V> | undefined> {
    const read = await this.call('get', key, options, (opts) => ({ op: 'get', key, options: opts })) as RawRead
    if (read === null || typeof read !== 'object' || typeof read.session !== 'string' || (read.entry !== undefined && read.entry !== null && !isRawEntry(read.entry))) {
      throw new QuorumKvError(ErrorCode.Protocol, 'node sent a malformed get result')
    }
    this.advance(read.session)
    if (read.entry === undefined || read.entry === null) return undefined
    const entry = decodeEntry<V>(read.entry)
    return isSessionless(options) ? { ...entry, session: this.token } : entry
  }

  session (): string {
    return this.token
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.onClose?.()
  }

  private async write (op: 'put' | 'delete', key: string, options: WriteOptions, build: (client: { id: string, seq: number, lo: number }, opts: Record<string, unknown>) => ClientRequest): Promise<WriteResult> {
    const seq = this.nextSeq++
    this.inflight.add(seq)
    try {
      // `lo` is recomputed per attempt: requests that finished meanwhile need no memory on the node.
      const result = await this.call(op, key, options, (opts) => build({ id: this.clientId, seq, lo: Math.min(...this.inflight) }, opts)) as WriteResult
      if (result === null || typeof result !== 'object' || typeof result.version !== 'string' || typeof result.session !== 'string') {
        throw new QuorumKvError(ErrorCode.Protocol, 'node sent a malformed write result')
      }
      this.advance(result.session)
      return { key: result.key, version: result.version, etag: result.etag, session: isSessionless(options) ? this.token : result.session }
    } finally {
      this.inflight.delete(seq)
    }
  }

  private async call (op: string, key: string, options: ReadOptions | WriteOptions, build: (opts: Record<string, unknown>) => ClientRequest, attemptsMax = this.attemptsMax): Promise<ClientResponse> {
    if (this.closed) throw new ClosedError('this client was closed: connect again')
    const { signal, timeoutMs, ...rest } = (op === 'get' ? validateReadOptions(options) : validateWriteOptions(options)) as ReadOptions & WriteOptions
    const total = timeoutMs ?? this.requestTimeoutMs
    const deadline = this.time.now() + total
    // An eventual or strong call carries no session: the node needs none (a strong call sees every
    // acknowledged write anyway) and answers with a token of what the call saw, which joins this
    // client's own. A busy client's token runs to hundreds of characters, decoded and encoded again
    // on both sides of every call that carries it. A token the caller passed joins now, as the
    // node's answer would have joined it.
    const { session: given, ...others } = rest
    let session: string | undefined
    if (isSessionless(options)) {
      if (given !== undefined) this.advance(given)
    } else {
      session = joinTokens(this.token, given)
    }
    let lastError: QuorumKvError | undefined
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      if (signal?.aborted === true) throw new AbortedError('the call was aborted by its signal; a write may or may not have taken effect')
      const remaining = deadline - this.time.now()
      if (remaining <= 0) break
      const index = (this.preferred + attempt - 1) % this.nodes.length
      const peer = this.nodes[index] as PeerId
      const attemptMs = attempt < attemptsMax ? Math.min(remaining, this.attemptTimeoutMs) : remaining
      try {
        const request = build({ ...others, ...(session !== undefined ? { session } : {}), timeoutMs: Math.max(1, Math.floor(attemptMs)) })
        const response = await this.transport.request(peer, clientProtocol, request, { timeoutMs: attemptMs, ...(signal !== undefined ? { signal } : {}) }) as ClientResponse
        this.onServed?.({ op, key, peer, attempts: attempt })
        // Prefer the leader the node named: writes and strong reads then skip a forwarding hop.
        const leader = typeof response === 'object' && response !== null ? response.leader : undefined
        const leaderIndex = typeof leader === 'string' ? this.nodes.indexOf(leader) : -1
        this.preferred = leaderIndex === -1 ? index : leaderIndex
        return response
      } catch (err) {
        if (!(err instanceof QuorumKvError) || !retryable.has(err.code)) throw err
        lastError = err
      }
      const backoff = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.min(attempt - 1, 16))
      await this.sleep(Math.min(backoff / 2 + randomInt(this.random, Math.ceil(backoff / 2) + 1), Math.max(0, deadline - this.time.now())), signal)
    }
    if (lastError?.code === ErrorCode.Timeout || lastError === undefined) {
      throw new TimeoutError(`no node answered within ${total} ms; a write may or may not have taken effect`, { timeoutMs: total, lastError: lastError?.message ?? null })
    }
    throw lastError
  }

  private async sleep (ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (ms <= 0) return
    await new Promise<void>((resolve) => {
      const timer = this.time.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      const onAbort = (): void => { timer.cancel(); resolve() }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The decoded form of `token`, kept so that a call does not decode the client's own token again. */
  private state = emptySession()

  private advance (token: string): void {
    if (token === this.token) return
    this.state = mergeSessions(this.state, decodeSession(token))
    this.token = encodeSession(this.state)
  }
}

/** Asked for a level that needs no session (the call's own answer then carries only what it saw). */
function isSessionless (options: ReadOptions | WriteOptions): boolean {
  return options.consistency === 'eventual' || options.consistency === 'strong'
}

function isRawEntry (raw: unknown): raw is RawEntry {
  const r = raw as Partial<RawEntry>
  return typeof r === 'object' && r !== null && typeof r.key === 'string' && r.value instanceof Uint8Array &&
    typeof r.version === 'string' && typeof r.etag === 'string' && typeof r.session === 'string'
}

function randomId (random: Random): string {
  let id = ''
  for (let i = 0; i < 4; i++) id += Math.floor(random.next() * 2 ** 32).toString(16).padStart(8, '0')
  return id
}
