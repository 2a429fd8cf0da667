import type { PeerId } from '../transport/types.js'

/**
 * The messages of the SWIM failure detector. Plain objects with a fixed set of fields per type
 * (no optional fields, no classes) so msgpack round-trips them exactly and parseGossipMessage can
 * be strict. Every message carries the sender's own incarnation (`inc`), which lets the receiver
 * notice a sender that is behind on its own story (a restarted process) and tell it, and a list of
 * piggybacked membership updates.
 */
export type Liveness = 'alive' | 'suspect' | 'dead'

/** `peer` is alive at incarnation `inc` and advertises `addresses` (multiaddrs). */
export interface AliveUpdate {
  kind: 'alive'
  peer: PeerId
  inc: number
  addresses: string[]
}

/** `from` suspects (or has declared dead) `peer` at incarnation `inc`. */
export interface SuspicionUpdate {
  kind: 'suspect' | 'dead'
  peer: PeerId
  inc: number
  from: PeerId
}

export type Update = AliveUpdate | SuspicionUpdate

/** Direct probe: `target` is the peer the sender means, so a misrouted ping is not answered. */
export interface PingMessage {
  type: 'ping'
  seq: number
  inc: number
  target: PeerId
  updates: Update[]
}

/** Asks the receiver to ping `target` and forward the ack (`seq` is the asker's probe). */
export interface PingReqMessage {
  type: 'ping-req'
  seq: number
  inc: number
  target: PeerId
  updates: Update[]
}

/**
 * The answer to a ping (`seq` is the ping's), or an ack a helper forwards for a ping-req (`seq` is
 * the asker's). `nack`: a helper tells the asker that the target did not answer it either, which
 * proves the helper, and so the asker's own network, still works (Lifeguard).
 */
export interface AckMessage {
  type: 'ack' | 'nack'
  seq: number
  inc: number
  updates: Update[]
}

/** Periodic dissemination to a few random members. */
export interface GossipOnlyMessage {
  type: 'gossip'
  inc: number
  updates: Update[]
}

export type GossipMessage = PingMessage | PingReqMessage | AckMessage | GossipOnlyMessage
