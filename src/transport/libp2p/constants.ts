/**
 * Defaults of the libp2p transport, in one place (the js-libp2p habit). The node's config
 * (src/config/schema.ts) overrides the ones it names; the rest are tuning knobs with safe values.
 */

/** Largest frame body accepted or sent; matches the config default `limits.frameBytesMax`. */
export const FRAME_BYTES_MAX = 4 * 1024 * 1024

/** Frames queued per peer (all protocols) plus requests awaiting a reply per peer. */
export const PEER_QUEUE_MAX = 4096

/**
 * Bytes queued per peer before sends are refused. Without it a queue of `PEER_QUEUE_MAX` frames
 * of `FRAME_BYTES_MAX` each could hold 16 GiB.
 */
export const PEER_QUEUE_BYTES_MAX = 64 * 1024 * 1024

/** peerQueueBytesMax (default and ceiling) when pnet is on: its WASM cipher has 64 MiB in all. */
export const PNET_QUEUE_BYTES_MAX = 16 * 1024 * 1024

/** Requests one inbound stream may have in its handlers at once; more get OverloadedError. */
export const INBOUND_REQUESTS_MAX = 4096

export const DIAL_TIMEOUT_MS = 3000

/** Reconnection backoff after a failed dial: base * 2^attempt, capped, with jitter. */
export const RECONNECT_BASE_DELAY_MS = 100
export const RECONNECT_MAX_DELAY_MS = 5000

/**
 * Streams per connection per protocol. The transport keeps one long-lived stream per
 * (peer, protocol, direction); the spare room covers a stream being replaced while the old one
 * is still closing. libp2p's own defaults (32 in / 64 out) would let a peer hold many idle ones.
 */
export const STREAMS_PER_PROTOCOL_MAX = 8

/** Frames coalesced into one write to the muxer: fewer yamux frames and syscalls under load. */
export const WRITE_BATCH_BYTES_MAX = 256 * 1024

/** A refused peer is logged at most once per this interval (it is always counted). */
export const REFUSAL_LOG_INTERVAL_MS = 10_000

/** Peers remembered by the refusal log limiter; the memory is cleared when it fills up. */
export const REFUSAL_LOG_PEERS_MAX = 1024

/** Length prefix: 4 bytes, unsigned big-endian. */
export const FRAME_HEADER_BYTES = 4

/**
 * New inbound connections accepted per second from one IP address, before any handshake.
 * libp2p's default (5) resets the sixth client that connects from one host within a second,
 * which every cluster on one machine (all peers on 127.0.0.1) and every host running several
 * agents would hit. A Noise handshake costs well under a millisecond of CPU, so 50 per second
 * per address keeps a single stranger's cost small; maxIncomingPendingConnections (10) still
 * bounds the handshakes in progress.
 */
export const INBOUND_CONNECTIONS_PER_SECOND_MAX = 50

/** Peers this node keeps link state for; idle links are forgotten first when it is reached. */
export const PEER_LINKS_MAX = 10_000
