import { InternalError, InvalidArgumentError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'
import type { BatchOp, StorageEngine } from './engine.js'
import { decodeIndex, decodeRaftRecord, encodeIndex, encodeRaftRecord, etagOfIndex, type RaftRecord } from './records.js'

/**
 * The state machine of raft collections: applies put / delete / conditional writes in log order.
 * The data and the applied index land in one atomic batch, so a crash can neither skip nor repeat
 * an entry. Requests carry a client id and sequence number; a retried request that was already
 * applied returns its first outcome instead of being applied again.
 *
 * Everything here is deterministic given the entries: every replica that applies the same log
 * reaches the same data, the same outcomes and the same deduplication table.
 */
export interface ClientStamp {
  /** Stable id of the client process (random, chosen by the client). */
  id: string
  /** Per-client sequence number of this request; retries reuse it. */
  seq: number
  /** The lowest sequence number the client still waits for: results below it can be forgotten. */
  lo: number
}

export type KvCommand =
  | { op: 'put', key: string, value: Uint8Array, ifMatch?: string, client?: ClientStamp }
  | { op: 'delete', key: string, ifMatch?: string, client?: ClientStamp }

export type KvOutcome =
  | { ok: true, index: number }
  | { ok: false, code: 'PRECONDITION_FAILED' | 'INVALID_ARGUMENT', message: string, index: number }

export interface LogEntry {
  index: number
  /** null: an entry that changes no data (a leader's no-op, a membership change) but is applied. */
  command: KvCommand | null
}

interface ClientSession {
  /** Outcomes by sequence number, for requests at or above `lo`. */
  results: Map<number, KvOutcome>
  lo: number
  /** Log index of the last request: sessions are evicted least recently used first. */
  lastIndex: number
}

/** Most remembered outcomes per client: a client keeps at most this many requests in flight. */
export const clientResultsMax = 1_024

const appliedKey = 'applied'

export class KvStateMachine {
  private readonly engine: StorageEngine
  private readonly clientSessionsMax: number
  /** Insertion order is least recently used first; rebuilt in that order on open so eviction is the same on every replica. */
  private readonly sessions = new Map<string, ClientSession>()
  private applied = 0
  private applying = false
  private replacing: Promise<void> | undefined

  private constructor (engine: StorageEngine, clientSessionsMax: number) {
    this.engine = engine
    this.clientSessionsMax = clientSessionsMax
  }

  static async open (engine: StorageEngine, options: { clientSessionsMax: number }): Promise<KvStateMachine> {
    const sm = new KvStateMachine(engine, options.clientSessionsMax)
    await sm.reload()
    return sm
  }

  /** Re-reads the applied index and the deduplication table from disk (after a snapshot was installed underneath). */
  async reload (): Promise<void> {
    const applied = await this.engine.get('meta', appliedKey)
    this.applied = applied === undefined ? 0 : decodeIndex(applied)
    const loaded: Array<[string, ClientSession]> = []
    for await (const [id, bytes] of this.engine.entries('sessions')) loaded.push([id, decodeSession(bytes)])
    loaded.sort((a, b) => a[1].lastIndex - b[1].lastIndex)
    this.sessions.clear()
    for (const [id, session] of loaded) this.sessions.set(id, session)
  }

  /**
   * Runs `install`, which rewrites the data, sessions and applied index underneath (a snapshot from
   * the leader), with applies refused and reads held until it is done, then reloads. A failed
   * install keeps reads failing: the node must restart (recovery finishes or drops the install).
   */
  async replaceState (install: () => Promise<unknown>): Promise<void> {
    if (this.applying) throw new InternalError('KvStateMachine.replaceState called while an apply is running')
    this.applying = true
    const run = (async () => { await install(); await this.reload() })()
    this.replacing = run
    try {
      await run
      this.replacing = undefined
    } finally {
      this.applying = false
    }
  }

  get appliedIndex (): number {
    return this.applied
  }

  async read (key: string): Promise<RaftRecord | undefined> {
    if (this.replacing !== undefined) await this.replacing
    const bytes = await this.engine.get('data', key)
    return bytes === undefined ? undefined : decodeRaftRecord(bytes)
  }

  /**
   * Applies contiguous entries that follow the applied index (entries at or below it are skipped,
   * so replaying a log after a crash is safe). With `sync`, resolves only once the batch is on disk.
   * Calls must not overlap: the caller serialises them.
   */
  /** `extraOps` are written in the same batch (the Raft driver's commit index). */
  async apply (entries: readonly LogEntry[], options: { sync: boolean, extraOps?: readonly BatchOp[] }): Promise<KvOutcome[]> {
    if (this.applying) throw new InternalError('KvStateMachine.apply called while a previous apply is running')
    this.applying = true
    try {
      return await this.applyUnguarded(entries, options)
    } finally {
      this.applying = false
    }
  }

  private async applyUnguarded (entries: readonly LogEntry[], options: { sync: boolean, extraOps?: readonly BatchOp[] }): Promise<KvOutcome[]> {
    const ops: BatchOp[] = [...(options.extraOps ?? [])]
    const outcomes: KvOutcome[] = []
    const overlay = new Map<string, RaftRecord | null>()
    const touched = new Set<string>()
    const evicted: string[] = []
    let last = this.applied
    for (const entry of entries) {
      if (entry.index <= last) {
        outcomes.push({ ok: false, code: 'INVALID_ARGUMENT', message: 'entry already applied', index: entry.index })
        continue
      }
      if (entry.index !== last + 1) throw new InternalError(`log gap: applied ${last}, next entry ${entry.index}`)
      last = entry.index
      const { command } = entry
      if (command === null) {
        outcomes.push({ ok: true, index: entry.index })
        continue
      }
      const previous = this.lookupResult(command.client)
      if (previous !== undefined) {
        outcomes.push(previous)
        continue
      }
      const outcome = await this.applyOne(entry.index, command, overlay, ops)
      outcomes.push(outcome)
      if (command.client !== undefined) {
        this.remember(command.client, outcome, entry.index, evicted)
        touched.add(command.client.id)
      }
    }
    if (last === this.applied) {
      if (ops.length > 0) await this.engine.write(ops, { sync: options.sync })
      return outcomes
    }
    for (const id of touched) {
      const session = this.sessions.get(id)
      if (session !== undefined) ops.push({ type: 'put', sublevel: 'sessions', key: id, value: encodeSession(session) })
    }
    for (const id of evicted) ops.push({ type: 'del', sublevel: 'sessions', key: id })
    ops.push({ type: 'put', sublevel: 'meta', key: appliedKey, value: encodeIndex(last) })
    await this.engine.write(ops, { sync: options.sync })
    this.applied = last
    return outcomes
  }

  private async applyOne (index: number, command: KvCommand, overlay: Map<string, RaftRecord | null>, ops: BatchOp[]): Promise<KvOutcome> {
    if (command.ifMatch !== undefined) {
      const current = overlay.has(command.key) ? overlay.get(command.key) ?? undefined : await this.read(command.key)
      const currentEtag = current === undefined ? undefined : etagOfIndex(current.index)
      if (currentEtag !== command.ifMatch) {
        const message = current === undefined
          ? `ifMatch ${command.ifMatch} failed: ${command.key} does not exist; read it again and retry`
          : `ifMatch ${command.ifMatch} failed: ${command.key} is now at etag ${currentEtag}; read it again and retry`
        return { ok: false, code: 'PRECONDITION_FAILED', message, index }
      }
    }
    if (command.op === 'put') {
      const record = { value: command.value, index }
      overlay.set(command.key, record)
      ops.push({ type: 'put', sublevel: 'data', key: command.key, value: encodeRaftRecord(record) })
    } else {
      overlay.set(command.key, null)
      ops.push({ type: 'del', sublevel: 'data', key: command.key })
    }
    return { ok: true, index }
  }

  private lookupResult (client: ClientStamp | undefined): KvOutcome | undefined {
    if (client === undefined) return undefined
    const session = this.sessions.get(client.id)
    if (session === undefined) return undefined
    const cached = session.results.get(client.seq)
    if (cached !== undefined) return cached
    if (client.seq < session.lo) {
      // The client said it no longer waits for this request, so this is a stray duplicate.
      return { ok: false, code: 'INVALID_ARGUMENT', message: `request ${client.seq} of client ${client.id} was already answered`, index: session.lastIndex }
    }
    return undefined
  }

  private remember (client: ClientStamp, outcome: KvOutcome, index: number, evicted: string[]): void {
    let session = this.sessions.get(client.id)
    if (session === undefined) {
      session = { results: new Map(), lo: 0, lastIndex: index }
    } else {
      this.sessions.delete(client.id) // re-inserted below: most recently used last
    }
    session.lastIndex = index
    session.lo = Math.max(session.lo, client.lo)
    for (const seq of session.results.keys()) if (seq < session.lo) session.results.delete(seq)
    session.results.set(client.seq, outcome)
    while (session.results.size > clientResultsMax) {
      const oldest = Math.min(...session.results.keys())
      session.results.delete(oldest)
      session.lo = Math.max(session.lo, oldest + 1)
    }
    this.sessions.set(client.id, session)
    while (this.sessions.size > this.clientSessionsMax) {
      const lru = this.sessions.keys().next().value as string
      this.sessions.delete(lru)
      evicted.push(lru)
    }
  }
}

function encodeSession (session: ClientSession): Uint8Array {
  return encode({ lo: session.lo, last: session.lastIndex, r: [...session.results.entries()] })
}

function decodeSession (bytes: Uint8Array): ClientSession {
  const raw = decode(bytes) as { lo: number, last: number, r: Array<[number, KvOutcome]> }
  return { lo: raw.lo, lastIndex: raw.last, results: new Map(raw.r) }
}

/** Validates a command decoded from the log or the network. */
export function parseKvCommand (raw: unknown): KvCommand {
  const c = raw as Partial<{ op: unknown, key: unknown, value: unknown, ifMatch: unknown, client: unknown }>
  if (raw === null || typeof raw !== 'object') throw new InvalidArgumentError('command must be an object')
  if (typeof c.key !== 'string' || c.key.length === 0) throw new InvalidArgumentError('command.key must be a non-empty string')
  if (c.ifMatch !== undefined && typeof c.ifMatch !== 'string') throw new InvalidArgumentError('command.ifMatch must be a string')
  const client = c.client === undefined ? undefined : parseClientStamp(c.client)
  const base = { key: c.key, ...(c.ifMatch !== undefined ? { ifMatch: c.ifMatch as string } : {}), ...(client !== undefined ? { client } : {}) }
  if (c.op === 'put') {
    if (!(c.value instanceof Uint8Array)) throw new InvalidArgumentError('command.value must be bytes')
    return { op: 'put', value: c.value, ...base }
  }
  if (c.op === 'delete') return { op: 'delete', ...base }
  throw new InvalidArgumentError(`unknown command op ${String(c.op)}`)
}

export function parseClientStamp (raw: unknown): ClientStamp {
  const s = raw as Partial<Record<keyof ClientStamp, unknown>>
  if (raw === null || typeof raw !== 'object' || typeof s.id !== 'string' || s.id.length === 0 || s.id.length > 128 ||
    !Number.isSafeInteger(s.seq) || !Number.isSafeInteger(s.lo) || (s.lo as number) < 0 || (s.lo as number) > (s.seq as number)) {
    throw new InvalidArgumentError('client stamp must be { id: string (1-128 chars), seq: integer, lo: integer with 0 <= lo <= seq }')
  }
  return { id: s.id, seq: s.seq as number, lo: s.lo as number }
}
