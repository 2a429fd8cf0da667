import { InvalidArgumentError } from '../api/errors.js'
import { compareHlc, parseHlc, type Hlc } from '../clock/hlc.js'
import { compareNodeIds, nodeIdProblem } from '../clock/node-id.js'
import { emptyVersionVector, vvDescends, vvEntries, vvFromEntries, vvGet, vvMerge, vvSize, type VersionVector } from '../clock/version-vector.js'
import { ringPosition, ringPositionBits } from './ring.js'

/**
 * The quorum part of a session token: a bounded summary of the session's causal past on quorum
 * collections. docs/replication.md ("Sessions and tokens") has the argument; in short:
 *
 * - Every write to a quorum key gets a dot (node, seq) from its coordinator, whose seq is a
 *   node-wide increasing counter, and every key's stored state carries a context: a version
 *   vector that covers every dot it has seen. A node applies each dot it issues to its own stored
 *   state for the key before anything else sees it, and never drops that state (only a global
 *   tombstone reap does), so a node's own state for a key covers every dot it ever issued for it.
 * - The token hashes keys into buckets (the top `level` bits of the key's ring position) and keeps,
 *   per bucket, a version vector: for each node, the highest seq of that node's dots on keys of the
 *   bucket that are in the session's causal past.
 * - A read of key k at read-your-writes or causal reflects the session's past once, for every node
 *   n in k's bucket vector S, either the merged context M of the replies covers S[n], or n itself
 *   replied (its own state for k covers every dot n issued for k). Never a stale answer: a dot of
 *   n for k in the session's past is at most S[n], and is covered by M or by n's own state.
 *
 * The bound: at most `sessionBucketsMax` buckets; past it, buckets fold pairwise (level - 1), which
 * only makes S larger. A larger S asks more: a node named in S whose newer dots were on other keys
 * of the same bucket must answer the read itself (a false dependency). That is the cost of a
 * bounded token: a session whose past spans many keys makes reads contact more nodes, and such a
 * read waits, then fails, while such a node is unreachable. It never returns a stale value.
 *
 * `hlc` is the greatest hybrid-clock timestamp of an `lww` version in the past, so that a causal
 * `lww` write can be stamped after everything its session saw.
 */
export interface SessionBucket {
  readonly bucket: number
  readonly vv: VersionVector
}

export interface QuorumSession {
  /** Bits of the ring position that name a bucket, sessionLevelMax down to 0. */
  readonly level: number
  /** Buckets with a non-empty vector, in bucket order. */
  readonly buckets: readonly SessionBucket[]
  readonly hlc?: Hlc
}

/** Bucket resolution of a fresh session: 2^16 buckets, so few keys of one session share one. */
export const sessionLevelMax = 16
/** Most buckets a session keeps before folding. */
export const sessionBucketsMax = 64
/** Most (bucket, node) entries a session keeps before folding further. */
export const sessionEntriesMax = 512
/** Distinct node ids a session may name; a token naming more is refused as corrupt. */
export const sessionNodesMax = 1_024

const emptySession: QuorumSession = Object.freeze({ level: sessionLevelMax, buckets: Object.freeze([]) })

export function emptyQuorumSession (): QuorumSession {
  return emptySession
}

export function isEmptySession (s: QuorumSession): boolean {
  return s.buckets.length === 0 && s.hlc === undefined
}

function bucketAt (position: number, level: number): number {
  return Math.floor(position / 2 ** (ringPositionBits - level))
}

/** The bucket of `key` at `level`. */
export function sessionBucketOf (key: string, level: number): number {
  return bucketAt(ringPosition(key), level)
}

/**
 * What a read of `key` must reflect: for each node, the highest seq of its dots in the session's
 * past on keys of the key's bucket. Empty when the session has no past there.
 */
export function sessionRequirement (s: QuorumSession, key: string): VersionVector {
  const b = sessionBucketOf(key, s.level)
  return findBucket(s, b)?.vv ?? emptyVersionVector
}

/**
 * Nodes of `requirement` the read has not satisfied: neither does the merged context cover the
 * required seq, nor did the node answer for itself.
 */
export function unsatisfiedNodes (requirement: VersionVector, merged: VersionVector, answered: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const [node, seq] of vvEntries(requirement)) {
    if (vvGet(merged, node) >= seq || answered.has(node)) continue
    out.push(node)
  }
  return out
}

