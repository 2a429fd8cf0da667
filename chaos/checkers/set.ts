import { InvalidArgumentError } from '../../src/api/errors.js'
import type { Operation } from '../history.js'
import { AnomalyLog, anomaliesMaxDefault, byKey, comparePositions, describeOp, finalReadsOf, precedes, replicaOf, showValue, toOperations, valueKey } from './common.js'
import type { Anomaly, History, Validity } from './common.js'

/**
 * Lost acknowledged writes, Jepsen's set workload: clients `add` elements (value = the element)
 * to a set (the key) and, once the adds are done, read the whole set (`read`, value = array of
 * elements). Every key is a separate set.
 *
 * The final reads are, unless given in `finalReads`, the ok reads of a key invoked after every
 * add to it completed; several (one per replica, named by the read's `replica` field) are all
 * judged. For each final read:
 * - lost: an element is missing though its add was acknowledged (ok), or though a read that
 *   returned before this one was invoked had it;
 * - unexpected: an element no add ever attempted is present;
 * - failed but present: an element whose only add failed (definitely not applied) is present;
 * - recovered: an element whose add had an unknown outcome is present (fine; counted).
 * A key with adds and no final read makes the result 'unknown'.
 */
export interface SetOptions {
  readonly addF?: string
  readonly readF?: string
  /** The final reads to judge instead of the history's, taken after everything in the history. */
  readonly finalReads?: ReadonlyArray<{ readonly key: string, readonly replica?: string, readonly elements: readonly unknown[] }>
  readonly anomaliesMax?: number
}

export type SetAnomalyKind = 'lost' | 'unexpected' | 'failed-add-present'

export interface SetAnomaly extends Anomaly {
  readonly kind: SetAnomalyKind
  readonly key: string
  readonly element: unknown
  /** The final reads (replicas) it concerns. */
  readonly replicas: readonly string[]
}

export interface SetFinalRead {
  readonly key: string
  readonly replica: string
  readonly size: number
  readonly lost: number
  readonly unexpected: number
  readonly recovered: number
}

export interface SetResult {
  readonly valid: Validity
  readonly reason?: string
  readonly keys: number
  readonly attempted: number
  readonly acknowledged: number
  readonly failed: number
  /** Adds with an unknown outcome (info or pending). */
  readonly unknown: number
  /** Elements (per key) missing from at least one final read though acknowledged or seen. */
  readonly lostCount: number
  readonly unexpectedCount: number
  readonly failedPresentCount: number
  /** Unknown-outcome adds present in at least one final read. */
  readonly recoveredCount: number
  readonly finalReads: readonly SetFinalRead[]
  readonly keysWithoutFinalRead: readonly string[]
  readonly anomalyCount: number
  readonly anomalies: readonly SetAnomaly[]
}

interface Element {
  readonly value: unknown
  adds: Operation[]
  seenBy?: Operation
}

interface FinalRead {
  readonly key: string
  readonly replica: string
  readonly elements: readonly unknown[]
  readonly op?: Operation
}

