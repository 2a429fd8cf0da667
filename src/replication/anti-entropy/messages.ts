import { z } from 'zod'
import { ProtocolError } from '../../api/errors.js'
import { protocolId } from '../../transport/types.js'
import { recordFromWire, type ReplicaRecord } from '../record.js'
import { ringPositionBits, ringPositions } from '../ring.js'
import { hashStepLevels, keyCharsMax, keysPerReplyMax, nodesPerRequestMax, recordsPerMessageMax } from './constants.js'
import type { Segment } from './geometry.js'
import type { NodeSummary } from './tree.js'

/**
 * Messages of anti-entropy, all requests from the node that runs the exchange to one peer
 * replica of a range. Every request names the range as (n, startExclusive, endInclusive); a peer
 * whose ring does not have that arc with the asker among its replicas answers `{ unknown: true }`.
 *
 * - `hashes`: the summaries (hash, key count) of the descendants at level `target` of each segment;
 *   with `root` (the asker's root hash, first request only) the answer is `{ same: true }` when the
 *   peer's root equals it, so a range in sync costs one small round trip;
 * - `keys`: the (key, version digest) pairs in the segments, whole segments only;
 * - `get`: the records of keys (null for a key the peer does not hold);
 * - `push`: records to merge, exactly as a write's replication would merge them.
 */
export const antiEntropyProtocol = protocolId('antientropy')

const position = z.number().int().min(0).max(ringPositions - 1)
const key = z.string().min(1).max(keyCharsMax)
const segment = z.tuple([z.number().int().min(0).max(ringPositionBits), z.number().int().min(0).max(ringPositions - 1)])
const rangeFields = { n: z.number().int().min(1).max(7), s: position, e: position }
const segments = z.array(segment).min(1).max(nodesPerRequestMax)
const recordEntry = z.tuple([key, z.unknown()])

const requestSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('hashes'), ...rangeFields, segs: segments, target: z.number().int().min(0).max(ringPositionBits), root: z.string().regex(/^[0-9a-f]{16}$/).optional() }),
  z.strictObject({ t: z.literal('keys'), ...rangeFields, segs: segments }),
  z.strictObject({ t: z.literal('get'), ...rangeFields, keys: z.array(key).min(1).max(recordsPerMessageMax) }),
  z.strictObject({ t: z.literal('push'), ...rangeFields, recs: z.array(recordEntry).min(1).max(recordsPerMessageMax) })
])

export interface RangeRef { n: number, s: number, e: number }

export type AntiEntropyRequest =
  | RangeRef & { t: 'hashes', segs: Segment[], target: number, root?: string }
  | RangeRef & { t: 'keys', segs: Segment[] }
  | RangeRef & { t: 'get', keys: string[] }
  | RangeRef & { t: 'push', recs: Array<[string, ReplicaRecord]> }

function invalid (what: string, err: z.ZodError): ProtocolError {
  const issue = err.issues[0]
  return new ProtocolError(`invalid anti-entropy ${what}: ${issue === undefined ? 'malformed' : `${issue.path.join('.')} ${issue.message}`}`)
}

export function parseAntiEntropyRequest (raw: unknown): AntiEntropyRequest {
  const r = requestSchema.safeParse(raw)
  if (!r.success) throw invalid('request', r.error)
  const m = r.data
  const ref = { n: m.n, s: m.s, e: m.e }
  switch (m.t) {
    case 'hashes': {
      const segs = m.segs.map(([level, index]) => ({ level, index }))
      if (segs.some(s => s.level >= m.target || m.target - s.level > hashStepLevels)) throw new ProtocolError(`invalid anti-entropy request: target must be 1 to ${hashStepLevels} levels below each segment`)
      return { t: 'hashes', ...ref, segs, target: m.target, ...(m.root !== undefined ? { root: m.root } : {}) }
    }
    case 'keys': return { t: 'keys', ...ref, segs: m.segs.map(([level, index]) => ({ level, index })) }
    case 'get': return { t: 'get', ...ref, keys: m.keys }
    case 'push': return { t: 'push', ...ref, recs: m.recs.map(([k, w]) => [k, recordFromWire(w)]) }
  }
}

export function segmentsToWire (segs: readonly Segment[]): Array<[number, number]> {
  return segs.map(s => [s.level, s.index])
}

// ---- replies: validated by the asker ----

const unknownReply = z.strictObject({ unknown: z.literal(true) })
const summary = z.tuple([z.string().regex(/^[0-9a-f]{16}$/), z.number().int().min(0)])
const hashesReply = z.union([
  z.strictObject({ sums: z.array(z.array(summary).max(2 ** hashStepLevels)).max(nodesPerRequestMax) }),
  z.strictObject({ same: z.literal(true) })
])
const keysReply = z.strictObject({ keys: z.array(z.tuple([key, z.string().max(64)])).max(keysPerReplyMax), done: z.number().int().min(0).max(nodesPerRequestMax) })
const getReply = z.strictObject({ recs: z.array(z.tuple([key, z.unknown()])).max(recordsPerMessageMax) })
const pushReply = z.strictObject({ changed: z.number().int().min(0).max(recordsPerMessageMax) })

/** The peer does not replicate the range as the asker sees it (the rings differ). */
export const unknownRange = Symbol('unknown range')

function parseReply<T> (schema: z.ZodType<T>, raw: unknown, what: string): T | typeof unknownRange {
  if (unknownReply.safeParse(raw).success) return unknownRange
  const r = schema.safeParse(raw)
  if (!r.success) throw invalid(`${what} reply`, r.error)
  return r.data
}

/** Summaries per segment; `same` when the peer's root equals the one the asker sent. */
export function parseHashesReply (raw: unknown, segs: number, width: number): NodeSummary[][] | 'same' | typeof unknownRange {
  const r = parseReply(hashesReply, raw, 'hashes')
  if (r === unknownRange) return r
  if ('same' in r) return 'same'
  if (r.sums.length !== segs || r.sums.some(s => s.length !== width)) throw new ProtocolError('invalid anti-entropy hashes reply: wrong number of summaries')
  return r.sums.map(list => list.map(([hash, count]) => ({ hash, count })))
}

/** `done`: how many of the asked segments the keys cover in full (the rest did not fit). */
export function parseKeysReply (raw: unknown): { keys: Array<[string, string]>, done: number } | typeof unknownRange {
  return parseReply(keysReply, raw, 'keys')
}

export function parseGetReply (raw: unknown): Array<[string, ReplicaRecord | undefined]> | typeof unknownRange {
  const r = parseReply(getReply, raw, 'get')
  if (r === unknownRange) return r
  return r.recs.map(([k, w]) => [k, w === null ? undefined : recordFromWire(w)])
}

export function parsePushReply (raw: unknown): number | typeof unknownRange {
  const r = parseReply(pushReply, raw, 'push')
  return r === unknownRange ? r : r.changed
}
