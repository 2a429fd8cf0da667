import type { Entry, MemoryRaftStorage, RaftCore } from '../../../src/raft/core/index.js'

/**
 * Raft's safety properties (Figure 3 of the paper), checked while a simulation runs:
 * - election safety: at most one leader per term;
 * - log matching: two logs with an entry of the same index and term hold the same entry there,
 *   and agree on everything before it (checked on every write and, pairwise, at the end);
 * - leader completeness: a new leader's log holds every entry applied anywhere so far, checked
 *   for a leader whose term is above every earlier leader's: an entry applied so far was committed
 *   by one of those earlier leaders, in a lower term. (A leader of an older term can still win late,
 *   by delayed votes, after a newer leader committed; Raft does not require it to hold that entry.)
 * - state machine safety: no two nodes apply different entries at the same index, and each node
 *   applies indexes in order without gaps.
 */
export class RaftObserver {
  readonly violations: string[] = []
  private readonly leaders = new Map<number, string>()
  private readonly entries = new Map<string, Uint8Array>()
  private readonly applied = new Map<number, { term: number, data: Uint8Array }>()
  private maxLeaderTerm = 0
  maxApplied = 0
  elections = 0

  private violation (text: string): void {
    if (this.violations.length < 20) this.violations.push(text)
  }

  onLeader (id: string, term: number, core: RaftCore, time: number): void {
    const existing = this.leaders.get(term)
    if (existing !== undefined && existing !== id) this.violation(`election safety: ${existing} and ${id} both lead term ${term} (t=${time})`)
    if (existing === undefined) this.elections++
    this.leaders.set(term, id)
    const newest = term > this.maxLeaderTerm
    this.maxLeaderTerm = Math.max(this.maxLeaderTerm, term)
    if (!newest) return
    const st = core.status()
    if (st.lastIndex < this.maxApplied) {
      this.violation(`leader completeness: ${id} leads term ${term} with log ending at ${st.lastIndex} but ${this.maxApplied} was applied (t=${time})`)
      return
    }
    for (let i = Math.max(st.firstIndex, 1); i <= this.maxApplied; i++) {
      const a = this.applied.get(i)
      const t = core.term(i)
      if (a !== undefined && t !== a.term) {
        this.violation(`leader completeness: ${id} leads term ${term} with term ${String(t)} at ${i}, where term ${a.term} was applied (t=${time})`)
        return
      }
    }
  }

  onPersist (id: string, entries: Entry[], time: number): void {
    for (const e of entries) {
      const key = `${e.index}/${e.term}`
      const seen = this.entries.get(key)
      if (seen === undefined) this.entries.set(key, e.data)
      else if (!sameBytes(seen, e.data)) this.violation(`log matching: ${id} wrote a different entry at index ${e.index} term ${e.term} (t=${time})`)
    }
  }

  onApply (id: string, e: Entry, time: number): void {
    const a = this.applied.get(e.index)
    if (a === undefined) {
      this.applied.set(e.index, { term: e.term, data: e.data })
      if (e.index > this.maxApplied) this.maxApplied = e.index
    } else if (a.term !== e.term || !sameBytes(a.data, e.data)) {
      this.violation(`state machine safety: ${id} applied term ${e.term} at index ${e.index}, another node applied term ${a.term} (t=${time})`)
    }
  }

  onApplyGap (id: string, expected: number, got: number, time: number): void {
    this.violation(`state machine safety: ${id} applied index ${got} after ${expected - 1} (t=${time})`)
  }

  /** Pairwise log matching over the durable logs at the end of a run. */
  checkLogs (storages: ReadonlyMap<string, MemoryRaftStorage>): void {
    const list = [...storages.entries()]
    for (let x = 0; x < list.length; x++) {
      for (let y = x + 1; y < list.length; y++) {
        const [ida, a] = list[x] as [string, MemoryRaftStorage]
        const [idb, b] = list[y] as [string, MemoryRaftStorage]
        const lo = Math.max(a.firstIndex(), b.firstIndex())
        const hi = Math.min(a.lastIndex(), b.lastIndex())
        if (lo > hi) continue
        const ea = a.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER)
        const eb = b.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER)
        let matched = false
        for (let i = ea.length - 1; i >= 0; i--) {
          const p = ea[i] as Entry
          const q = eb[i] as Entry
          if (!matched && p.term === q.term) matched = true
          if (matched && (p.term !== q.term || !sameBytes(p.data, q.data))) {
            this.violation(`log matching: ${ida} and ${idb} share a later entry but differ at index ${p.index}`)
            break
          }
        }
      }
    }
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
