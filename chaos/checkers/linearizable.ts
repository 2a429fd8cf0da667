import { InvalidArgumentError } from '../../src/api/errors.js'
import type { Operation } from '../history.js'
import { AnomalyLog, anomaliesMaxDefault, byKey, comparePositions, describeOp, precedes, showValue, toOperations, valueKey } from './common.js'
import type { Anomaly, History, Validity } from './common.js'
import { precheckRegister } from './register-prechecks.js'
import type { PrecheckKind } from './register-prechecks.js'
import { OpKind, searchRegister } from './register-search.js'
import type { DeadEnd, RegisterOps } from './register-search.js'

/**
 * Linearizability of a key-value history. Each key is an independent register (initial value
 * null) with `read`, `write`, `cas` (value [expected, new]; ok means it matched) and `delete`
 * (a write of null); linearizability is compositional, so each key is checked alone.
 *
 * What each outcome means to the search:
 * - `ok`: took effect between its invoke and its completion.
 * - `fail`: never took effect; dropped.
 * - `info` / pending: may take effect at any point after its invoke, or never. Reads with an
 *   unknown outcome say nothing and are dropped.
 *
 * Two reductions run before the search, both exact (they never change the verdict):
 * - an unknown-outcome write or cas whose new value nobody ever observes (no ok read returned it,
 *   no cas expected it) is dropped: it can always be placed after everything else.
 * - an unknown-outcome write whose value is written by no other op and is observed must take
 *   effect before the first observer returned, so it gets that return as its own. With unique
 *   written values this turns most timeouts into ordinary ops.
 *
 * Ties between equal `time` values are broken by position in the history (real-time order).
 */
export interface LinearizabilityOptions {
  /** Search steps allowed per key before that key is reported 'unknown'. */
  readonly stepsMaxPerKey?: number
  /** Memory the memo table of one key's search may use, in bytes; past it the key is 'unknown'. */
  readonly memoBytesMaxPerKey?: number
  /** Wall-clock budget for the whole check; keys not finished in time are 'unknown'. */
  readonly timeMaxMs?: number
  /** Clock for `timeMaxMs` (milliseconds). Defaults to performance.now. */
  readonly now?: () => number
  /**
   * Look for the violations that need no search first (register-prechecks.ts: reads of values
   * never written, written only by failed ops or only later, and stale reads) and report them
   * with a precise explanation. Default true; tests turn it off to exercise the search.
   */
  readonly prechecks?: boolean
  readonly anomaliesMax?: number
}

export const linearizabilityStepsMaxPerKeyDefault = 2_000_000
export const linearizabilityMemoBytesMaxPerKeyDefault = 64 * 1024 * 1024

export type LinearizabilityAnomalyKind = PrecheckKind | 'not-linearizable'

export interface LinearizabilityAnomaly extends Anomaly {
  readonly kind: LinearizabilityAnomalyKind
  readonly key: string
  /** not-linearizable: the longest linearizable prefix the search found (last ops, oldest first). */
  readonly linearizedTail?: readonly Operation[]
  /** not-linearizable: how many ops that prefix holds, of how many to place. */
  readonly linearizedCount?: number
  readonly opsToPlace?: number
  /** not-linearizable: the register's value after that prefix. */
  readonly valueAfterPrefix?: unknown
}

export interface LinearizabilityResult {
  readonly valid: Validity
  readonly keysChecked: number
  /** Register ops given to the search after dropping failed ops and uninformative unknown ones. */
  readonly opsChecked: number
  readonly opsDropped: number
  readonly invalidKeys: readonly string[]
  readonly unknownKeys: ReadonlyArray<{ readonly key: string, readonly reason: string }>
  readonly steps: number
  readonly cacheEntries: number
  readonly anomalyCount: number
  readonly anomalies: readonly LinearizabilityAnomaly[]
}

const registerFunctions = new Set(['read', 'write', 'cas', 'delete'])
const linearizedTailShown = 10

