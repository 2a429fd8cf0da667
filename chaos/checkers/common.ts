import { operationsOf } from '../history.js'
import type { HistoryEvent, Operation } from '../history.js'

/**
 * Shared vocabulary of the checkers. Every checker returns `valid` plus the anomalies it found,
 * each with the offending operations and a sentence a human can act on; `'unknown'` means the
 * checker could not decide (a search budget ran out, or the history lacks what it needs) and the
 * result says why.
 */
export type Validity = true | false | 'unknown'

export interface Anomaly {
  readonly kind: string
  /** One or two sentences: what was observed and why it breaks the guarantee. */
  readonly explanation: string
  /** The operations involved, the offending one first. */
  readonly ops: readonly Operation[]
}

/** A history as recorded (events) or already paired (operations from `operationsOf`). */
export type History = readonly HistoryEvent[] | readonly Operation[]

/** Anomalies kept in a result by default; the count of all of them is reported separately. */
export const anomaliesMaxDefault = 100

export function toOperations (history: History): readonly Operation[] {
  if (history.length === 0) return []
  const first = history[0] as HistoryEvent | Operation
  return 'outcome' in first ? history as readonly Operation[] : operationsOf(history as readonly HistoryEvent[])
}

/**
 * True when `a` completed before `b` was invoked. Events are ordered by time, and equal times by
 * their position in the history (the recorder appends in real-time order). An op with no
 * definite completion (info, pending) precedes nothing.
 */
export function precedes (a: Operation, b: Operation): boolean {
  if (a.outcome !== 'ok' && a.outcome !== 'fail') return false
  const at = a.completeTime as number
  if (at !== b.invokeTime) return at < b.invokeTime
  return (a.completeIndex as number) < b.invokeIndex
}

/** Orders two (time, event index) positions. */
export function comparePositions (timeA: number, indexA: number, timeB: number, indexB: number): number {
  if (timeA !== timeB) return timeA < timeB ? -1 : 1
  return indexA - indexB
}

/**
 * A canonical string for a value, equal for deeply equal values: object keys sorted, arrays in
 * order, byte arrays by content. undefined and null are the same (both mean "no value").
 */
export function valueKey (value: unknown): string {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'string': return JSON.stringify(value)
    case 'number': return Number.isNaN(value) ? 'NaN' : String(value)
    case 'boolean': return String(value)
    case 'bigint': return `${value}n`
    default: break
  }
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
  if (Array.isArray(value)) return `[${value.map(valueKey).join(',')}]`
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${valueKey(o[k])}`).join(',')}}`
  }
  return String(value)
}

/** A short printable form of a value for explanations. */
export function showValue (value: unknown): string {
  const text = valueKey(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** `p3 write "k" 5 → ok [t 10..12]`, for explanations. */
export function describeOp (op: Operation): string {
  const time = op.completeTime === null ? `${op.invokeTime}..` : `${op.invokeTime}..${op.completeTime}`
  const arg = op.f === 'read' ? '' : ` ${showValue(op.input)}`
  const result = op.outcome === 'ok' && op.f === 'read' ? ` → ${showValue(op.output)}` : ''
  return `p${String(op.process)} ${op.f} ${JSON.stringify(op.key)}${arg}${result} (${op.outcome}) [t ${time}]`
}

/** Keeps the first `max` anomalies and counts them all. */
export class AnomalyLog<A extends Anomaly> {
  readonly kept: A[] = []
  count = 0
  constructor (private readonly max: number) {}

  add (anomaly: A): void {
    this.count++
    if (this.kept.length < this.max) this.kept.push(anomaly)
  }
}

/** Groups ops by key, keeping each group in invoke order and the keys in order of first use. */
export function byKey (ops: readonly Operation[]): Map<string, Operation[]> {
  const groups = new Map<string, Operation[]>()
  for (const op of ops) {
    let g = groups.get(op.key)
    if (g === undefined) {
      g = []
      groups.set(op.key, g)
    }
    g.push(op)
  }
  return groups
}

/**
 * The ok reads of `readF` that are "final" for their key: invoked after every other op of the
 * key completed (its outcome known or given up on), as a Jepsen final read is.
 */
export function finalReadsOf (ops: readonly Operation[], readF = 'read'): Operation[] {
  const finals: Operation[] = []
  for (const group of byKey(ops).values()) {
    let lastTime = -Infinity
    let lastIndex = -1
    for (const op of group) {
      if (op.f === readF) continue
      const t = op.completeTime ?? op.invokeTime
      const i = op.completeIndex ?? op.invokeIndex
      if (comparePositions(t, i, lastTime, lastIndex) > 0) {
        lastTime = t
        lastIndex = i
      }
    }
    for (const op of group) {
      if (op.f !== readF || op.outcome !== 'ok') continue
      if (comparePositions(op.invokeTime, op.invokeIndex, lastTime, lastIndex) > 0) finals.push(op)
    }
  }
  return finals
}

export interface TimelinePoint {
  readonly op: Operation
  /** true: the op's invoke; false: its completion. */
  readonly invoke: boolean
}

/** Invokes and completions of `ops` in real-time order: by time, equal times by history position. */
export function timeline (ops: readonly Operation[]): TimelinePoint[] {
  const points: Array<{ p: TimelinePoint, t: number, i: number }> = []
  for (const op of ops) {
    points.push({ p: { op, invoke: true }, t: op.invokeTime, i: op.invokeIndex })
    if (op.completeTime !== null) points.push({ p: { op, invoke: false }, t: op.completeTime, i: op.completeIndex as number })
  }
  points.sort((x, y) => comparePositions(x.t, x.i, y.t, y.i))
  return points.map((x) => x.p)
}

/** The replica a read names in its `replica` field, else a name made of its process and time. */
export function replicaOf (op: Operation): string {
  const r = op.complete?.replica ?? op.invoke.replica
  return typeof r === 'string' ? r : `p${String(op.process)}@${op.invokeTime}`
}
