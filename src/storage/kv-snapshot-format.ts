import { createHash, type Hash } from 'node:crypto'
import { InvalidArgumentError, ProtocolError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'

/**
 * The byte stream of a key-value snapshot (format 1): what a leader streams and a follower stages.
 *
 *   stream  = frame*                 frame = u32 big-endian length L, then L bytes of msgpack
 *   first   { f: 'quorumkv-kv-snapshot', v: 1, index, term }      the point the state is at
 *   then    [0, key, record]  per raft record of the `data` sublevel, in key order
 *           [1, clientId, session]  per entry of the `sessions` sublevel, in key order
 *   last    { end: records, sha256 }  sha256 over every byte before this frame
 *
 * Frames ignore chunk boundaries: a chunk is any slice of the stream, so one large value may span
 * several chunks and the parser keeps at most one partial frame. The trailer makes the stream
 * self-checking wherever it is read back (when it arrives, and again when a staged copy is
 * installed after a crash): a truncated, corrupted or reordered stream is refused as a whole.
 */
export const kvSnapshotFormat = 'quorumkv-kv-snapshot'
export const kvSnapshotVersion = 1

/** Largest frame: a value of the largest configurable size (64 MiB), a 64 KiB key, and framing. */
export const kvSnapshotFrameBytesMax = 65 * 1024 * 1024
/** Longest key or client id in a record (keys are at most 64 KiB, ids 128 characters). */
const keyCharsMax = 64 * 1024
const lengthBytes = 4
const digestBytes = 32

/** The log position a snapshot's state stands for. */
export interface KvSnapshotPoint {
  index: number
  term: number
}

export type KvSnapshotRecordKind = 'data' | 'session'

export interface KvSnapshotRecord {
  kind: KvSnapshotRecordKind
  key: string
  /** The stored bytes, exactly as in the sublevel. */
  value: Uint8Array
}

/**
 * True for a decoded value the raft state machine wrote: `{ v: bytes, i: index }`. Quorum
 * collections share the `data` sublevel and their records carry a `q` field (see
 * src/replication/record.ts, which draws the same line); those are not part of the snapshot.
 */
export function isRaftRecordValue (raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) return false
  const r = raw as Record<string, unknown>
  return !Object.hasOwn(r, 'q') && r.v instanceof Uint8Array && Number.isSafeInteger(r.i) && (r.i as number) > 0
}

/** True when `bytes` hold a raft record (an undecodable value is not one). */
export function isRaftRecordBytes (bytes: Uint8Array): boolean {
  try {
    return isRaftRecordValue(decode(bytes))
  } catch {
    return false
  }
}

/** A session as KvStateMachine stores it: `{ lo, last, r: [[seq, outcome], ...] }`. */
function isSessionValue (raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) return false
  const s = raw as Record<string, unknown>
  if (!Number.isSafeInteger(s.lo) || !Number.isSafeInteger(s.last) || !Array.isArray(s.r)) return false
  return s.r.every(pair => Array.isArray(pair) && pair.length === 2 && Number.isSafeInteger(pair[0]) &&
    pair[1] !== null && typeof pair[1] === 'object' && typeof (pair[1] as { ok?: unknown }).ok === 'boolean')
}

/**
 * Cuts the stream into chunks of exactly `chunkBytes` (the last may be shorter). Holds at most one
 * chunk plus the frame being added.
 */
export class KvSnapshotWriter {
  private readonly chunkBytes: number
  private readonly hash: Hash = createHash('sha256')
  private chunk: Uint8Array
  private fill = 0
  private records = 0
  private finished = false
  /** Completed chunks not yet handed out. */
  private out: Uint8Array[] = []

  constructor (point: KvSnapshotPoint, chunkBytes: number) {
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new InvalidArgumentError(`chunkBytes must be a positive integer, got ${chunkBytes}`)
    if (!Number.isSafeInteger(point.index) || point.index < 1 || !Number.isSafeInteger(point.term) || point.term < 1) {
      throw new InvalidArgumentError(`a snapshot point needs a positive index and term, got ${point.index}/${point.term}`)
    }
    this.chunkBytes = chunkBytes
    this.chunk = new Uint8Array(chunkBytes)
    this.frame({ f: kvSnapshotFormat, v: kvSnapshotVersion, index: point.index, term: point.term }, true)
  }

