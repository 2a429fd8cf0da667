import type { Operation } from '../history.js'
import { comparePositions, describeOp, showValue } from './common.js'

/**
 * Violations of register linearizability that need no search, found in O(n log n) per key. They
 * are exact (each one proves the key is not linearizable) and come with a precise explanation,
 * and they decide in microseconds the histories on which the search would take longest: a stale
 * read deep inside a long single-key history makes the search exhaust every order before it.
 *
 * An "observer" is an ok read (it saw its result) or an ok cas (it saw its expected value).
 * - read-of-unwritten-value / read-of-failed-write: an observer saw a non-null value that no op
 *   wrote, or that only failed ops wrote.
 * - read-from-future: every write of the value was invoked after the observer returned.
 * - stale-read: the value v has exactly one writer W, W returned ok before some ok op X was
 *   invoked, X returned before the observer was invoked, and X left the register holding
 *   something other than v (it wrote, deleted or cas'ed another value, or read another value).
 *   Then W < X < observer in every linearization, and nothing can write v again.
 */
export type PrecheckKind = 'read-of-unwritten-value' | 'read-of-failed-write' | 'read-from-future' | 'stale-read'

export interface PrecheckFinding {
  readonly kind: PrecheckKind
  readonly ops: readonly Operation[]
  readonly explanation: string
}

export interface RegisterFacts {
  /** Value id of an op's observation (read result, cas expected value); 0 is null. */
  readonly observed: (op: Operation) => number
  /** Value id the register holds right after the op (for a read: what it read). */
  readonly after: (op: Operation) => number
  /** Non-failed writers of each value id, and one failed writer per value id. */
  readonly writers: ReadonlyMap<number, readonly Operation[]>
  readonly failedWriters: ReadonlyMap<number, Operation>
  readonly values: readonly unknown[]
}

export function precheckRegister (all: readonly Operation[], facts: RegisterFacts): PrecheckFinding[] {
  const findings: PrecheckFinding[] = []
  const observers = all.filter((op) => op.outcome === 'ok' && (op.f === 'read' || op.f === 'cas') && facts.observed(op) !== 0)
  if (observers.length === 0) return findings
  const movers = moverIndex(all, facts)
  for (const o of observers) {
    const v = facts.observed(o)
    const shown = showValue(facts.values[v])
    const what = o.f === 'read' ? `returned ${shown}` : `found its expected value ${shown}`
    const w = facts.writers.get(v)
    if (w === undefined) {
      const failed = facts.failedWriters.get(v)
      findings.push(failed === undefined
        ? { kind: 'read-of-unwritten-value', ops: [o], explanation: `${describeOp(o)} ${what}, which no operation on this key ever wrote.` }
        : { kind: 'read-of-failed-write', ops: [o, failed], explanation: `${describeOp(o)} ${what}, which only ${describeOp(failed)} wrote, and that write failed (definitely did not take effect).` })
      continue
    }
    if (w.every((x) => returnedBefore(o, x))) {
      findings.push({ kind: 'read-from-future', ops: [o, ...w], explanation: `${describeOp(o)} ${what}, but every write of that value was invoked after it returned: ${describeOp(w[0] as Operation)}.` })
      continue
    }
    const writer = w[0] as Operation
    if (w.length !== 1 || writer.outcome !== 'ok') continue
    const x = movers.between(writer, o, v)
    if (x === undefined) continue
    const moved = x.f === 'read' ? `read ${showValue(x.output)}` : `left ${showValue(facts.values[facts.after(x)])}`
    findings.push({
      kind: 'stale-read',
      ops: [o, x, writer],
      explanation: `${describeOp(o)} ${what}, a stale value: its only writer ${describeOp(writer)} returned before ${describeOp(x)} was invoked, which ${moved}, and that returned before the ${o.f} was invoked; nothing wrote ${shown} again.`
    })
  }
  return findings
}

function returnedBefore (a: Operation, b: Operation): boolean {
  return comparePositions(a.completeTime as number, a.completeIndex as number, b.invokeTime, b.invokeIndex) < 0
}

/**
 * Ok ops sorted by invoke, with, for every suffix, the op that returns first and the op that
 * returns first among those leaving a different value: enough to answer "is there an op entirely
 * inside (W returned, O invoked) that leaves something other than v" by one binary search.
 */
function moverIndex (all: readonly Operation[], facts: RegisterFacts): { between: (w: Operation, o: Operation, v: number) => Operation | undefined } {
  const ok = all.filter((op) => op.outcome === 'ok').sort((a, b) => comparePositions(a.invokeTime, a.invokeIndex, b.invokeTime, b.invokeIndex))
  const n = ok.length
  const first: Array<Operation | undefined> = new Array(n + 1).fill(undefined)
  const second: Array<Operation | undefined> = new Array(n + 1).fill(undefined)
  const earlier = (a: Operation, b: Operation | undefined): boolean => b === undefined || comparePositions(a.completeTime as number, a.completeIndex as number, b.completeTime as number, b.completeIndex as number) < 0
  for (let i = n - 1; i >= 0; i--) {
    const op = ok[i] as Operation
    let f = first[i + 1]
    let s = second[i + 1]
    if (earlier(op, f)) {
      // The old first becomes the runner-up when it left a different value; otherwise the old
      // runner-up already differs from both.
      if (f !== undefined && facts.after(f) !== facts.after(op)) s = f
      f = op
    } else if (facts.after(op) !== facts.after(f as Operation) && earlier(op, s)) {
      s = op
    }
    first[i] = f
    second[i] = s
  }
  return {
    between (w, o, v) {
      let lo = 0
      let hi = n
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        const m = ok[mid] as Operation
        if (comparePositions(m.invokeTime, m.invokeIndex, w.completeTime as number, w.completeIndex as number) > 0) hi = mid
        else lo = mid + 1
      }
      for (const c of [first[lo], second[lo]]) {
        if (c !== undefined && facts.after(c) !== v && returnedBefore(c, o)) return c
      }
      return undefined
    }
  }
}
