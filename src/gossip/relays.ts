import type { PeerId } from '../transport/types.js'

/** A ping this node sends on behalf of a prober (ping-req). */
export interface Relay {
  origin: PeerId
  originSeq: number
  target: PeerId
  nackAtMs: number
}

/**
 * The indirect probes this node runs for others, keyed by the seq of its own ping to the target.
 * Bounded: past `relaysMax` a ping-req is ignored, which the asker reads as one missing nack.
 */
export class RelayTable {
  private readonly relays = new Map<number, Relay>()

  constructor (private readonly relaysMax: number) {}

  /** False (and nothing kept) when the table is full. */
  add (seq: number, relay: Relay): boolean {
    if (this.relays.size >= this.relaysMax) return false
    this.relays.set(seq, relay)
    return true
  }

  /** The relay that `from` just acked, removed; undefined for an ack that is not one of ours. */
  acked (seq: number, from: PeerId): Relay | undefined {
    const relay = this.relays.get(seq)
    if (relay === undefined || relay.target !== from) return undefined
    this.relays.delete(seq)
    return relay
  }

  /** Removes and returns the relays whose target stayed silent until `nowMs`: each owes a nack. */
  expired (nowMs: number): Relay[] {
    const out: Relay[] = []
    for (const [seq, relay] of this.relays) {
      if (relay.nackAtMs > nowMs) continue
      this.relays.delete(seq)
      out.push(relay)
    }
    return out
  }

  nextDeadlineMs (): number {
    let at = Infinity
    for (const relay of this.relays.values()) if (relay.nackAtMs < at) at = relay.nackAtMs
    return at
  }
}