  /** Adds a record; returns the chunks it completed. */
  add (record: KvSnapshotRecord): Uint8Array[] {
    if (this.finished) throw new InvalidArgumentError('the snapshot stream is already finished')
    this.frame([record.kind === 'data' ? 0 : 1, record.key, record.value], true)
    this.records++
    return this.take()
  }

  /** Writes the trailer; returns the remaining chunks (the last one possibly short). */
  finish (): Uint8Array[] {
    if (this.finished) throw new InvalidArgumentError('the snapshot stream is already finished')
    this.finished = true
    this.frame({ end: this.records, sha256: new Uint8Array(this.hash.digest()) }, false)
    if (this.fill > 0) this.out.push(this.chunk.slice(0, this.fill))
    this.fill = 0
    return this.take()
  }

  private take (): Uint8Array[] {
    const out = this.out
    this.out = []
    return out
  }

  private frame (payload: unknown, hashed: boolean): void {
    const body = encode(payload)
    if (body.byteLength > kvSnapshotFrameBytesMax) throw new InvalidArgumentError(`a snapshot record of ${body.byteLength} bytes exceeds ${kvSnapshotFrameBytesMax}`)
    const prefix = new Uint8Array(lengthBytes)
    new DataView(prefix.buffer).setUint32(0, body.byteLength)
    for (const part of [prefix, body]) {
      if (hashed) this.hash.update(part)
      this.push(part)
    }
  }

  private push (bytes: Uint8Array): void {
    let at = 0
    while (at < bytes.byteLength) {
      const n = Math.min(this.chunkBytes - this.fill, bytes.byteLength - at)
      this.chunk.set(bytes.subarray(at, at + n), this.fill)
      this.fill += n
      at += n
      if (this.fill === this.chunkBytes) {
        this.out.push(this.chunk)
        this.chunk = new Uint8Array(this.chunkBytes)
        this.fill = 0
      }
    }
  }
}

/**
 * Reads a stream incrementally and refuses anything but a complete, well-formed stream of the
 * expected point. Holds at most one partial frame (`frameBytesMax`) plus the chunk being pushed.
 * Every refusal is a ProtocolError: the bytes came from another node or from staging on disk.
 */
export class KvSnapshotParser {
  private readonly expected: KvSnapshotPoint
  private readonly frameBytesMax: number
  private readonly hash: Hash = createHash('sha256')
  private readonly parts: Uint8Array[] = []
  private partsBytes = 0
  /** Body length of the frame being read, or -1 while its length prefix is awaited. */
  private bodyBytes = -1
  private prefix: Uint8Array | undefined
  private sawHeader = false
  private ended = false
  private records = 0

  constructor (expected: KvSnapshotPoint, options: { frameBytesMax?: number } = {}) {
    this.expected = { index: expected.index, term: expected.term }
    this.frameBytesMax = options.frameBytesMax ?? kvSnapshotFrameBytesMax
  }

  /** Records counted so far. */
  get recordCount (): number {
    return this.records
  }

  /** Consumes the next bytes of the stream; returns the records they completed. */
  push (bytes: Uint8Array): KvSnapshotRecord[] {
    if (bytes.byteLength === 0) return []
    if (this.ended) refuse('bytes after the end of the snapshot stream')
    this.parts.push(bytes)
    this.partsBytes += bytes.byteLength
    const records: KvSnapshotRecord[] = []
    while (true) {
      if (this.bodyBytes < 0) {
        if (this.partsBytes < lengthBytes) break
        const prefix = this.take(lengthBytes)
        this.bodyBytes = new DataView(prefix.buffer, prefix.byteOffset, lengthBytes).getUint32(0)
        this.prefix = prefix
        if (this.bodyBytes === 0 || this.bodyBytes > this.frameBytesMax) refuse(`a frame of ${this.bodyBytes} bytes (at most ${this.frameBytesMax})`)
      }
      if (this.partsBytes < this.bodyBytes) break
      const body = this.take(this.bodyBytes)
      const prefix = this.prefix as Uint8Array
      this.bodyBytes = -1
      this.prefix = undefined
      const record = this.frame(prefix, body)
      if (record !== undefined) records.push(record)
      if (this.ended) {
        if (this.partsBytes > 0) refuse('bytes after the end of the snapshot stream')
        break
      }
    }
    return records
  }

