/**
 * The one interface protocol cores and their drivers use to talk to other replicas. Two
 * implementations: libp2p (real) and the seeded simulated network (tests). Nothing above this
 * file imports libp2p.
 */
export type PeerId = string

export interface MessageHandler<M> {
  /**
   * Validates an inbound message before anything else sees it. Throws (a ProtocolError or
   * InvalidArgumentError) on bad input: the transport then counts the rejection
   * (`quorumkv_rpc_rejected_total{reason}`), answers a request with the error, and calls neither
   * handler below.
   */
  parse: (raw: unknown) => M
  /** One-way messages (Raft, gossip): the protocol carries its own acknowledgements. */
  onMessage?: (from: PeerId, message: M) => void
  /**
   * Request/response. The resolved value goes back to the caller; a thrown QuorumKvError goes back
   * as that error (same class and code); any other throw as an InternalError.
   */
  onRequest?: (from: PeerId, message: M, signal: AbortSignal) => Promise<unknown>
}

export interface RequestOptions {
  /** Required: every request has a deadline (TimeoutError when it passes). */
  timeoutMs: number
  signal?: AbortSignal
}

export interface Transport {
  readonly localId: PeerId
  /** Registers the handler of a protocol (`/quorumkv/<name>/1.0.0`); one per protocol. */
  handle: <M>(protocol: string, handler: MessageHandler<M>) => void
  unhandle: (protocol: string) => void
  /**
   * Fire-and-forget. Returns false when the message was dropped at once because the peer's
   * bounded send queue is full or the transport is stopped; delivery is never guaranteed.
   */
  send: (to: PeerId, protocol: string, message: unknown) => boolean
  /**
   * Sends a request and resolves with the peer's reply (unvalidated: the caller parses it).
   * Rejects with TimeoutError, AbortedError, UnavailableError (peer unreachable),
   * OverloadedError (queue full), or the error the peer's handler threw.
   */
  request: (to: PeerId, protocol: string, message: unknown, options: RequestOptions) => Promise<unknown>
}

export function protocolId (name: string): string {
  return `/quorumkv/${name}/1.0.0`
}
