import { sessionOf } from '../history.js'
import type { Operation } from '../history.js'
import { AnomalyLog, anomaliesMaxDefault, describeOp, showValue, timeline, toOperations } from './common.js'
import type { Anomaly, History, Validity } from './common.js'
import { buildCausalGraph, causalWritesMaxDefault, observedValue } from './causal-graph.js'
import type { CausalGraph } from './causal-graph.js'

/**
 * Causal consistency of a register history (read, write, delete, cas) with unique written values.
 *
 * Sessions: an op's `session` field, else its process. The causal order of writes is described
 * in causal-graph.ts (session order, writes-follow-reads, cas expectations and recorded `deps`).
 *
 * The causal context C(s, t) of session s at time t is every write s had acknowledged or observed
 * (an ok read returned it, an ok cas expected it) by t, plus the causal past of each. Writes whose
 * outcome is unknown are in a context only once something observes them.
 *
 * The check: an ok read R by session s of key k returns value v. The candidates for v are the
 * writes of v to k (and the initial state, when v is null). R is a violation when every candidate
 * is strictly in the causal past of some write u to k in C(s, R's invoke): R returned a value that
 * its session already knew to be overwritten. This one rule covers
 * - read-your-writes: u is the session's own write;
 * - monotonic reads: u is a write the session read before;
 * - causal reads across keys and sessions: u is in the causal past of something the session
 *   observed (it read w2 on key B whose past holds u on key A, then read an older value of A);
 * and a read of null while the context holds a write to k (when no delete wrote null).
 *
 * Also reported: reads of values no write produced or only failed writes produced, and cycles in
 * the causal order (possible only through recorded `deps` or a read of a value written after it).
 * Not checked: that concurrent writes are merged consistently (see convergence.ts), or real-time
 * order (see linearizable.ts).
 */
export interface CausalOptions {
  readonly anomaliesMax?: number
  /** Most writes analysed; beyond, the result is 'unknown'. */
  readonly writesMax?: number
}

export type CausalAnomalyKind =
  | 'read-your-writes'
  | 'monotonic-reads'
  | 'causal-read'
  | 'read-of-unwritten-value'
  | 'read-of-failed-write'
  | 'causal-cycle'

export interface CausalAnomaly extends Anomaly {
  readonly kind: CausalAnomalyKind
  readonly session?: string
  readonly key?: string
  /** causal reads: the write in the session's context that overwrote what was read. */
  readonly overwrittenBy?: Operation
  /** causal reads: the session's op that brought `overwrittenBy` into its context. */
  readonly learnedFrom?: Operation
  /** causal reads: direct dependencies from `overwrittenBy` down to the write that was read. */
  readonly dependencyChain?: readonly Operation[]
}

export interface CausalResult {
  readonly valid: Validity
  /** Why the result is 'unknown', when it is. */
  readonly reason?: string
  readonly readsChecked: number
  readonly writes: number
  /** `deps` entries that could not be resolved to exactly one write (ignored). */
  readonly unresolvedDeps: number
  readonly anomalyCount: number
  readonly anomalies: readonly CausalAnomaly[]
}

interface Learned {
  readonly op: Operation
  readonly write: number
}

export function checkCausal (history: History, options: CausalOptions = {}): CausalResult {
  const ops = toOperations(history)
  const built = buildCausalGraph(ops, options.writesMax ?? causalWritesMaxDefault)
  if (!built.ok) {
    return { valid: 'unknown', reason: built.reason, readsChecked: 0, writes: 0, unresolvedDeps: 0, anomalyCount: 0, anomalies: [] }
  }
  const g = built.graph
  const log = new AnomalyLog<CausalAnomaly>(options.anomaliesMax ?? anomaliesMaxDefault)
  for (const cycle of g.cycles) {
    const cycleOps = cycle.map((id) => g.writes[id] as Operation)
    log.add({ kind: 'causal-cycle', ops: cycleOps, explanation: `these writes each depend on the next, in a cycle: ${cycleOps.map(describeOp).join(' ← ')}; causality cannot be circular (check the recorded deps, or a read that returned a value before it was written).` })
  }

  const writesOfKey = new Map<string, number[]>()
  g.writes.forEach((w, id) => {
    const list = writesOfKey.get(w.key)
    if (list === undefined) writesOfKey.set(w.key, [id])
    else list.push(id)
  })
  const contexts = new Map<string, { bits: Uint32Array, learned: Learned[] }>()
  const contextOf = (s: string): { bits: Uint32Array, learned: Learned[] } => {
    let c = contexts.get(s)
    if (c === undefined) {
      c = { bits: new Uint32Array(g.wordCount), learned: [] }
      contexts.set(s, c)
    }
    return c
  }
  const learn = (s: string, op: Operation, write: number): void => {
    const c = contextOf(s)
    if (has(c.bits, write)) return
    const past = g.pastOf(write)
    for (let w = 0; w < c.bits.length; w++) c.bits[w] = (c.bits[w] as number) | (past[w] as number)
    set(c.bits, write)
    c.learned.push({ op, write })
  }

  const snapshots = new Map<Operation, { bits: Uint32Array, learned: number }>()
  let readsChecked = 0
  for (const { op, invoke } of timeline(ops)) {
    const s = sessionOf(op)
    if (invoke) {
      if (op.f === 'read' && op.outcome === 'ok') {
        const c = contextOf(s)
        snapshots.set(op, { bits: c.bits.slice(), learned: c.learned.length })
      }
      continue
    }
    if (op.outcome !== 'ok') continue
    if (op.f === 'read') {
      readsChecked++
      const snap = snapshots.get(op)
      snapshots.delete(op)
      if (snap !== undefined) checkRead(g, op, s, snap.bits, contextOf(s).learned, snap.learned, writesOfKey.get(op.key) ?? [], log)
    }
    const self = g.idOf(op)
    if (self !== undefined) learn(s, op, self)
    if (op.f === 'read' || op.f === 'cas') {
      const w = g.uniqueWriter(op.key, observedValue(op))
      if (w !== undefined) learn(s, op, w)
    }
  }

  return {
    valid: log.count > 0 ? false : true,
    readsChecked,
    writes: g.writes.length,
    unresolvedDeps: g.unresolvedDeps.length,
    anomalyCount: log.count,
    anomalies: log.kept
  }
}

