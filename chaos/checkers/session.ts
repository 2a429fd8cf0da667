import { sessionOf, versionOf } from '../history.js'
import type { Operation } from '../history.js'
import { AnomalyLog, anomaliesMaxDefault, describeOp, showValue, timeline, toOperations, valueKey } from './common.js'
import type { Anomaly, History, Validity } from './common.js'
import { buildCausalGraph, causalWritesMaxDefault, isWriteOp, writtenValue } from './causal-graph.js'
import type { CausalGraph } from './causal-graph.js'

/**
 * Session guarantees on a register history (read, write, delete, cas; unique written values):
 * - read-your-writes: a read by a session never returns a value older than the session's own
 *   last acknowledged write to that key;
 * - monotonic reads: nor a value older than one the session already read from that key.
 * Only ops of the session that completed before the read was invoked count. A session is the
 * op's `session` field, else its process.
 *
 * "Older" comes from versions when the history has them:
 * - `version` on an ok completion is the version the store reported: for a write, the version it
 *   created; for a read, the version of the value it returned. A read without one borrows the
 *   version of the (unique) write of its value. A null read without a version, on a key no
 *   delete wrote, is the initial state, older than every version.
 * - versions are compared with `compareVersions(a, b)`: negative when a is older, positive when
 *   newer, 0 when equal, NaN when they are concurrent or incomparable (never a violation). The
 *   default orders two numbers, two bigints or two strings (lexicographically) and answers NaN
 *   otherwise; pass a comparator for version vectors or encoded versions.
 * Where one side has no version, "older" falls back to the causal order of writes (session order
 * and writes-follow-reads, see causal-graph.ts): a value is older than another when its write is
 * in the other's causal past. Comparisons that neither can decide are counted, never reported.
 */
export type VersionComparator = (a: unknown, b: unknown) => number

export function compareVersionsDefault (a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if ((typeof a === 'string' && typeof b === 'string') || (typeof a === 'bigint' && typeof b === 'bigint')) {
    return a < b ? -1 : a > b ? 1 : 0
  }
  return Number.NaN
}

export interface SessionOptions {
  readonly compareVersions?: VersionComparator
  readonly anomaliesMax?: number
  /** Most writes for the causal-order fallback; beyond it, undecided comparisons stay undecided. */
  readonly writesMax?: number
}

export type SessionAnomalyKind = 'read-your-writes' | 'monotonic-reads'

export interface SessionAnomaly extends Anomaly {
  readonly kind: SessionAnomalyKind
  readonly session: string
  readonly key: string
  /** The session's earlier op whose value the read went back behind. */
  readonly reference: Operation
  /** How "older" was decided. */
  readonly decidedBy: 'version' | 'causal-order' | 'initial-value'
  readonly readVersion?: unknown
  readonly referenceVersion?: unknown
}

export interface SessionResult {
  readonly valid: Validity
  readonly readsChecked: number
  readonly comparisons: { readonly byVersion: number, readonly byCausalOrder: number, readonly undecided: number }
  readonly anomalyCount: number
  readonly anomalies: readonly SessionAnomaly[]
}

const initialVersion = Symbol('initial')
const registerFunctions = new Set(['read', 'write', 'delete', 'cas'])

/** What a session knows about one value it read or wrote. */
interface Ref {
  readonly op: Operation
  readonly value: string
  /** undefined: unknown; initialVersion: the initial state. */
  readonly version: unknown
  /** The write that produced the value, 'initial', or undefined when not unique. */
  readonly writer: Operation | 'initial' | undefined
}

type Verdict = { older: boolean, by: 'version' | 'causal-order' | 'initial-value' } | undefined

