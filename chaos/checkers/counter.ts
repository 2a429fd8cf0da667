import { InvalidArgumentError } from '../../src/api/errors.js'
import type { Operation } from '../history.js'
import { AnomalyLog, anomaliesMaxDefault, byKey, describeOp, finalReadsOf, precedes, replicaOf, toOperations } from './common.js'
import type { Anomaly, History, Validity } from './common.js'

/**
 * Counter exactness: clients add deltas (`add` or `increment`, value = the delta, a finite number,
 * default 1 when null) to a counter (the key) and read it (`read`, value = a number; null reads
 * as `initial`). Each key is a separate counter.
 *
 * Final reads (the ok reads invoked after every increment of the key completed, or the ones in
 * `finalReads`) must lie in [initial + sum of ok deltas + sum of negative unknown deltas,
 * initial + sum of ok deltas + sum of positive unknown deltas]: an ok increment was applied exactly
 * once, a failed one never, an unknown (info/pending) one at most once. All final reads of a key
 * (one per replica) must be equal.
 *
 * With `checkAllReads` every ok read is held to the bounds of its own moment (ok increments that
 * completed before it was invoked are in; increments invoked before it returned may be): right for
 * a strongly consistent counter, too strict for an eventually consistent one.
 */
export interface CounterOptions {
  readonly addFunctions?: readonly string[]
  readonly readF?: string
  readonly initial?: number
  readonly finalReads?: ReadonlyArray<{ readonly key: string, readonly replica?: string, readonly value: number }>
  readonly checkAllReads?: boolean
  readonly anomaliesMax?: number
}

export type CounterAnomalyKind = 'final-read-out-of-range' | 'replicas-disagree' | 'read-out-of-range'

export interface CounterAnomaly extends Anomaly {
  readonly kind: CounterAnomalyKind
  readonly key: string
  readonly value?: number
  readonly lower?: number
  readonly upper?: number
  readonly values?: ReadonlyArray<{ readonly replica: string, readonly value: number }>
}

export interface CounterKeyReport {
  readonly key: string
  readonly okSum: number
  readonly lower: number
  readonly upper: number
  readonly finalValues: ReadonlyArray<{ readonly replica: string, readonly value: number }>
}

export interface CounterResult {
  readonly valid: Validity
  readonly reason?: string
  readonly keys: readonly CounterKeyReport[]
  readonly keysWithoutFinalRead: readonly string[]
  readonly anomalyCount: number
  readonly anomalies: readonly CounterAnomaly[]
}

export function checkCounter (history: History, options: CounterOptions = {}): CounterResult {
  const addFunctions = new Set(options.addFunctions ?? ['add', 'increment'])
  const readF = options.readF ?? 'read'
  const initial = options.initial ?? 0
  const ops = toOperations(history).filter((op) => addFunctions.has(op.f) || op.f === readF)
  const log = new AnomalyLog<CounterAnomaly>(options.anomaliesMax ?? anomaliesMaxDefault)
  const finalsByKey = new Map<string, Array<{ replica: string, value: number, op?: Operation }>>()
  const finals = options.finalReads?.map((r, i) => ({ key: r.key, replica: r.replica ?? `final-${i}`, value: r.value })) ??
    finalReadsOf(ops, readF).map((op) => ({ key: op.key, replica: replicaOf(op), value: readValue(op, initial), op }))
  for (const r of finals) {
    const list = finalsByKey.get(r.key)
    if (list === undefined) finalsByKey.set(r.key, [r])
    else list.push(r)
  }

  const reports: CounterKeyReport[] = []
  const keysWithoutFinalRead: string[] = []
  const groups = byKey(ops)
  for (const key of finalsByKey.keys()) if (!groups.has(key)) groups.set(key, [])
  for (const [key, group] of groups) {
    const adds = group.filter((op) => op.f !== readF && op.outcome !== 'fail')
    let okSum = 0
    let unknownLow = 0
    let unknownHigh = 0
    for (const op of adds) {
      const d = delta(op)
      if (op.outcome === 'ok') okSum += d
      else if (d < 0) unknownLow += d
      else unknownHigh += d
    }
    const lower = initial + okSum + unknownLow
    const upper = initial + okSum + unknownHigh
    const reads = finalsByKey.get(key) ?? []
    reports.push({ key, okSum, lower, upper, finalValues: reads.map(({ replica, value }) => ({ replica, value })) })
    if (reads.length === 0 && adds.length > 0) keysWithoutFinalRead.push(key)
    for (const r of reads) {
      if (r.value >= lower && r.value <= upper) continue
      log.add({ kind: 'final-read-out-of-range', key, value: r.value, lower, upper, ops: r.op === undefined ? [] : [r.op], explanation: `the final read of counter ${JSON.stringify(key)} on ${r.replica} is ${r.value}, outside [${lower}, ${upper}]: ${okSum} acknowledged, unknown-outcome deltas between ${unknownLow} and +${unknownHigh}${r.value < lower ? ' (acknowledged increments were lost)' : ' (increments applied twice, or failed ones applied)'}.` })
    }
    if (new Set(reads.map((r) => r.value)).size > 1) {
      const values = reads.map(({ replica, value }) => ({ replica, value }))
      log.add({ kind: 'replicas-disagree', key, values, ops: reads.flatMap((r) => r.op === undefined ? [] : [r.op]), explanation: `the final reads of counter ${JSON.stringify(key)} differ: ${values.map((v) => `${v.replica}=${v.value}`).join(', ')}.` })
    }
    if (options.checkAllReads === true) checkEveryRead(key, group, readF, initial, log)
  }
  const valid: Validity = log.count > 0 ? false : keysWithoutFinalRead.length > 0 ? 'unknown' : true
  return {
    valid,
    ...(valid === 'unknown' ? { reason: `no final read of ${keysWithoutFinalRead.map((k) => JSON.stringify(k)).join(', ')}` } : {}),
    keys: reports,
    keysWithoutFinalRead,
    anomalyCount: log.count,
    anomalies: log.kept
  }
}

function checkEveryRead (key: string, group: readonly Operation[], readF: string, initial: number, log: AnomalyLog<CounterAnomaly>): void {
  const adds = group.filter((op) => op.f !== readF && op.outcome !== 'fail')
  for (const read of group) {
    if (read.f !== readF || read.outcome !== 'ok') continue
    const value = readValue(read, initial)
    let lower = initial
    let upper = initial
    for (const add of adds) {
      const d = delta(add)
      if (add.outcome === 'ok' && precedes(add, read)) {
        lower += d
        upper += d
      } else if (!precedes(read, add)) {
        if (d < 0) lower += d
        else upper += d
      }
    }
    if (value < lower || value > upper) {
      log.add({ kind: 'read-out-of-range', key, value, lower, upper, ops: [read], explanation: `${describeOp(read)} returned ${value}, but at that moment the counter could only be in [${lower}, ${upper}].` })
    }
  }
}

function delta (op: Operation): number {
  const d = op.input ?? 1
  if (typeof d !== 'number' || !Number.isFinite(d)) {
    throw new InvalidArgumentError(`a counter increment's value must be a finite number; ${describeOp(op)} has ${String(d)}`, { eventIndex: op.invokeIndex })
  }
  return d
}

function readValue (op: Operation, initial: number): number {
  const v = op.output ?? initial
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new InvalidArgumentError(`a counter read must return a number; ${describeOp(op)} returned ${String(v)}`, { eventIndex: op.completeIndex })
  }
  return v
}