function checkRead (g: CausalGraph, read: Operation, session: string, context: Uint32Array, learned: readonly Learned[], learnedCount: number, keyWrites: readonly number[], log: AnomalyLog<CausalAnomaly>): void {
  const v = read.output
  const candidates = g.writersOf(read.key, v)
  const initial = v === null || v === undefined
  if (candidates.length === 0 && !initial) {
    const failed = g.failedWritersOf(read.key, v)
    if (failed.length > 0) {
      log.add({ kind: 'read-of-failed-write', session, key: read.key, ops: [read, ...failed], explanation: `${describeOp(read)} returned ${showValue(v)}, which only a failed write (definitely not applied) wrote.` })
    } else {
      log.add({ kind: 'read-of-unwritten-value', session, key: read.key, ops: [read], explanation: `${describeOp(read)} returned ${showValue(v)}, which no write to this key wrote.` })
    }
    return
  }
  // For each candidate, a write to the key in the context that causally follows it.
  let witness: { stale: number | undefined, newer: number } | undefined
  const overwriterOf = (candidate: number | undefined): number | undefined => {
    for (const u of keyWrites) {
      if (u === candidate || !has(context, u)) continue
      if (candidate === undefined || g.before(candidate, u)) return u
    }
    return undefined
  }
  if (initial) {
    const u = overwriterOf(undefined)
    if (u === undefined) return
    witness = { stale: undefined, newer: u }
  }
  for (const c of candidates) {
    const u = overwriterOf(c)
    if (u === undefined) return
    witness ??= { stale: c, newer: u }
  }
  if (witness === undefined) return

  const newer = g.writes[witness.newer] as Operation
  const stale = witness.stale === undefined ? undefined : g.writes[witness.stale] as Operation
  let source: Learned | undefined
  for (let i = 0; i < learnedCount && source === undefined; i++) {
    const l = learned[i] as Learned
    if (l.write === witness.newer || g.before(witness.newer, l.write)) source = l
  }
  const chainIds = witness.stale === undefined ? undefined : g.chain(witness.stale, witness.newer)
  const chain = chainIds?.map((id) => g.writes[id] as Operation)
  let kind: CausalAnomalyKind = 'causal-read'
  let how = 'is in the causal past of something the session observed'
  if (source !== undefined && source.write === witness.newer) {
    if (source.op === newer) {
      kind = 'read-your-writes'
      how = 'is the session\'s own acknowledged write'
    } else {
      kind = 'monotonic-reads'
      how = `was already observed by the session (${describeOp(source.op)})`
    }
  } else if (source !== undefined) {
    how = `is in the causal past of ${describeOp(source.op)}`
  }
  const what = stale === undefined ? 'the initial (missing) value' : `the value of ${describeOp(stale)}`
  log.add({
    kind,
    session,
    key: read.key,
    ops: [read, newer, ...(stale === undefined ? [] : [stale])],
    overwrittenBy: newer,
    learnedFrom: source?.op,
    dependencyChain: chain,
    explanation: `${describeOp(read)} returned ${what}, but ${describeOp(newer)}, which overwrote it, ${how}.`
  })
}

function has (bits: Uint32Array, i: number): boolean {
  return ((bits[i >>> 5] as number) & (1 << (i & 31))) !== 0
}

function set (bits: Uint32Array, i: number): void {
  bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31))
}