export function checkLinearizable (history: History, options: LinearizabilityOptions = {}): LinearizabilityResult {
  const stepsMax = options.stepsMaxPerKey ?? linearizabilityStepsMaxPerKeyDefault
  const memoWordsMax = Math.floor((options.memoBytesMaxPerKey ?? linearizabilityMemoBytesMaxPerKeyDefault) / 4)
  const now = options.now ?? (() => performance.now())
  const deadline = options.timeMaxMs === undefined ? undefined : now() + options.timeMaxMs
  const outOfTime = deadline === undefined ? undefined : () => now() > deadline
  const log = new AnomalyLog<LinearizabilityAnomaly>(options.anomaliesMax ?? anomaliesMaxDefault)
  const invalidKeys: string[] = []
  const unknownKeys: Array<{ key: string, reason: string }> = []
  let opsChecked = 0
  let opsDropped = 0
  let steps = 0
  let cacheEntries = 0

  const groups = byKey(toOperations(history))
  for (const [key, all] of groups) {
    for (const op of all) {
      if (!registerFunctions.has(op.f)) {
        throw new InvalidArgumentError(`the register checker does not know f "${op.f}" (key ${JSON.stringify(key)}); it checks read, write, cas and delete`, { f: op.f, key })
      }
      if (op.f === 'cas' && !(Array.isArray(op.input) && op.input.length === 2)) {
        throw new InvalidArgumentError(`cas on key ${JSON.stringify(key)} at event ${op.invokeIndex} needs value [expected, new]`, { key, eventIndex: op.invokeIndex })
      }
    }
    if (outOfTime?.() === true) {
      unknownKeys.push({ key, reason: 'time budget ran out before this key was checked' })
      continue
    }
    const prepared = prepare(key, all, options.prechecks ?? true)
    opsDropped += prepared.dropped
    if (prepared.violations.length > 0) {
      for (const a of prepared.violations) log.add(a)
      invalidKeys.push(key)
      continue
    }
    opsChecked += prepared.ops.length
    if (prepared.ops.length === 0) continue
    const result = searchRegister(prepared.register, { stepsMax, outOfTime, memoWordsMax })
    steps += result.steps
    cacheEntries += result.cacheEntries
    if (result.status === 'budget') {
      unknownKeys.push({ key, reason: result.reason })
    } else if (result.status === 'not-linearizable') {
      invalidKeys.push(key)
      log.add(explainDeadEnd(key, prepared, result.deadEnd))
    }
  }
  return {
    valid: invalidKeys.length > 0 ? false : unknownKeys.length > 0 ? 'unknown' : true,
    keysChecked: groups.size,
    opsChecked,
    opsDropped,
    invalidKeys,
    unknownKeys,
    steps,
    cacheEntries,
    anomalyCount: log.count,
    anomalies: log.kept
  }
}

interface Prepared {
  /** The ops the search sees, by their search index. */
  readonly ops: Operation[]
  readonly register: RegisterOps
  /** Value id → a sample value, for explanations. */
  readonly values: unknown[]
  readonly dropped: number
  readonly violations: LinearizabilityAnomaly[]
}

function writtenValue (op: Operation): unknown {
  if (op.f === 'write') return op.input
  if (op.f === 'cas') return (op.input as unknown[])[1]
  return null
}

function isWriter (op: Operation): boolean {
  return op.f !== 'read'
}