export function checkSessions (history: History, options: SessionOptions = {}): SessionResult {
  const compare = options.compareVersions ?? compareVersionsDefault
  const ops = toOperations(history).filter((op) => registerFunctions.has(op.f))
  const log = new AnomalyLog<SessionAnomaly>(options.anomaliesMax ?? anomaliesMaxDefault)
  const stats = { byVersion: 0, byCausalOrder: 0, undecided: 0 }

  const writers = new Map<string, Operation[]>()
  const nullWritten = new Set<string>()
  for (const op of ops) {
    if (!isWriteOp(op) || op.outcome === 'fail') continue
    const v = writtenValue(op)
    if (v === null || v === undefined) nullWritten.add(op.key)
    const slot = `${JSON.stringify(op.key)}=${valueKey(v)}`
    const list = writers.get(slot)
    if (list === undefined) writers.set(slot, [op])
    else list.push(op)
  }
  const writerOf = (key: string, value: unknown): Operation | 'initial' | undefined => {
    if (value === null || value === undefined) return nullWritten.has(key) ? undefined : 'initial'
    const list = writers.get(`${JSON.stringify(key)}=${valueKey(value)}`) ?? []
    return list.length === 1 ? list[0] : undefined
  }
  const refOf = (op: Operation): Ref => {
    const value = op.f === 'read' ? op.output : writtenValue(op)
    const writer = op.f === 'read' ? writerOf(op.key, value) : op
    let version = versionOf(op)
    if (version === undefined && writer === 'initial') version = initialVersion
    if (version === undefined && writer !== undefined && writer !== 'initial' && writer.outcome === 'ok') version = versionOf(writer)
    return { op, value: valueKey(value), version, writer }
  }

  let graph: CausalGraph | null | undefined
  const causal = (): CausalGraph | null => {
    if (graph === undefined) {
      const built = buildCausalGraph(ops, options.writesMax ?? causalWritesMaxDefault)
      graph = built.ok ? built.graph : null
    }
    return graph
  }
  const older = (a: Ref, b: Ref): Verdict => {
    // The same value at two versions (a key deleted twice reads null both times) is still ordered.
    if (a.value === b.value && (a.version === undefined || b.version === undefined || a.version === b.version)) return { older: false, by: 'version' }
    if (a.version !== undefined && b.version !== undefined) {
      if (a.version === initialVersion || b.version === initialVersion) {
        return { older: a.version === initialVersion && b.version !== initialVersion, by: 'initial-value' }
      }
      return { older: compare(a.version, b.version) < 0, by: 'version' }
    }
    // On a key no delete wrote, null is the initial state: older than every written value.
    if (a.writer === 'initial') return { older: true, by: 'initial-value' }
    if (b.writer === 'initial') return { older: false, by: 'initial-value' }
    if (a.writer === undefined || b.writer === undefined) return undefined
    const g = causal()
    const ia = g?.idOf(a.writer)
    const ib = g?.idOf(b.writer)
    if (g === null || g === undefined || ia === undefined || ib === undefined) return undefined
    return { older: g.before(ia, ib), by: 'causal-order' }
  }
  const count = (v: Verdict): void => {
    if (v === undefined) stats.undecided++
    else if (v.by === 'causal-order') stats.byCausalOrder++
    else stats.byVersion++
  }

  interface State { lastWrite: Ref | undefined, observed: Ref[] }
  const states = new Map<string, State>()
  const stateOf = (session: string, key: string): State => {
    const id = `${session}\u0000${key}`
    let st = states.get(id)
    if (st === undefined) {
      st = { lastWrite: undefined, observed: [] }
      states.set(id, st)
    }
    return st
  }
  const snapshots = new Map<Operation, State>()
  let readsChecked = 0
  for (const { op, invoke } of timeline(ops)) {
    const session = sessionOf(op)
    const st = stateOf(session, op.key)
    if (invoke) {
      if (op.f === 'read' && op.outcome === 'ok') snapshots.set(op, { lastWrite: st.lastWrite, observed: st.observed.slice() })
      continue
    }
    if (op.outcome !== 'ok') continue
    if (op.f !== 'read') {
      st.lastWrite = refOf(op)
      continue
    }
    readsChecked++
    const ref = refOf(op)
    const snap = snapshots.get(op)
    snapshots.delete(op)
    if (snap !== undefined) {
      let reported = false
      if (snap.lastWrite !== undefined) {
        const v = older(ref, snap.lastWrite)
        count(v)
        if (v?.older === true) {
          reported = true
          log.add(anomaly('read-your-writes', session, ref, snap.lastWrite, v.by))
        }
      }
      for (const seen of snap.observed) {
        if (reported) break
        const v = older(ref, seen)
        count(v)
        if (v?.older === true) {
          reported = true
          log.add(anomaly('monotonic-reads', session, ref, seen, v.by))
        }
      }
    }
    // Keep only the reads not known to be older than another: the session's newest knowledge.
    if (!st.observed.some((x) => x.value === ref.value && x.version === ref.version)) {
      st.observed = st.observed.filter((x) => older(x, ref)?.older !== true)
      st.observed.push(ref)
    }
  }
  return {
    valid: log.count > 0 ? false : true,
    readsChecked,
    comparisons: stats,
    anomalyCount: log.count,
    anomalies: log.kept
  }
}

function anomaly (kind: SessionAnomalyKind, session: string, read: Ref, reference: Ref, by: 'version' | 'causal-order' | 'initial-value'): SessionAnomaly {
  const how = by === 'version'
    ? `version ${showVersion(read.version)} is older than ${showVersion(reference.version)}`
    : by === 'initial-value' ? 'the initial (missing) value is older than any write' : 'its write is in the causal past of that value\'s write'
  const what = kind === 'read-your-writes' ? 'the session\'s own earlier write' : 'a value the session had already read'
  return {
    kind,
    session,
    key: read.op.key,
    reference: reference.op,
    decidedBy: by,
    readVersion: read.version === initialVersion ? undefined : read.version,
    referenceVersion: reference.version === initialVersion ? undefined : reference.version,
    ops: [read.op, reference.op],
    explanation: `${describeOp(read.op)} went back behind ${what}, ${describeOp(reference.op)}: ${how}.`
  }
}

function showVersion (v: unknown): string {
  return v === initialVersion ? 'initial' : showValue(v)
}
