import { decode, encode } from '../codec/msgpack.js'
import { InternalError } from '../api/errors.js'

/**
 * A key's record in a raft collection: the encoded value and the log index that wrote it. The
 * index is the version: totally ordered, identical on every replica.
 */
export interface RaftRecord {
  /** The caller's value, msgpack-encoded once by the client and stored as is. */
  value: Uint8Array
  index: number
}

export function encodeRaftRecord (record: RaftRecord): Uint8Array {
  return encode({ v: record.value, i: record.index })
}

export function decodeRaftRecord (bytes: Uint8Array): RaftRecord {
  const raw = decode(bytes) as { v?: unknown, i?: unknown }
  if (!(raw.v instanceof Uint8Array) || typeof raw.i !== 'number') throw new InternalError('corrupt record in the data sublevel')
  return { value: raw.v, index: raw.i }
}

export function versionOfIndex (index: number): string {
  return String(index)
}

/** Etags are opaque to callers; on raft collections one names one log index. */
export function etagOfIndex (index: number): string {
  return `r${index.toString(36)}`
}

export function encodeIndex (index: number): Uint8Array {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(index))
  return bytes
}

export function decodeIndex (bytes: Uint8Array): number {
  if (bytes.byteLength !== 8) throw new InternalError('corrupt index in the meta sublevel')
  return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0))
}
