import { seededRandom } from '../../src/runtime/random.js'

/**
 * The search at the heart of the linearizability checker, for one register (one key): Lowe's
 * just-in-time linearization (Wing & Gong's search with Lowe's memoization), the algorithm
 * porcupine implements. Operations are numbers here; linearizable.ts turns a history into them.
 *
 * The history is a list of call and return entries in real-time order. The search walks it from
 * the front: at a call it tries to linearize that op now (apply it to the register); if the model
 * accepts and the pair (set of linearized ops, register value) was never reached before, it
 * removes the op's call and return from the list and starts again from the front. Reaching a
 * return entry means that op should have been linearized already: backtrack to the last choice.
 * Memoizing (set, value) is what keeps the search from re-exploring equivalent orders; the set is
 * a bitset hashed incrementally (Zobrist: one random word per op, XORed in and out) so a step
 * costs O(1) apart from the cache lookup's equality check.
 *
 * Two reductions on top, both exact (they prune only orders another explored order covers):
 * - a pending read that matches the register is placed at once and is not a choice point;
 * - unknown-outcome ops with the same effect (say, timed-out deletes) are taken in call order.
 * Budgets (steps, memo memory, time) turn a search that would run too long into 'budget'.
 */

export const OpKind = Object.freeze({ Read: 0, Write: 1, Cas: 2 } as const)

export interface RegisterOps {
  /** OpKind per op. */
  readonly kind: Uint8Array
  /** Read: the value it returned. Write: the value written. Cas: the expected value. */
  readonly a: Int32Array
  /** Cas: the new value. */
  readonly b: Int32Array
  /** 1 when the outcome is unknown: the op may be linearized anywhere after its call, or never. */
  readonly unknown: Uint8Array
  /**
   * Unknown ops that never return and have the same effect are interchangeable: any linearization
   * can use them in call order. `twinClass` numbers each such group (-1: none) and `twinRank` is
   * the op's position in its group by call order; the search only ever takes a group's ops in that
   * order, which turns 2^k subsets of k identical timed-out deletes into k + 1.
   */
  readonly twinClass: Int32Array
  readonly twinRank: Int32Array
  /** Call and return entries in real-time order: `op * 2` is op's call, `op * 2 + 1` its return. */
  readonly entries: Int32Array
  /** Value id of the initial state. */
  readonly initial: number
}

export interface SearchBudget {
  /** Loop iterations before giving up. */
  readonly stepsMax: number
  /** Polled every few thousand steps; true stops the search. */
  readonly outOfTime?: () => boolean
  /** Bitset words the memo table may hold (4 bytes each); bounds the search's memory. */
  readonly memoWordsMax: number
}

/** The deepest dead end the search reached: the best explanation of a failure it has. */
export interface DeadEnd {
  /** Ops linearized, in order. */
  readonly prefix: number[]
  /** The register value after them. */
  readonly state: number
  /** The op whose return was reached before it could be linearized. */
  readonly blocking: number
  /** Ops still unlinearized whose call precedes that return (the ones the search could try). */
  readonly candidates: number[]
}

export type SearchResult =
  | { readonly status: 'linearizable', readonly steps: number, readonly cacheEntries: number }
  | { readonly status: 'not-linearizable', readonly steps: number, readonly cacheEntries: number, readonly deadEnd: DeadEnd }
  | { readonly status: 'budget', readonly steps: number, readonly cacheEntries: number, readonly reason: string }

const candidatesShownMax = 20
const timeCheckEverySteps = 4096

