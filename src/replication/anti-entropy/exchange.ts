import { recordToWire, type ReplicaRecord } from '../record.js'
import { ringPosition } from '../ring.js'
import { encode } from '../../codec/msgpack.js'
import { hashStepLevels, keysPerReplyMax, messageBytesTarget, nodesPerRequestMax, recordsPerMessageMax, requestsPerExchangeMax, segmentKeysMax } from './constants.js'
import type { Segment } from './geometry.js'
import type { LocalView } from './local.js'
import {
  parseGetReply, parseHashesReply, parseKeysReply, parsePushReply, segmentsToWire, unknownRange, type RangeRef
} from './messages.js'
import type { ReplicatedRange } from './tree-set.js'

export interface ExchangeResult {
  /** Every difference found was settled within the exchange's limits. */
  complete: boolean
  /** The peer does not replicate the range as we see it (rings differ). */
  unknown: boolean
  /** Keys whose state changed here (pulled) or at the peer (pushed). */
  repairedHere: number
  repairedThere: number
  requests: number
  /**
   * Segments whose hashes differed although both sides listed the same keys and versions: one of
   * the two trees disagrees with its index (a write that raced a rebuild). The service rebuilds.
   */
  phantoms: number
  /** Index entries found stale and fixed. */
  reindexed: number
}

/** Sends one request to the peer (the caller rate-limits and counts bytes). */
export type Call = (message: Record<string, unknown>) => Promise<unknown>

class UnknownRange extends Error {}

/**
 * The asking side of one exchange over one range with one peer: descend the two trees from the
 * root, `hashStepLevels` levels per round trip and only under nodes whose hashes differ, until a
 * differing segment holds few keys (`segmentKeysMax`); list both sides' keys of those segments;
 * pull what the peer has newer or only it has, merge it here; push what we have newer or only
 * we have. An exchange of two equal trees costs one round trip of 16 summaries; otherwise the
 * bytes grow with the differences (times the tree's depth), not with the keys.
 */
export async function exchange (view: LocalView, range: ReplicatedRange, call: Call): Promise<ExchangeResult> {
  const result: ExchangeResult = { complete: true, unknown: false, repairedHere: 0, repairedThere: 0, requests: 0, phantoms: 0, reindexed: 0 }
  const ref: RangeRef = { n: range.n, s: range.arc.range.startExclusive, e: range.arc.range.endInclusive }
  const ask = async (message: Record<string, unknown>): Promise<unknown> => {
    if (result.requests >= requestsPerExchangeMax) {
      result.complete = false
      return undefined
    }
    result.requests++
    return await call({ ...message, ...ref })
  }
  try {
    const leaves = await descend(view, range, ask)
    await settle(view, range, leaves, ask, result)
  } catch (err) {
    if (!(err instanceof UnknownRange)) throw err
    result.unknown = true
    result.complete = false
  }
  return result
}

function nextLevel (range: ReplicatedRange, level: number): number {
  const { depth, geometry } = range.tree
  return level < depth ? Math.min(level + hashStepLevels, depth) : Math.min(level + hashStepLevels, geometry.bits)
}

async function descend (view: LocalView, range: ReplicatedRange, ask: (m: Record<string, unknown>) => Promise<unknown>): Promise<Segment[]> {
  const bits = range.tree.geometry.bits
  const leaves: Segment[] = []
  let frontier: Segment[] = [{ level: 0, index: 0 }]
  if (bits === 0) return frontier
  while (frontier.length > 0) {
    const level = (frontier[0] as Segment).level
    const target = nextLevel(range, level)
    const width = 2 ** (target - level)
    const next: Segment[] = []
    for (let i = 0; i < frontier.length; i += nodesPerRequestMax) {
      const chunk = frontier.slice(i, i + nodesPerRequestMax)
      const root = level === 0 ? { root: range.tree.root.hash } : {}
      const raw = await ask({ t: 'hashes', segs: segmentsToWire(chunk), target, ...root })
      if (raw === undefined) return leaves
      const theirs = parseHashesReply(raw, chunk.length, width)
      if (theirs === unknownRange) throw new UnknownRange()
      if (theirs === 'same') return leaves
      const mine = await view.summaries(range, chunk, target)
      chunk.forEach((seg, s) => {
        for (let j = 0; j < width; j++) {
          const a = mine[s]?.[j]
          const b = theirs[s]?.[j]
          if (a === undefined || b === undefined || a.hash === b.hash) continue
          const child = { level: target, index: seg.index * width + j }
          // One side empty: listing the other's keys is cheaper than descending (a replica that
          // lost its data, a range that just moved), as long as one reply can hold them.
          const oneSided = Math.min(a.count, b.count) === 0 && Math.max(a.count, b.count) <= keysPerReplyMax / 4
          if (target >= bits || Math.max(a.count, b.count) <= segmentKeysMax || oneSided) leaves.push(child)
          else next.push(child)
        }
      })
    }
    frontier = next
  }
  return leaves
}

