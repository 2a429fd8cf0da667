import type { PeerId } from '../transport/types.js'
import type { Update } from './messages.js'

interface Entry {
  update: Update
  transmits: number
  /** Insertion order: among updates sent equally often, the newest goes first. */
  id: number
}

/**
 * The updates waiting to be piggybacked, each sent a bounded number of times (memberlist's
 * TransmitLimitedQueue). At most one entry per member: a newer update about a peer supersedes the
 * older one, which is why the queue is bounded by the member count. The least-sent updates go
 * first, so fresh news overtakes news most members already have.
 */
export class BroadcastQueue {
  private readonly entries = new Map<PeerId, Entry>()
  private idNext = 1

  constructor (private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('a broadcast queue holds at least one update')
  }

  get size (): number {
    return this.entries.size
  }

  enqueue (update: Update): void {
    this.entries.delete(update.peer)
    if (this.entries.size >= this.capacity) this.evictMostSent()
    this.entries.set(update.peer, { update, transmits: 0, id: this.idNext++ })
  }

  remove (peer: PeerId): void {
    this.entries.delete(peer)
  }

  /**
   * Up to `countMax` updates for one message; each counts one transmission and leaves the queue
   * once it has been sent `transmitsMax` times.
   */
  take (countMax: number, transmitsMax: number): Update[] {
    if (this.entries.size === 0 || countMax <= 0) return []
    const picked = [...this.entries.values()]
      .sort((a, b) => a.transmits - b.transmits || b.id - a.id)
      .slice(0, countMax)
    const out: Update[] = []
    for (const entry of picked) {
      out.push(entry.update)
      entry.transmits++
      if (entry.transmits >= transmitsMax) this.entries.delete(entry.update.peer)
    }
    return out
  }

  private evictMostSent (): void {
    let victim: Entry | undefined
    for (const entry of this.entries.values()) {
      if (victim === undefined || entry.transmits > victim.transmits || (entry.transmits === victim.transmits && entry.id < victim.id)) victim = entry
    }
    if (victim !== undefined) this.entries.delete(victim.update.peer)
  }
}
