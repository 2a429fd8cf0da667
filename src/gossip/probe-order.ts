import { randomInt, type Random } from '../runtime/random.js'
import type { PeerId } from '../transport/types.js'

/**
 * SWIM's round-robin probe order: every member is probed once per pass, in an order shuffled
 * anew each pass. Compared with picking a random target each period, this bounds the time until
 * a failed member is first probed by one pass (N - 1 periods), not a geometric tail.
 */
export class ProbeOrder {
  private order: PeerId[] = []
  private index = 0

  constructor (private readonly random: Random) {}

  get length (): number {
    return this.order.length
  }

  /**
   * Next peer for which `eligible` holds, or undefined when none does. At most one full pass (plus
   * one reshuffle) is scanned, so a list of ineligible members cannot loop.
   */
  next (eligible: (peer: PeerId) => boolean): PeerId | undefined {
    const n = this.order.length
    for (let scanned = 0; scanned <= n; scanned++) {
      if (this.index >= n) {
        this.shuffle()
        this.index = 0
      }
      const peer = this.order[this.index++]
      if (peer !== undefined && eligible(peer)) return peer
    }
    return undefined
  }

  /**
   * Adds new members at random positions (memberlist's trick: a member that joins mid-pass is
   * probed within this pass with fair odds, not always last) and drops departed ones.
   */
  update (peers: readonly PeerId[]): void {
    const wanted = new Set(peers)
    const kept: PeerId[] = []
    let index = this.index
    for (let i = 0; i < this.order.length; i++) {
      const peer = this.order[i] as PeerId
      if (wanted.has(peer)) kept.push(peer)
      else if (i < this.index) index--
    }
    const present = new Set(kept)
    for (const peer of peers) {
      if (present.has(peer)) continue
      present.add(peer)
      kept.push(peer)
      const at = randomInt(this.random, kept.length)
      const last = kept.length - 1
      kept[last] = kept[at] as PeerId
      kept[at] = peer
    }
    this.order = kept
    this.index = Math.max(0, Math.min(index, kept.length))
  }

  private shuffle (): void {
    const a = this.order
    for (let i = a.length - 1; i > 0; i--) {
      const j = randomInt(this.random, i + 1)
      const t = a[i] as PeerId
      a[i] = a[j] as PeerId
      a[j] = t
    }
  }
}
