import type { TimeSource } from '../runtime/time.js'

/**
 * How fresh this replica is, for `bounded` reads. Every node tells every other, each handoff
 * interval, the time of the oldest write it holds for it unacknowledged (`oldest`), or, when none,
 * the time it looked (`asOf`). Coordinators write a hint for every other replica in the same batch
 * as the write, before acknowledging it, so a write acknowledged before time T that this replica
 * lacks is a hint somewhere with a time before T. Hence: this replica holds every write
 * acknowledged before min over all other members of (oldest ?? asOf), the freshness it reports.
 *
 * Times are the senders' clocks: the bound is only as good as the clocks (ADR 0001 §4). A member
 * that has not reported since this process started makes freshness unknown (-Infinity).
 */
export class FreshnessTracker {
  private readonly reports = new Map<string, number>()

  constructor (private readonly self: string, private readonly time: TimeSource) {}

  onWatermark (from: string, asOf: number, oldest: number | null): void {
    const value = oldest ?? asOf
    const prev = this.reports.get(from)
    // Reports can arrive out of order; an older "no hints" report must not hide a newer hint.
    if (prev === undefined || oldest !== null || value > prev) this.reports.set(from, value)
  }

  /** Every write acknowledged before this time (senders' clocks) is here. */
  freshAsOf (members: readonly string[]): number {
    let fresh = this.time.now()
    for (const m of members) {
      if (m === this.self) continue
      const r = this.reports.get(m)
      if (r === undefined) return -Infinity
      if (r < fresh) fresh = r
    }
    return fresh
  }

  forget (member: string): void {
    this.reports.delete(member)
  }
}