/** The session after observing (reading or writing) `key` at context `ctx`. */
export function observeKey (s: QuorumSession, key: string, ctx: VersionVector): QuorumSession {
  if (vvSize(ctx) === 0) return s
  const b = sessionBucketOf(key, s.level)
  const buckets = s.buckets.slice()
  const i = buckets.findIndex(x => x.bucket >= b)
  if (i >= 0 && (buckets[i] as SessionBucket).bucket === b) buckets[i] = { bucket: b, vv: vvMerge((buckets[i] as SessionBucket).vv, ctx) }
  else if (i >= 0) buckets.splice(i, 0, { bucket: b, vv: ctx })
  else buckets.push({ bucket: b, vv: ctx })
  return fold({ level: s.level, buckets, ...(s.hlc !== undefined ? { hlc: s.hlc } : {}) })
}

/** The session after observing an `lww` version stamped `hlc`. */
export function observeHlc (s: QuorumSession, hlc: Hlc | undefined): QuorumSession {
  if (hlc === undefined || (s.hlc !== undefined && compareHlc(s.hlc, hlc) >= 0)) return s
  return { level: s.level, buckets: s.buckets, hlc }
}

/** The least session that has seen everything both have seen (commutative, associative, idempotent). */
export function joinSessions (a: QuorumSession, b: QuorumSession): QuorumSession {
  if (a === b || isEmptySession(b)) return a
  if (isEmptySession(a)) return b
  // A call's answer extends the session it was given: then that answer is the join.
  if (sessionCovers(b, a)) return b
  const hlc = a.hlc === undefined ? b.hlc : b.hlc === undefined ? a.hlc : (compareHlc(a.hlc, b.hlc) >= 0 ? a.hlc : b.hlc)
  if (a.level === b.level) {
    // The common case, merged in one pass over the two sorted bucket lists.
    const buckets: SessionBucket[] = []
    let i = 0
    let j = 0
    while (i < a.buckets.length || j < b.buckets.length) {
      const x = a.buckets[i]
      const y = b.buckets[j]
      if (y === undefined || (x !== undefined && x.bucket < y.bucket)) { buckets.push(x as SessionBucket); i++ } else if (x === undefined || y.bucket < x.bucket) { buckets.push(y); j++ } else {
        buckets.push(vvDescends(x.vv, y.vv) ? x : vvDescends(y.vv, x.vv) ? y : { bucket: x.bucket, vv: vvMerge(x.vv, y.vv) })
        i++
        j++
      }
    }
    return fold({ level: a.level, buckets, ...(hlc !== undefined ? { hlc } : {}) })
  }
  const level = Math.min(a.level, b.level)
  const byBucket = new Map<number, VersionVector>()
  for (const s of [a, b]) {
    for (const x of s.buckets) {
      const bucket = Math.floor(x.bucket / 2 ** (s.level - level))
      byBucket.set(bucket, vvMerge(byBucket.get(bucket) ?? emptyVersionVector, x.vv))
    }
  }
  return fold({ level, buckets: sortedBuckets(byBucket), ...(hlc !== undefined ? { hlc } : {}) })
}

/** Has `a` seen everything `b` has? Then joining `b` into `a` changes nothing `a` requires. */
export function sessionCovers (a: QuorumSession, b: QuorumSession): boolean {
  if (a === b || isEmptySession(b)) return true
  if (b.hlc !== undefined && (a.hlc === undefined || compareHlc(a.hlc, b.hlc) < 0)) return false
  if (a.level > b.level) return false
  for (const x of b.buckets) {
    const vv = findBucket(a, Math.floor(x.bucket / 2 ** (b.level - a.level)))?.vv
    if (vv === undefined || !vvDescends(vv, x.vv)) return false
  }
  return true
}

/** Coarsens the session until it is within bounds; each step merges bucket pairs. */
function fold (s: QuorumSession): QuorumSession {
  let level = s.level
  let buckets = s.buckets
  while (level > 0 && (buckets.length > sessionBucketsMax || entryCount(buckets) > sessionEntriesMax)) {
    level--
    const byBucket = new Map<number, VersionVector>()
    for (const x of buckets) {
      const bucket = Math.floor(x.bucket / 2)
      byBucket.set(bucket, vvMerge(byBucket.get(bucket) ?? emptyVersionVector, x.vv))
    }
    buckets = sortedBuckets(byBucket)
  }
  if (level === s.level) return s
  return { level, buckets, ...(s.hlc !== undefined ? { hlc: s.hlc } : {}) }
}

