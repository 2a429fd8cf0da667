import type { TimeSource } from '../runtime/time.js'

/**
 * Which peers to pick as targets: the injected liveness predicate (membership gossip, later)
 * plus a short local suspicion of peers whose requests just failed, so that one dead peer costs
 * one timeout, not one per call. Bounded by the ring size (one entry per peer).
 */
export class PeerHealth {
  private readonly suspectedUntil = new Map<string, number>()

  constructor (
    private readonly self: string,
    private readonly time: TimeSource,
    private readonly isAlive: (peer: string) => boolean,
    private readonly suspectMs: number
  ) {}

  usable (peer: string): boolean {
    if (peer === this.self) return true
    if (!this.isAlive(peer)) return false
    const until = this.suspectedUntil.get(peer)
    if (until === undefined) return true
    if (this.time.now() >= until) {
      this.suspectedUntil.delete(peer)
      return true
    }
    return false
  }

  /** A request to `peer` failed in a way that suggests it is down or unreachable. */
  failed (peer: string): void {
    if (peer !== this.self) this.suspectedUntil.set(peer, this.time.now() + this.suspectMs)
  }

  /** `peer` answered: it is up whatever an earlier failure suggested. */
  answered (peer: string): void {
    this.suspectedUntil.delete(peer)
  }
}
