import { ProtocolError } from '../../api/errors.js'
import { recordToWire } from '../record.js'
import { ringPosition } from '../ring.js'
import { encode } from '../../codec/msgpack.js'
import { keysPerReplyMax, messageBytesTarget } from './constants.js'
import { sameRange } from './geometry.js'
import type { LocalView } from './local.js'
import type { AntiEntropyRequest } from './messages.js'
import { segmentsToWire } from './messages.js'
import type { ReplicatedRange, TreeSet } from './tree-set.js'

/**
 * The answering side of an exchange. It trusts nothing in the request: the range must be one this
 * node replicates with the asker among its replicas (else `{ unknown: true }`: the two rings
 * differ, and the asker retries after membership settles), segments must be valid nodes of that
 * range's tree, and keys must belong to the range.
 */
export async function answer (view: LocalView, trees: TreeSet | undefined, from: string, req: AntiEntropyRequest): Promise<unknown> {
  const range = trees?.locate(req.n, req.e)
  if (range === undefined || !sameRange(range.arc.range, { startExclusive: req.s, endInclusive: req.e }) || !range.arc.replicas.includes(from)) {
    return { unknown: true }
  }
  const g = range.tree.geometry
  switch (req.t) {
    case 'hashes': {
      for (const s of req.segs) if (!g.valid(s) || req.target > g.bits || s.level !== (req.segs[0]?.level ?? 0)) throw new ProtocolError('invalid anti-entropy request: a segment outside the range tree', { segment: segmentsToWire([s]) })
      if (req.root !== undefined && req.root === range.tree.root.hash) return { same: true }
      const sums = await view.summaries(range, req.segs, req.target)
      return { sums: sums.map(list => list.map(x => [x.hash, x.count])) }
    }
    case 'keys': {
      const keys: Array<[string, string]> = []
      let bytes = 0
      let done = 0
      for (const s of req.segs) {
        if (!g.valid(s)) throw new ProtocolError('invalid anti-entropy request: a segment outside the range tree', { segment: segmentsToWire([s]) })
        const list = await view.keysOf(range, s)
        // Whole segments only: the asker compares segment by segment.
        const size = list.reduce((n, k) => n + k.key.length * 3 + k.digest.length + 4, 0)
        if (keys.length + list.length > keysPerReplyMax || (done > 0 && bytes + size > messageBytesTarget)) break
        for (const k of list) keys.push([k.key, k.digest])
        bytes += size
        done++
      }
      return { keys, done }
    }
    case 'get': {
      checkKeys(view, range, req.keys)
      const recs: Array<[string, unknown]> = []
      let bytes = 0
      // Records in the order asked, stopping before the reply passes messageBytesTarget (at least
      // one: a record always fits a frame, as a write's replication already sent it).
      for (const key of req.keys) {
        const rec = await view.read(key)
        const wire = rec === undefined ? null : recordToWire(rec)
        const size = wire === null ? key.length : encode(wire).byteLength + key.length
        if (recs.length > 0 && bytes + size > messageBytesTarget) break
        recs.push([key, wire])
        bytes += size
      }
      return { recs }
    }
    case 'push': {
      checkKeys(view, range, req.recs.map(([k]) => k))
      return { changed: await view.mergeAll(req.recs) }
    }
  }
}

function checkKeys (view: LocalView, range: ReplicatedRange, keys: readonly string[]): void {
  for (const key of keys) {
    if (!view.holds(range, key, ringPosition(key))) throw new ProtocolError('invalid anti-entropy request: a key outside the range', { key })
  }
}