async function settle (view: LocalView, range: ReplicatedRange, leaves: readonly Segment[], ask: (m: Record<string, unknown>) => Promise<unknown>, result: ExchangeResult): Promise<void> {
  const pull: string[] = []
  const push = new Set<string>()
  let pending = [...leaves]
  while (pending.length > 0) {
    const chunk = pending.slice(0, nodesPerRequestMax)
    const raw = await ask({ t: 'keys', segs: segmentsToWire(chunk) })
    if (raw === undefined) break
    const reply = parseKeysReply(raw)
    if (reply === unknownRange) throw new UnknownRange()
    const g = range.tree.geometry
    const done = chunk.slice(0, reply.done)
    // Their keys by segment (the reply lists whole segments in the order asked).
    const theirsBySeg = new Map<number, Map<string, string>>()
    for (const [key, digest] of reply.keys) {
      const position = ringPosition(key)
      if (!view.holds(range, key, position)) continue
      const rel = g.relative(position)
      const s = done.findIndex(seg => g.indexAt(rel, seg.level) === seg.index)
      if (s < 0) continue
      let m = theirsBySeg.get(s)
      if (m === undefined) theirsBySeg.set(s, m = new Map())
      m.set(key, digest)
    }
    for (let s = 0; s < done.length; s++) {
      const theirs = theirsBySeg.get(s) ?? new Map<string, string>()
      const mine = await view.keysOf(range, done[s] as Segment)
      const mineByKey = new Map(mine.map(k => [k.key, k.digest]))
      const before = pull.length + push.size
      for (const k of mine) {
        const d = theirs.get(k.key)
        if (d === undefined) push.add(k.key)
        else if (d !== k.digest) {
          pull.push(k.key)
          push.add(k.key)
        }
      }
      for (const key of theirs.keys()) if (!mineByKey.has(key)) pull.push(key)
      if (pull.length + push.size === before) result.phantoms++
    }
    // A segment bigger than one reply can never be listed: give up on it (counted incomplete).
    pending = pending.slice(Math.max(reply.done, 1))
    if (reply.done === 0) result.complete = false
  }
  if (pending.length > 0) result.complete = false
  let pulled = [...new Set(pull)]
  const asked = new Set(pulled)
  const unchanged = new Set([...asked, ...push])
  while (pulled.length > 0) {
    const raw = await ask({ t: 'get', keys: pulled.slice(0, recordsPerMessageMax) })
    if (raw === undefined) return
    const recs = parseGetReply(raw)
    if (recs === unknownRange) throw new UnknownRange()
    // The peer stops early when its reply would pass messageBytesTarget: ask again for the rest.
    pulled = pulled.slice(Math.max(recs.length, 1))
    const found = recs.filter((e): e is [string, ReplicaRecord] => e[1] !== undefined && asked.has(e[0]))
    result.repairedHere += await view.mergeAll(found)
  }
  // A key that differed but that no merge rewrote may have a stale index entry (a record written
  // around the indexing engine): re-derive it, or the key would look different on every pass.
  result.reindexed = await view.reindex(unchanged)
  let recs: Array<[string, unknown]> = []
  let bytes = 0
  const flush = async (): Promise<boolean> => {
    if (recs.length === 0) return true
    const raw = await ask({ t: 'push', recs })
    recs = []
    bytes = 0
    if (raw === undefined) return false
    const changed = parsePushReply(raw)
    if (changed === unknownRange) throw new UnknownRange()
    result.repairedThere += changed
    return true
  }
  for (const key of push) {
    const rec: ReplicaRecord | undefined = await view.read(key)
    if (rec === undefined) continue
    const wire = recordToWire(rec)
    const size = encode(wire).byteLength + key.length
    if (recs.length >= recordsPerMessageMax || (recs.length > 0 && bytes + size > messageBytesTarget)) {
      if (!await flush()) return
    }
    recs.push([key, wire])
    bytes += size
  }
  await flush()
}
