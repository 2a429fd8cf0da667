import { sessionOf } from '../history.js'
import type { Operation } from '../history.js'
import { timeline, valueKey } from './common.js'

/**
 * The causal order of the writes in a register history, for the session and causal checkers.
 *
 * Writes are the ops `write`, `delete` (a write of null) and `cas` (a write of its new value),
 * whatever their outcome except `fail` (a failed write never happened). A write's direct causal
 * dependencies are:
 * - what its session had in its causal context when the write was invoked: the session's own
 *   earlier acknowledged writes and the writes its earlier ok reads returned (a read names the
 *   write that produced its value when exactly one write did; with unique written values, always);
 * - for a cas, the write that produced its expected value;
 * - the `deps` field recorded on the write's invoke, if any: an array of `{ key, value }` objects
 *   (or bare values, when values are unique across keys). It carries causality the checker cannot
 *   see, such as a session token handed from one process to another.
 * The causal past of a write is the transitive closure of those, held as one bitset per write.
 */
export interface CausalGraph {
  readonly writes: readonly Operation[]
  idOf: (op: Operation) => number | undefined
  /** Ids of the non-failed writes that wrote `value` to `key`. */
  writersOf: (key: string, value: unknown) => readonly number[]
  /** The one write that can have produced `value` on `key`: undefined for null or a value written twice. */
  uniqueWriter: (key: string, value: unknown) => number | undefined
  /** Failed writes of `value` to `key`. */
  failedWritersOf: (key: string, value: unknown) => readonly Operation[]
  /** True when some write of `key` wrote null (a delete), so a null read is not just the initial value. */
  hasNullWriter: (key: string) => boolean
  /** True when write `a` is in the strict causal past of write `b`. */
  before: (a: number, b: number) => boolean
  /** The causal past of write `id` (a bitset over write ids). */
  pastOf: (id: number) => Uint32Array
  /** A chain of direct dependencies from `to` back to `from` (both included), or undefined. */
  chain: (from: number, to: number) => number[] | undefined
  readonly wordCount: number
  /** Dependency cycles found (each as write ids); each cycle's closing edge was ignored. */
  readonly cycles: ReadonlyArray<readonly number[]>
  /** `deps` entries that named no write, or more than one. */
  readonly unresolvedDeps: ReadonlyArray<{ readonly op: Operation, readonly dep: unknown, readonly reason: string }>
}

export type CausalGraphBuild =
  | { readonly ok: true, readonly graph: CausalGraph }
  | { readonly ok: false, readonly reason: string }

/** Past sets take writes² bits; past this many writes the checkers answer 'unknown'. */
export const causalWritesMaxDefault = 40_000

const writerFunctions = new Set(['write', 'delete', 'cas'])

export function isWriteOp (op: Operation): boolean {
  return writerFunctions.has(op.f)
}

/** The value a write op writes. */
export function writtenValue (op: Operation): unknown {
  if (op.f === 'write') return op.input
  if (op.f === 'cas') return Array.isArray(op.input) ? op.input[1] : undefined
  return null
}

/** The value an ok op observed: a read's result, a cas's expected value; undefined for others. */
export function observedValue (op: Operation): unknown {
  if (op.f === 'read') return op.output
  if (op.f === 'cas') return Array.isArray(op.input) ? op.input[0] : undefined
  return undefined
}