export function checkSet (history: History, options: SetOptions = {}): SetResult {
  const addF = options.addF ?? 'add'
  const readF = options.readF ?? 'read'
  const ops = toOperations(history).filter((op) => op.f === addF || op.f === readF)
  const log = new AnomalyLog<SetAnomaly>(options.anomaliesMax ?? anomaliesMaxDefault)

  const finals: FinalRead[] = options.finalReads?.map((r, i) => ({ key: r.key, replica: r.replica ?? `final-${i}`, elements: r.elements })) ??
    finalReadsOf(ops, readF).map((op) => ({ key: op.key, replica: replicaOf(op), elements: elementsOf(op), op }))
  const finalsByKey = new Map<string, FinalRead[]>()
  for (const r of finals) {
    const list = finalsByKey.get(r.key)
    if (list === undefined) finalsByKey.set(r.key, [r])
    else list.push(r)
  }

  let attempted = 0
  let acknowledged = 0
  let failed = 0
  let unknown = 0
  let lostCount = 0
  let unexpectedCount = 0
  let failedPresentCount = 0
  let recoveredCount = 0
  const reports: SetFinalRead[] = []
  const keysWithoutFinalRead: string[] = []
  const groups = byKey(ops)
  for (const key of finalsByKey.keys()) if (!groups.has(key)) groups.set(key, [])

  for (const [key, group] of groups) {
    const elements = new Map<string, Element>()
    const elementOf = (value: unknown): Element => {
      const k = valueKey(value)
      let e = elements.get(k)
      if (e === undefined) {
        e = { value, adds: [] }
        elements.set(k, e)
      }
      return e
    }
    for (const op of group) {
      if (op.f === addF) {
        attempted++
        if (op.outcome === 'ok') acknowledged++
        else if (op.outcome === 'fail') failed++
        else unknown++
        elementOf(op.input).adds.push(op)
      } else if (op.outcome === 'ok') {
        for (const v of elementsOf(op)) {
          const e = elements.get(valueKey(v))
          if (e !== undefined && (e.seenBy === undefined || completesFirst(op, e.seenBy))) e.seenBy = op
        }
      }
    }
    const reads = finalsByKey.get(key) ?? []
    if (reads.length === 0) {
      if (elements.size > 0) keysWithoutFinalRead.push(key)
      continue
    }
    const missingFrom = new Map<Element, string[]>()
    const unexpected = new Map<string, { value: unknown, replicas: string[], read: FinalRead }>()
    const failedPresent = new Map<Element, string[]>()
    const recovered = new Set<Element>()
    for (const read of reads) {
      const present = new Set(read.elements.map(valueKey))
      let lost = 0
      let unexpectedHere = 0
      let recoveredHere = 0
      for (const e of elements.values()) {
        const acked = e.adds.some((a) => a.outcome === 'ok')
        if (present.has(valueKey(e.value))) {
          if (e.adds.every((a) => a.outcome === 'fail')) push(failedPresent, e, read.replica)
          else if (!acked) {
            recoveredHere++
            recovered.add(e)
          }
        } else if (acked || (e.seenBy !== undefined && (read.op === undefined || precedes(e.seenBy, read.op)))) {
          lost++
          push(missingFrom, e, read.replica)
        }
      }
      for (const v of read.elements) {
        const k = valueKey(v)
        if (elements.has(k)) continue
        unexpectedHere++
        const u = unexpected.get(k)
        if (u === undefined) unexpected.set(k, { value: v, replicas: [read.replica], read })
        else u.replicas.push(read.replica)
      }
      reports.push({ key, replica: read.replica, size: read.elements.length, lost, unexpected: unexpectedHere, recovered: recoveredHere })
    }
    recoveredCount += recovered.size
    for (const [e, replicas] of missingFrom) {
      lostCount++
      const ack = e.adds.find((a) => a.outcome === 'ok')
      const cause = ack !== undefined ? `its add was acknowledged (${describeOp(ack)})` : `an earlier read returned it (${describeOp(e.seenBy as Operation)})`
      log.add({ kind: 'lost', key, element: e.value, replicas, ops: [...(ack !== undefined ? [ack] : []), ...(e.seenBy !== undefined ? [e.seenBy] : [])], explanation: `element ${showValue(e.value)} of set ${JSON.stringify(key)} is missing from the final read of ${replicas.join(', ')}, but ${cause}.` })
    }
    for (const u of unexpected.values()) {
      unexpectedCount++
      log.add({ kind: 'unexpected', key, element: u.value, replicas: u.replicas, ops: u.read.op === undefined ? [] : [u.read.op], explanation: `element ${showValue(u.value)} is in the final read of set ${JSON.stringify(key)} on ${u.replicas.join(', ')}, but no client ever added it.` })
    }
    for (const [e, replicas] of failedPresent) {
      failedPresentCount++
      log.add({ kind: 'failed-add-present', key, element: e.value, replicas, ops: e.adds, explanation: `element ${showValue(e.value)} is in the final read of set ${JSON.stringify(key)} on ${replicas.join(', ')}, but its add failed (definitely not applied).` })
    }
  }

  const valid: Validity = log.count > 0 ? false : keysWithoutFinalRead.length > 0 ? 'unknown' : true
  return {
    valid,
    ...(valid === 'unknown' ? { reason: `no final read of ${keysWithoutFinalRead.map((k) => JSON.stringify(k)).join(', ')} (a read invoked after every add to the set completed)` } : {}),
    keys: groups.size,
    attempted,
    acknowledged,
    failed,
    unknown,
    lostCount,
    unexpectedCount,
    failedPresentCount,
    recoveredCount,
    finalReads: reports,
    keysWithoutFinalRead,
    anomalyCount: log.count,
    anomalies: log.kept
  }
}

function completesFirst (a: Operation, b: Operation): boolean {
  return comparePositions(a.completeTime as number, a.completeIndex as number, b.completeTime as number, b.completeIndex as number) < 0
}

function push<K> (map: Map<K, string[]>, k: K, replica: string): void {
  const list = map.get(k)
  if (list === undefined) map.set(k, [replica])
  else if (!list.includes(replica)) list.push(replica)
}

function elementsOf (op: Operation): readonly unknown[] {
  if (op.output === null || op.output === undefined) return []
  if (!Array.isArray(op.output)) {
    throw new InvalidArgumentError(`a set read must return an array of elements; ${describeOp(op)} returned ${showValue(op.output)}`, { eventIndex: op.completeIndex })
  }
  return op.output
}
