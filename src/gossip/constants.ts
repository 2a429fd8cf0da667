/**
 * Defaults of the gossip failure detector that are not in the node config (config.gossip holds the
 * intervals operators tune). Every bound of the core is named here.
 */

/** The protocol every gossip message travels on. */
export const GOSSIP_PROTOCOL = '/quorumkv/gossip/1.0.0'

/**
 * An update is piggybacked at most `RETRANSMIT_MULTIPLIER * ceil(log10(N + 1))` times (memberlist's
 * RetransmitMult): enough for an infection-style spread to reach every member with high
 * probability, few enough that old news stops costing bandwidth.
 */
export const RETRANSMIT_MULTIPLIER = 4

/**
 * Lifeguard's local health multiplier: the probe period stretches up to this many times while
 * this node itself looks unhealthy (its probes fail without nacks, it has to refute suspicions).
 * 1 turns it off. memberlist's AwarenessMaxMultiplier is 8.
 */
export const LOCAL_HEALTH_MAX = 8

/** Dead members still receive gossip this long, so a wrongly declared node hears it and refutes. */
export const GOSSIP_TO_THE_DEAD_MS = 30_000

/**
 * Every this many probe periods, one dead member is pinged as well. The member list is
 * authoritative in Raft, so a dead member is expected back (restart, healed partition); without
 * this, two sides that declared each other dead would never talk again.
 */
export const RECONNECT_EVERY_PROBES = 5

/** Updates piggybacked on one outgoing message. */
export const UPDATES_PER_MESSAGE_MAX = 16

/** Indirect probes this node runs at once on behalf of others; more ping-reqs are ignored. */
export const RELAYS_MAX = 64

/** Members the core tracks (the config allows 256 cluster members). */
export const MEMBERS_MAX = 1_024

/** Messages one tick or step may produce before the rest are dropped (a bug guard, never hit normally). */
export const OUTBOX_MAX = 1_024

/** Liveness changes buffered between two drains of the core. */
export const CHANGES_MAX = 4_096

/** Limits of the wire guard (parseGossipMessage). */
export const PEER_ID_CHARS_MAX = 128
export const ADDRESSES_PER_MEMBER_MAX = 16
export const ADDRESS_CHARS_MAX = 512
export const UPDATES_PER_MESSAGE_PARSE_MAX = 64

/**
 * Incarnations stay far below 2^53 so that `+ 1` is always exact; a peer that claims more is
 * broken or hostile and its message is refused.
 */
export const INCARNATION_MAX = 2 ** 52