function prepare (key: string, all: readonly Operation[], prechecks: boolean): Prepared {
  const ids = new Map<string, number>([['null', 0]])
  const values: unknown[] = [null]
  const id = (v: unknown): number => {
    const k = valueKey(v)
    let i = ids.get(k)
    if (i === undefined) {
      i = values.length
      ids.set(k, i)
      values.push(v)
    }
    return i
  }
  const known = (op: Operation): boolean => op.outcome === 'ok'

  // Observations: the values ok reads returned and every (not failed) cas expected.
  const observers = new Map<number, Operation[]>()
  const observe = (v: number, op: Operation): void => {
    const list = observers.get(v)
    if (list === undefined) observers.set(v, [op])
    else list.push(op)
  }
  const writers = new Map<number, Operation[]>()
  const failedWriters = new Map<number, Operation>()
  for (const op of all) {
    if (op.f === 'read' && known(op)) observe(id(op.output), op)
    if (op.f === 'cas' && op.outcome !== 'fail') observe(id((op.input as unknown[])[0]), op)
    if (!isWriter(op)) continue
    const v = id(writtenValue(op))
    if (op.outcome === 'fail') {
      if (!failedWriters.has(v)) failedWriters.set(v, op)
      continue
    }
    const list = writers.get(v)
    if (list === undefined) writers.set(v, [op])
    else list.push(op)
  }

  const violations: LinearizabilityAnomaly[] = []
  if (prechecks) {
    const facts = {
      observed: (op: Operation) => id(op.f === 'read' ? op.output : (op.input as unknown[])[0]),
      after: (op: Operation) => id(op.f === 'read' ? op.output : writtenValue(op)),
      writers,
      failedWriters,
      values
    }
    for (const finding of precheckRegister(all, facts)) violations.push({ ...finding, key })
  }

  const ops: Operation[] = []
  const patchedReturn = new Map<Operation, Operation>()
  let dropped = 0
  for (const op of all) {
    if (op.outcome === 'fail' || (op.f === 'read' && !known(op))) { dropped++; continue }
    if (!known(op)) {
      const v = id(writtenValue(op))
      const obs = observers.get(v)
      if (obs === undefined) { dropped++; continue }
      // The only writer of an observed value took effect before its first definite observer
      // returned. The initial value (null) needs no writer, so it is never patched.
      if (v !== 0 && (writers.get(v)?.length ?? 0) === 1) {
        let first: Operation | undefined
        for (const o of obs) {
          if (o.outcome !== 'ok') continue
          if (first === undefined || comparePositions(o.completeTime as number, o.completeIndex as number, first.completeTime as number, first.completeIndex as number) < 0) first = o
        }
        if (first !== undefined && !precedes(first, op)) patchedReturn.set(op, first)
      }
    }
    ops.push(op)
  }

  const n = ops.length
  const kind = new Uint8Array(n)
  const a = new Int32Array(n)
  const b = new Int32Array(n)
  const unknown = new Uint8Array(n)
  // Entry sort keys: [time, event index, tiebreak]; a patched return sorts just before its observer's.
  const keys: Array<{ e: number, t: number, i: number, s: number }> = []
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Operation
    if (op.f === 'read') {
      kind[i] = OpKind.Read
      a[i] = id(op.output)
    } else if (op.f === 'cas') {
      kind[i] = OpKind.Cas
      const [expected, next] = op.input as unknown[]
      a[i] = id(expected)
      b[i] = id(next)
    } else {
      kind[i] = OpKind.Write
      a[i] = id(writtenValue(op))
    }
    unknown[i] = known(op) ? 0 : 1
    keys.push({ e: i * 2, t: op.invokeTime, i: op.invokeIndex, s: 0 })
    const observer = patchedReturn.get(op)
    if (known(op)) keys.push({ e: i * 2 + 1, t: op.completeTime as number, i: op.completeIndex as number, s: 0 })
    else if (observer !== undefined) keys.push({ e: i * 2 + 1, t: observer.completeTime as number, i: observer.completeIndex as number, s: -1 })
    else keys.push({ e: i * 2 + 1, t: Infinity, i: op.invokeIndex, s: 0 })
  }
  keys.sort((x, y) => x.t !== y.t ? (x.t < y.t ? -1 : 1) : x.i !== y.i ? x.i - y.i : x.s !== y.s ? x.s - y.s : x.e - y.e)
  const entries = Int32Array.from(keys, (k) => k.e)
  // Unknown ops that never return, grouped by effect; `ops` is in invoke order, so ranks follow calls.
  const twinClass = new Int32Array(n).fill(-1)
  const twinRank = new Int32Array(n)
  const classes = new Map<string, { id: number, size: number }>()
  for (let i = 0; i < n; i++) {
    if (unknown[i] === 0 || patchedReturn.has(ops[i] as Operation)) continue
    const effect = `${kind[i] as number}:${a[i] as number}:${b[i] as number}`
    let c = classes.get(effect)
    if (c === undefined) {
      c = { id: classes.size, size: 0 }
      classes.set(effect, c)
    }
    twinClass[i] = c.id
    twinRank[i] = c.size++
  }
  return { ops, register: { kind, a, b, unknown, entries, twinClass, twinRank, initial: 0 }, values, dropped, violations }
}

function explainDeadEnd (key: string, prepared: Prepared, dead: DeadEnd): LinearizabilityAnomaly {
  const { ops, values } = prepared
  const held = showValue(values[dead.state])
  const prefixOps = dead.prefix.map((i) => ops[i] as Operation)
  const candidates = dead.candidates.map((i) => ops[i] as Operation)
  const blocking = dead.blocking === -1 ? undefined : ops[dead.blocking]
  const others = candidates.filter((c) => c !== blocking)
  const prefix = `the longest valid order found places ${prefixOps.length} of ${ops.length} ops and leaves the register at ${held}`
  const noneHelps = (v: string): string => others.length === 0
    ? 'no other op can take effect before it returned'
    : `no order of the ${others.length} other op${others.length === 1 ? '' : 's'} that can take effect before it returned (listed in ops) produces ${v}`
  let why: string
  if (blocking === undefined) {
    why = `the search ran out of operations to place; ${prefix}.`
  } else if (blocking.f === 'read') {
    const v = showValue(blocking.output)
    why = `${describeOp(blocking)} cannot have returned ${v}: ${prefix}, and ${noneHelps(v)}.`
  } else if (blocking.f === 'cas') {
    const v = showValue((blocking.input as unknown[])[0])
    why = `${describeOp(blocking)} succeeded, so it found ${v}, but ${prefix}, and ${noneHelps(v)}.`
  } else {
    why = `${describeOp(blocking)} must take effect before it returned, but every place for it leaves a later read or cas unexplained; ${prefix}.`
  }
  const involved = blocking === undefined ? candidates : [blocking, ...candidates.filter((c) => c !== blocking)]
  return {
    kind: 'not-linearizable',
    key,
    ops: involved,
    explanation: `key ${JSON.stringify(key)} is not linearizable: ${why}`,
    linearizedTail: prefixOps.slice(-linearizedTailShown),
    linearizedCount: prefixOps.length,
    opsToPlace: ops.length,
    valueAfterPrefix: values[dead.state]
  }
}
