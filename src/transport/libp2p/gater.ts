import type { ConnectionGater, PeerId as Libp2pPeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { TimeSource } from '../../runtime/time.js'
import { REFUSAL_LOG_INTERVAL_MS, REFUSAL_LOG_PEERS_MAX } from './constants.js'
import type { TransportMetrics } from './metrics.js'

export type AllowPredicate = (peerId: string) => boolean

export type RefusalDirection = 'inbound' | 'outbound' | 'dial'

/**
 * Who may connect: an allow-list decision made by the node (cluster members and allowed clients,
 * later the membership Raft maintains). A refused peer sees only an unexpected EOF after the
 * Noise handshake, so the refusing side is where the refusal is logged, with the peer id.
 */
export class AllowListGater {
  private readonly logger: Logger
  private readonly metrics: TransportMetrics
  private readonly time: TimeSource
  private predicate: AllowPredicate
  /** peer -> time of its last logged refusal; bounded so strangers cannot grow it. */
  private readonly lastLoggedMs = new Map<string, number>()
  /** peer -> when our last outbound Noise handshake with it completed (see `handshakeSince`). */
  private readonly handshakeMs = new Map<string, number>()

  constructor (components: { logger: Logger, metrics: TransportMetrics, time: TimeSource }, isAllowed: AllowPredicate) {
    this.logger = components.logger
    this.metrics = components.metrics
    this.time = components.time
    this.predicate = isAllowed
  }

  setPredicate (isAllowed: AllowPredicate): void {
    this.predicate = isAllowed
  }

  /** Fails closed: a predicate that throws refuses the peer. */
  allows (peerId: string): boolean {
    try {
      return this.predicate(peerId)
    } catch (err) {
      this.logger.error({ peer: peerId, err }, 'isAllowed threw; refusing the peer')
      return false
    }
  }

  /** Counts a refusal and logs it (at most once per peer per interval: a stranger may retry fast). */
  refused (peerId: string, direction: RefusalDirection, reason: string): void {
    this.metrics.refuse(direction)
    const now = this.time.now()
    const last = this.lastLoggedMs.get(peerId)
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) return
    if (this.lastLoggedMs.size >= REFUSAL_LOG_PEERS_MAX) this.lastLoggedMs.clear()
    this.lastLoggedMs.set(peerId, now)
    if (direction === 'dial') {
      this.logger.debug({ peer: peerId, reason, direction }, 'not dialing a peer that is not allowed')
    } else {
      this.logger.warn({ peer: peerId, reason, direction }, `refused an ${direction} connection: peer is not allowed`)
    }
  }

  /**
   * Whether an outbound handshake with `peerId` completed at or after `sinceMs`. A dial that
   * then fails with no connection left means the peer verified who we are and closed on us:
   * almost always its gater. Its refusal is invisible otherwise (an unexpected EOF).
   */
  handshakeSince (peerId: string, sinceMs: number): boolean {
    const at = this.handshakeMs.get(peerId)
    return at !== undefined && at >= sinceMs
  }

  connectionGater (): ConnectionGater {
    const check = (peer: Libp2pPeerId, direction: RefusalDirection): boolean => {
      const id = peer.toString()
      if (this.allows(id)) return false
      this.refused(id, direction, 'not_allowed')
      return true
    }
    return {
      denyDialPeer: (peer) => check(peer, 'dial'),
      denyInboundEncryptedConnection: (peer) => check(peer, 'inbound'),
      denyOutboundEncryptedConnection: (peer) => {
        if (check(peer, 'outbound')) return true
        if (this.handshakeMs.size >= REFUSAL_LOG_PEERS_MAX) this.handshakeMs.clear()
        this.handshakeMs.set(peer.toString(), this.time.now())
        return false
      }
    }
  }
}
