import { ProtocolError } from '../../api/errors.js'
import { protocolId } from '../../transport/types.js'
import { parseRaftMessage, type SnapshotMessage } from '../core/index.js'
import { transferIdCharsMax } from './constants.js'

/**
 * The snapshot transfer protocol: request/response, one chunk per request, one request in flight
 * per transfer. The reply is the acknowledgement, so the sender holds one chunk, the receiver
 * writes each chunk before it answers (the disk paces the sender), and a lost chunk or reply is a
 * timed-out request that is sent again (the receiver recognises the duplicate by its offset).
 */
export const raftSnapshotProtocol = protocolId('raft-snapshot')

/** sha256 */
export const checksumBytes = 32

export interface SnapshotChunkRequest {
  /** Names one transfer, so a late or duplicated chunk of another one is never mistaken for this one's. */
  transfer: string
  /**
   * The chunk, in the core's SnapshotMessage shape: `offset` in the stream, `data`, `done` on the
   * last (which may be empty). `snapshot` and `term` are the same on every chunk of a transfer.
   */
  chunk: SnapshotMessage
  /** On the `done` chunk: the sha256 of the whole stream. Empty on the others. */
  checksum: Uint8Array
}

export interface SnapshotChunkReply {
  /** The offset the receiver expects next (everything before it is staged). */
  next: number
  /** The whole snapshot is staged and checked; the receiver handed it to its core. */
  done: boolean
}

function fail (message: string): never {
  throw new ProtocolError(`invalid snapshot chunk: ${message}`)
}

export function parseSnapshotChunkRequest (raw: unknown): SnapshotChunkRequest {
  const r = raw as Record<string, unknown> | null
  if (r === null || typeof r !== 'object' || Array.isArray(r)) fail('not an object')
  for (const key of Object.keys(r)) if (key !== 'transfer' && key !== 'chunk' && key !== 'checksum') fail(`unknown field ${JSON.stringify(key.slice(0, 64))}`)
  if (typeof r.transfer !== 'string' || r.transfer.length === 0 || r.transfer.length > transferIdCharsMax) fail(`transfer must be a string of 1-${transferIdCharsMax} characters`)
  const chunk = parseRaftMessage(r.chunk)
  if (chunk.type !== 'snap') fail(`chunk must be a snap message, not ${chunk.type}`)
  if (chunk.snapshot.index < 1 || chunk.snapshot.term < 1 || chunk.snapshot.term > chunk.term) fail('the snapshot must have a positive index and a term no later than the message\'s')
  if (!(r.checksum instanceof Uint8Array) || r.checksum.byteLength !== (chunk.done ? checksumBytes : 0)) {
    fail(`checksum must be ${checksumBytes} bytes on the done chunk and empty on the others`)
  }
  return { transfer: r.transfer, chunk, checksum: r.checksum }
}

export function parseSnapshotChunkReply (raw: unknown): SnapshotChunkReply {
  const r = raw as Record<string, unknown> | null
  if (r === null || typeof r !== 'object' || !Number.isSafeInteger(r.next) || (r.next as number) < 0 || typeof r.done !== 'boolean') {
    throw new ProtocolError('invalid snapshot chunk reply: it must be { next: offset, done: boolean }')
  }
  return { next: r.next as number, done: r.done }
}