function entryCount (buckets: readonly SessionBucket[]): number {
  let n = 0
  for (const b of buckets) n += vvSize(b.vv)
  return n
}

function sortedBuckets (byBucket: Map<number, VersionVector>): SessionBucket[] {
  return [...byBucket.entries()].sort((x, y) => x[0] - y[0]).map(([bucket, vv]) => ({ bucket, vv }))
}

function findBucket (s: QuorumSession, bucket: number): SessionBucket | undefined {
  let lo = 0
  let hi = s.buckets.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const b = (s.buckets[mid] as SessionBucket).bucket
    if (b === bucket) return s.buckets[mid]
    if (b < bucket) lo = mid + 1
    else hi = mid
  }
  return undefined
}

/**
 * Plain msgpack-able form, compact: node ids once in a table, each bucket as
 * `[bucket, nodeIndex, seq, nodeIndex, seq, ...]`.
 */
export interface QuorumSessionWire {
  v: 1
  l: number
  n: string[]
  b: number[][]
  h?: Hlc
}

export function sessionToWire (s: QuorumSession): QuorumSessionWire {
  const nodes = new Map<string, number>()
  for (const b of s.buckets) for (const [node] of vvEntries(b.vv)) if (!nodes.has(node)) nodes.set(node, 0)
  const table = [...nodes.keys()].sort(compareNodeIds)
  table.forEach((node, i) => nodes.set(node, i))
  const b = s.buckets.map(x => {
    const row = [x.bucket]
    for (const [node, seq] of vvEntries(x.vv)) row.push(nodes.get(node) as number, seq)
    return row
  })
  return { v: 1, l: s.level, n: table, b, ...(s.hlc !== undefined ? { h: s.hlc } : {}) }
}

/**
 * Validates the quorum part of a token (from a client or a peer) and returns it canonical.
 * Anything malformed is an InvalidArgumentError naming the problem.
 */
export function sessionFromWire (input: unknown): QuorumSession {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw corrupt('it is not an object')
  const { v, l, n, b, h } = input as Record<string, unknown>
  if (v !== 1) throw corrupt(`its format version is ${String(v)}, expected 1`)
  if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l > sessionLevelMax) throw corrupt('its bucket level is out of range')
  if (!Array.isArray(n) || n.length > sessionNodesMax) throw corrupt('its node table is not a list of at most ' + sessionNodesMax)
  for (const node of n as unknown[]) {
    const problem = nodeIdProblem(node)
    if (problem !== undefined) throw corrupt(`a node id ${problem}`)
  }
  const table = n as string[]
  if (new Set(table).size !== table.length) throw corrupt('its node table repeats a node')
  if (!Array.isArray(b) || b.length > sessionBucketsMax) throw corrupt(`it has more than ${sessionBucketsMax} buckets`)
  const byBucket = new Map<number, VersionVector>()
  let entries = 0
  for (const row of b as unknown[]) {
    if (!Array.isArray(row) || row.length < 3 || row.length % 2 !== 1) throw corrupt('a bucket row is malformed')
    const bucket = row[0]
    if (typeof bucket !== 'number' || !Number.isInteger(bucket) || bucket < 0 || bucket >= 2 ** l) throw corrupt('a bucket number is out of range')
    if (byBucket.has(bucket)) throw corrupt('a bucket appears twice')
    const pairs: Array<[string, number]> = []
    for (let i = 1; i < row.length; i += 2) {
      const index = row[i]
      const seq = row[i + 1]
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= table.length) throw corrupt('a node index is out of range')
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw corrupt('a sequence number is not a positive integer')
      pairs.push([table[index] as string, seq])
    }
    entries += pairs.length
    byBucket.set(bucket, vvFromEntries(pairs))
  }
  if (entries > sessionEntriesMax) throw corrupt(`it has more than ${sessionEntriesMax} entries`)
  let hlc: Hlc | undefined
  if (h !== undefined) {
    try {
      hlc = parseHlc(h)
    } catch (err) {
      throw corrupt(`its timestamp is malformed: ${(err as Error).message}`)
    }
  }
  return { level: l, buckets: sortedBuckets(byBucket), ...(hlc !== undefined ? { hlc } : {}) }
}

function corrupt (why: string): InvalidArgumentError {
  return new InvalidArgumentError(`the session token's quorum part is not usable: ${why}; pass the token exactly as quorumkv returned it`)
}