export function searchRegister (ops: RegisterOps, budget: SearchBudget): SearchResult {
  const n = ops.kind.length
  const { kind, a, b, unknown, entries, twinClass, twinRank } = ops
  let classes = 0
  for (let i = 0; i < n; i++) classes = Math.max(classes, (twinClass[i] as number) + 1)
  const twinsTaken = new Int32Array(classes)
  const size = n * 2
  const head = size
  // Doubly linked list of entries; -1 ends it. Lifting an op unlinks its call and return; the
  // stack discipline of the search lets unlifting relink them from their own stale pointers.
  const next = new Int32Array(size + 1)
  const prev = new Int32Array(size + 1)
  let last = head
  for (let i = 0; i < size; i++) {
    const e = entries[i] as number
    next[last] = e
    prev[e] = last
    last = e
  }
  next[last] = -1

  const words = (n + 31) >>> 5
  const bits = new Uint32Array(words)
  const zobrist = new Int32Array(n)
  const random = seededRandom(0x51ed2701 ^ n)
  for (let i = 0; i < n; i++) zobrist[i] = (random.next() * 4294967296) | 0
  let hash = 0
  const cache = new Map<number, number[]>()
  // Memoized bitsets live back to back in one growing array: one allocation per doubling
  // instead of one per configuration keeps the garbage collector out of the search.
  let pool = new Uint32Array(Math.max(words * 64, 1024))
  const cacheStates: number[] = []
  let memoWords = 0

  let remaining = 0
  for (let i = 0; i < n; i++) if (unknown[i] === 0) remaining++

  const stackOp = new Int32Array(n)
  const stackState = new Int32Array(n)
  const stackForced = new Uint8Array(n)
  let depth = 0
  let state = ops.initial
  let entry = next[head] as number
  let steps = 0
  let best: DeadEnd | undefined

  const lift = (call: number): void => {
    const ret = call + 1
    const pc = prev[call] as number
    const nc = next[call] as number
    next[pc] = nc
    if (nc !== -1) prev[nc] = pc
    const pr = prev[ret] as number
    const nr = next[ret] as number
    next[pr] = nr
    if (nr !== -1) prev[nr] = pr
  }
  const unlift = (call: number): void => {
    const ret = call + 1
    const nr = next[ret] as number
    next[prev[ret] as number] = ret
    if (nr !== -1) prev[nr] = ret
    const nc = next[call] as number
    next[prev[call] as number] = call
    if (nc !== -1) prev[nc] = call
  }
  // Records (bits, value) and answers whether it was new.
  const remember = (value: number): boolean => {
    const h = (hash ^ Math.imul(value + 0x7f4a7c15, 0x9e3779b1)) | 0
    let bucket = cache.get(h)
    if (bucket !== undefined) {
      for (const slot of bucket) {
        if (cacheStates[slot] !== value) continue
        const base = slot * words
        let same = true
        for (let w = 0; w < words; w++) {
          if (pool[base + w] !== bits[w]) { same = false; break }
        }
        if (same) return false
      }
    } else {
      bucket = []
      cache.set(h, bucket)
    }
    if (memoWords + words > pool.length) {
      const grown = new Uint32Array(Math.max(memoWords + words, Math.min(pool.length * 2, budget.memoWordsMax + words)))
      grown.set(pool)
      pool = grown
    }
    pool.set(bits, memoWords)
    bucket.push(cacheStates.length)
    cacheStates.push(value)
    memoWords += words
    return true
  }

  // Push op (whose call entry is `call`) onto the current order, if the resulting configuration
  // is new. `after` is the register value once it took effect.
  const advance = (call: number, after: number, forced: number): boolean => {
    const op = call >>> 1
    const w = op >>> 5
    const bit = 1 << (op & 31)
    bits[w] = (bits[w] as number) | bit
    hash ^= zobrist[op] as number
    if (!remember(after)) {
      bits[w] = (bits[w] as number) & ~bit
      hash ^= zobrist[op] as number
      return false
    }
    stackOp[depth] = op
    stackState[depth] = state
    stackForced[depth] = forced
    depth++
    state = after
    if (unknown[op] === 0) remaining--
    const twins = twinClass[op] as number
    if (twins >= 0) twinsTaken[twins] = (twinsTaken[twins] as number) + 1
    lift(call)
    return true
  }
  // Undo the newest choice; returns the call entry of the op taken off.
  const retreat = (): number => {
    depth--
    const op = stackOp[depth] as number
    state = stackState[depth] as number
    bits[op >>> 5] = (bits[op >>> 5] as number) & ~(1 << (op & 31))
    hash ^= zobrist[op] as number
    if (unknown[op] === 0) remaining++
    const twins = twinClass[op] as number
    if (twins >= 0) twinsTaken[twins] = (twinsTaken[twins] as number) - 1
    const call = op * 2
    unlift(call)
    return call
  }

  let fresh = true
  while (true) {
    if (remaining === 0) return { status: 'linearizable', steps, cacheEntries: cacheStates.length }
    steps++
    if (steps > budget.stepsMax) {
      return { status: 'budget', steps, cacheEntries: cacheStates.length, reason: `search explored ${budget.stepsMax} steps (${cacheStates.length} distinct states) without deciding` }
    }
    if (memoWords > budget.memoWordsMax) {
      return { status: 'budget', steps, cacheEntries: cacheStates.length, reason: `memo table reached ${budget.memoWordsMax * 4} bytes (${cacheStates.length} distinct states) without deciding` }
    }
    if (budget.outOfTime !== undefined && steps % timeCheckEverySteps === 0 && budget.outOfTime()) {
      return { status: 'budget', steps, cacheEntries: cacheStates.length, reason: `time budget ran out after ${steps} steps` }
    }
    let dead = false
    if (fresh) {
      // A pending read that matches the register can be placed now without loss: any order
      // that places it later can move it here (reads change nothing, and everything that must
      // precede it is already placed). So it is not a choice: if this configuration with the
      // read placed fails, this configuration fails too.
      fresh = false
      let e = next[head] as number
      while (e !== -1 && (e & 1) === 0) {
        const op = e >>> 1
        if (kind[op] === OpKind.Read && a[op] === state) break
        e = next[e] as number
      }
      if (e !== -1 && (e & 1) === 0) {
        if (advance(e, state, 1)) {
          fresh = true
          continue
        }
        dead = true
      } else {
        entry = next[head] as number
        continue
      }
    } else if (entry !== -1 && (entry & 1) === 0) {
      const op = entry >>> 1
      const k = kind[op]
      const twins = twinClass[op] as number
      let accepted = false
      let after = state
      if (twins >= 0 && twinsTaken[twins] !== twinRank[op]) {
        accepted = false
      } else if (k === OpKind.Write) {
        accepted = true
        after = a[op] as number
      } else if (k === OpKind.Cas && state === a[op]) {
        // A cas that does not match is never placed: a failed cas has no effect, and one with
        // an unknown outcome loses nothing by being left out. Reads are placed only when forced.
        accepted = true
        after = b[op] as number
      }
      if (accepted && advance(entry, after, 0)) {
        fresh = true
        continue
      }
      entry = next[entry] as number
      continue
    }
    // A return entry (or the end): the op it closes was not placed in time. Backtrack past the
    // last real choice.
    if (!dead && (best === undefined || depth > best.prefix.length)) {
      best = {
        prefix: Array.from(stackOp.subarray(0, depth)),
        state,
        blocking: entry === -1 ? -1 : entry >>> 1,
        candidates: collectCandidates(next, head, entry)
      }
    }
    let call = -1
    while (true) {
      if (depth === 0) return { status: 'not-linearizable', steps, cacheEntries: cacheStates.length, deadEnd: best ?? { prefix: [], state, blocking: -1, candidates: [] } }
      const forced = stackForced[depth - 1] === 1
      call = retreat()
      if (!forced) break
    }
    entry = next[call] as number
  }
}

function collectCandidates (next: Int32Array, head: number, stop: number): number[] {
  const out: number[] = []
  let e = next[head] as number
  while (e !== -1 && e !== stop && out.length < candidatesShownMax) {
    if ((e & 1) === 0) out.push(e >>> 1)
    e = next[e] as number
  }
  return out
}
