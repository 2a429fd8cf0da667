import { ClosedError } from '../api/errors.js'
import type { Client, Entry, ReadOptions, WriteOptions, WriteResult } from '../api/types.js'
import { decode, encodeValue } from '../codec/msgpack.js'
import type { KvService, RawEntry } from '../service/kv-service.js'
import { decodeSession, emptySession, encodeSession, mergeSessions } from './session.js'

/**
 * The client an embedding program gets from `node.client()`: the same interface as the remote
 * client, calling the node's service in-process. It keeps a session token that advances with
 * every call, and sends it with every call unless the caller passes one.
 */
export class LocalClient implements Client {
  private readonly service: KvService
  private token = encodeSession(emptySession())
  private closed = false

  constructor (service: KvService) {
    this.service = service
  }

  async put<V> (key: string, value: V, options?: WriteOptions): Promise<WriteResult> {
    this.assertOpen()
    const result = await this.service.put(key, encodeValue(value), this.withSession(options))
    this.advance(result.session)
    return result
  }

  async get<V> (key: string, options?: ReadOptions): Promise<Entry<V> | undefined> {
    this.assertOpen()
    const read = await this.service.get(key, this.withSession(options))
    this.advance(read.session)
    return read.entry === undefined ? undefined : decodeEntry<V>(read.entry)
  }

  async delete (key: string, options?: WriteOptions): Promise<WriteResult> {
    this.assertOpen()
    const result = await this.service.delete(key, this.withSession(options))
    this.advance(result.session)
    return result
  }

  async increment (key: string, delta: number, options?: WriteOptions): Promise<WriteResult> {
    this.assertOpen()
    return this.done(await this.service.increment(key, delta, this.withSession(options)))
  }

  async addToSet (key: string, element: string, options?: WriteOptions): Promise<WriteResult> {
    this.assertOpen()
    return this.done(await this.service.setOp('set-add', key, element, this.withSession(options)))
  }

  async removeFromSet (key: string, element: string, options?: WriteOptions): Promise<WriteResult> {
    this.assertOpen()
    return this.done(await this.service.setOp('set-remove', key, element, this.withSession(options)))
  }

  session (): string {
    return this.token
  }

  private done (result: WriteResult): WriteResult {
    this.advance(result.session)
    return { key: result.key, version: result.version, etag: result.etag, session: result.session }
  }

  async close (): Promise<void> {
    this.closed = true
  }

  /** The call carries everything this client has seen, joined with any token the caller passes. */
  private withSession<O extends { session?: string }> (options: O | undefined): O {
    if (options === undefined) return { session: this.token } as O
    if (options === null || typeof options !== 'object') return options // the service names the error
    return { ...options, session: joinTokens(this.token, options.session) }
  }

  /** A token from the caller may be ahead of ours (handed over by another agent): keep the merge. */
  /** The decoded form of `token`, kept so that a call does not decode the client's own token again. */
  private state = emptySession()

  private advance (token: string): void {
    if (token === this.token) return
    this.state = mergeSessions(this.state, decodeSession(token))
    this.token = encodeSession(this.state)
  }

  private assertOpen (): void {
    if (this.closed) throw new ClosedError('this client was closed: get a new one from node.client()')
  }
}

/** Joins a caller's token into the client's; an invalid one is passed on for the service to refuse. */
export function joinTokens (own: string, given: unknown): string {
  if (given === undefined) return own
  if (typeof given !== 'string') return given as string
  let theirs
  try {
    theirs = decodeSession(given)
  } catch {
    return given
  }
  return encodeSession(mergeSessions(decodeSession(own), theirs))
}

export function decodeEntry<V> (raw: RawEntry): Entry<V> {
  const entry: Entry<V> = { key: raw.key, value: decode(raw.value) as V, version: raw.version, etag: raw.etag, session: raw.session }
  if (raw.siblings !== undefined) entry.siblings = raw.siblings.map(s => decode(s) as V)
  if (raw.context !== undefined) entry.context = raw.context
  return entry
}