  /** The stream is over: throws unless the trailer arrived and checked out. */
  end (): { records: number } {
    if (!this.ended) refuse(this.sawHeader ? 'the snapshot stream is truncated (no trailer)' : 'the snapshot stream is empty')
    return { records: this.records }
  }

  private frame (prefix: Uint8Array, body: Uint8Array): KvSnapshotRecord | undefined {
    let raw: unknown
    try {
      raw = decode(body)
    } catch (err) {
      refuse(`an undecodable frame: ${(err as Error).message}`)
    }
    if (!this.sawHeader) {
      this.checkHeader(raw)
      this.sawHeader = true
      this.hash.update(prefix)
      this.hash.update(body)
      return undefined
    }
    if (Array.isArray(raw)) {
      const record = parseRecord(raw)
      this.hash.update(prefix)
      this.hash.update(body)
      this.records++
      return record
    }
    this.checkTrailer(raw)
    this.ended = true
    return undefined
  }

  private checkHeader (raw: unknown): void {
    const h = raw as Record<string, unknown> | null
    if (h === null || typeof h !== 'object' || h.f !== kvSnapshotFormat) refuse('the stream does not start with a key-value snapshot header')
    if (h.v !== kvSnapshotVersion) refuse(`unsupported snapshot format version ${String(h.v)} (this node reads ${kvSnapshotVersion})`)
    if (h.index !== this.expected.index || h.term !== this.expected.term) {
      refuse(`the stream holds the state at ${String(h.index)}/${String(h.term)}, expected ${this.expected.index}/${this.expected.term}`)
    }
  }

  private checkTrailer (raw: unknown): void {
    const t = raw as Record<string, unknown> | null
    if (t === null || typeof t !== 'object' || !Number.isSafeInteger(t.end) || !(t.sha256 instanceof Uint8Array) || t.sha256.byteLength !== digestBytes) {
      refuse('a frame that is neither a record nor a trailer')
    }
    if (t.end !== this.records) refuse(`the trailer counts ${String(t.end)} records, the stream held ${this.records}`)
    const digest = this.hash.digest()
    if (!digest.equals(t.sha256)) refuse('the snapshot stream fails its checksum')
  }

  /** Removes and returns the next `n` buffered bytes (a copy when they span chunks). */
  private take (n: number): Uint8Array {
    const head = this.parts[0] as Uint8Array
    let out: Uint8Array
    if (head.byteLength >= n) {
      out = head.subarray(0, n)
      if (head.byteLength === n) this.parts.shift()
      else this.parts[0] = head.subarray(n)
    } else {
      out = new Uint8Array(n)
      let fill = 0
      while (fill < n) {
        const part = this.parts[0] as Uint8Array
        const k = Math.min(part.byteLength, n - fill)
        out.set(part.subarray(0, k), fill)
        fill += k
        if (k === part.byteLength) this.parts.shift()
        else this.parts[0] = part.subarray(k)
      }
    }
    this.partsBytes -= n
    return out
  }
}

function parseRecord (raw: unknown[]): KvSnapshotRecord {
  const [kindCode, key, value] = raw
  if (raw.length !== 3 || (kindCode !== 0 && kindCode !== 1)) refuse('a record must be [0 | 1, key, value]')
  if (typeof key !== 'string' || key.length === 0 || key.length > keyCharsMax) refuse(`a record key must be a string of 1-${keyCharsMax} characters`)
  if (!(value instanceof Uint8Array)) refuse(`the value of record ${key.slice(0, 64)} must be bytes`)
  const kind: KvSnapshotRecordKind = kindCode === 0 ? 'data' : 'session'
  let decoded: unknown
  try {
    decoded = decode(value)
  } catch {
    refuse(`the value of record ${key.slice(0, 64)} is not msgpack`)
  }
  if (kind === 'data' ? !isRaftRecordValue(decoded) : !isSessionValue(decoded)) {
    refuse(`record ${key.slice(0, 64)} is not a valid ${kind === 'data' ? 'raft record' : 'client session'}`)
  }
  // msgpackr hands out a view into the frame: copy, so a record does not pin the whole frame.
  return { kind, key, value: new Uint8Array(value) }
}

function refuse (message: string): never {
  throw new ProtocolError(`invalid key-value snapshot: ${message}`)
}