export function buildCausalGraph (ops: readonly Operation[], writesMax = causalWritesMaxDefault): CausalGraphBuild {
  const writes = ops.filter((op) => isWriteOp(op) && op.outcome !== 'fail')
  if (writes.length > writesMax) {
    return { ok: false, reason: `the history has ${writes.length} writes; causal analysis is limited to ${writesMax} (it keeps writes² bits)` }
  }
  const ids = new Map<Operation, number>()
  writes.forEach((w, i) => ids.set(w, i))
  const byValue = new Map<string, number[]>()
  const byBareValue = new Map<string, number[]>()
  const failed = new Map<string, Operation[]>()
  const nullWriters = new Set<string>()
  const slot = (key: string, value: unknown): string => `${JSON.stringify(key)}=${valueKey(value)}`
  const push = <T>(map: Map<string, T[]>, k: string, v: T): void => {
    const list = map.get(k)
    if (list === undefined) map.set(k, [v])
    else list.push(v)
  }
  for (const op of ops) {
    if (!isWriteOp(op)) continue
    const v = writtenValue(op)
    if (op.outcome === 'fail') {
      push(failed, slot(op.key, v), op)
      continue
    }
    const id = ids.get(op) as number
    push(byValue, slot(op.key, v), id)
    push(byBareValue, valueKey(v), id)
    if (v === null || v === undefined) nullWriters.add(op.key)
  }
  const writersOf = (key: string, value: unknown): readonly number[] => byValue.get(slot(key, value)) ?? []

  // Direct dependencies, from the session contexts as the history unfolds.
  const n = writes.length
  const direct: number[][] = writes.map(() => [])
  const unresolvedDeps: Array<{ op: Operation, dep: unknown, reason: string }> = []
  const atoms = new Map<string, Set<number>>()
  const atInvoke = new Map<Operation, Set<number>>()
  const atomsOf = (s: string): Set<number> => {
    let set = atoms.get(s)
    if (set === undefined) {
      set = new Set()
      atoms.set(s, set)
    }
    return set
  }
  const uniqueWriter = (key: string, value: unknown): number | undefined => {
    // Null is also the initial state, so a delete is never its only possible source.
    if (value === null || value === undefined) return undefined
    const list = writersOf(key, value)
    return list.length === 1 ? list[0] : undefined
  }
  for (const { op, invoke } of timeline(ops)) {
    const session = atomsOf(sessionOf(op))
    const id = ids.get(op)
    if (invoke) {
      if (id === undefined) continue
      const deps = new Set(session)
      atInvoke.set(op, deps)
      if (op.f === 'cas' && op.outcome === 'ok') {
        const e = uniqueWriter(op.key, observedValue(op))
        if (e !== undefined && e !== id) deps.add(e)
      }
      for (const dep of recordedDeps(op)) {
        const found = dep.key === undefined ? byBareValue.get(valueKey(dep.value)) ?? [] : writersOf(dep.key, dep.value)
        if (found.length === 1) deps.add(found[0] as number)
        else unresolvedDeps.push({ op, dep: dep.raw, reason: found.length === 0 ? 'no write wrote it' : `${found.length} writes wrote it` })
      }
      deps.delete(id)
      direct[id] = [...deps]
      continue
    }
    if (op.outcome !== 'ok') continue
    if (id !== undefined) {
      // The write covers everything its session knew at its invoke.
      for (const d of atInvoke.get(op) ?? []) session.delete(d)
      session.add(id)
    }
    if (op.f === 'read' || op.f === 'cas') {
      const w = uniqueWriter(op.key, observedValue(op))
      if (w !== undefined && w !== id) session.add(w)
    }
  }

  // Transitive closure in dependency order (iterative DFS); a back edge closes a cycle.
  const words = (n + 31) >>> 5
  const past = new Array<Uint32Array>(n)
  const cycles: number[][] = []
  const color = new Uint8Array(n)
  const stack: Array<{ id: number, next: number }> = []
  for (let root = 0; root < n; root++) {
    if (color[root] !== 0) continue
    stack.push({ id: root, next: 0 })
    color[root] = 1
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { id: number, next: number }
      const deps = direct[top.id] as number[]
      if (top.next < deps.length) {
        const d = deps[top.next++] as number
        if (color[d] === 0) {
          color[d] = 1
          stack.push({ id: d, next: 0 })
        } else if (color[d] === 1) {
          const from = stack.findIndex((f) => f.id === d)
          cycles.push(stack.slice(from).map((f) => f.id))
          deps.splice(--top.next, 1)
        }
        continue
      }
      const bits = new Uint32Array(words)
      for (const d of deps) {
        const p = past[d] as Uint32Array
        for (let w = 0; w < words; w++) bits[w] = (bits[w] as number) | (p[w] as number)
        bits[d >>> 5] = (bits[d >>> 5] as number) | (1 << (d & 31))
      }
      past[top.id] = bits
      color[top.id] = 2
      stack.pop()
    }
  }

  const before = (a: number, b: number): boolean => (((past[b] as Uint32Array)[a >>> 5] as number) & (1 << (a & 31))) !== 0
  const chain = (from: number, to: number): number[] | undefined => {
    if (!before(from, to)) return undefined
    const path = [to]
    let at = to
    while (at !== from) {
      const deps = direct[at] as number[]
      const step = deps.includes(from) ? from : deps.find((d) => before(from, d))
      if (step === undefined) return undefined
      path.push(step)
      at = step
    }
    return path
  }
  return {
    ok: true,
    graph: {
      writes,
      idOf: (op) => ids.get(op),
      writersOf,
      uniqueWriter,
      failedWritersOf: (key, value) => failed.get(slot(key, value)) ?? [],
      hasNullWriter: (key) => nullWriters.has(key),
      before,
      pastOf: (id) => past[id] as Uint32Array,
      chain,
      wordCount: words,
      cycles,
      unresolvedDeps
    }
  }
}

interface RecordedDep {
  readonly key: string | undefined
  readonly value: unknown
  readonly raw: unknown
}

function recordedDeps (op: Operation): RecordedDep[] {
  const deps = op.invoke.deps
  if (!Array.isArray(deps)) return []
  return deps.map((d: unknown) => {
    if (d !== null && typeof d === 'object' && !Array.isArray(d) && 'key' in d && 'value' in d && typeof d.key === 'string') {
      return { key: d.key, value: d.value, raw: d }
    }
    return { key: undefined, value: d, raw: d }
  })
}
