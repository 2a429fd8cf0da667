import type { PeerId as Libp2pPeerId, Stream } from '@libp2p/interface'
import { ProtocolError, UnauthorizedError, UnavailableError } from '../../api/errors.js'
import type { QuorumKvError } from '../../api/errors.js'
import type { Random } from '../../runtime/random.js'
import type { TimeSource } from '../../runtime/time.js'
import { backoffDelayMs } from './backoff.js'
import { queueBudget } from './frame-writer.js'
import type { QueueBudget } from './frame-writer.js'
import type { TransportMetrics } from './metrics.js'
import { OutboundChannel } from './outbound-channel.js'
import type { ChannelLink } from './outbound-channel.js'

export interface LinkSettings {
  readonly time: TimeSource
  readonly random: Random
  readonly metrics: TransportMetrics
  readonly frameBytesMax: number
  readonly peerQueueMax: number
  readonly peerQueueBytesMax: number
  readonly dialTimeoutMs: number
  readonly reconnectBaseDelayMs: number
  readonly reconnectMaxDelayMs: number
  readonly dialProtocol: (peer: Libp2pPeerId, protocol: string, signal: AbortSignal) => Promise<Stream>
  /** Whether the peer completed a handshake with us since `sinceMs` and then dropped the connection. */
  readonly refusedAfterHandshake: (peer: Libp2pPeerId, sinceMs: number) => boolean
}

/**
 * Everything this node keeps for one remote peer: its outbound channels (one per protocol), the
 * bounded queue they share, and the reconnection backoff. After a failed dial no new dial starts
 * before a jittered, exponentially growing delay; calls in that window fail at once with
 * UnavailableError instead of piling up. A successful dial, or new addresses for the peer, reset it.
 */
export class PeerLink implements ChannelLink {
  readonly peer: string
  readonly budget: QueueBudget
  readonly inflight: { count: number, readonly max: number }
  private readonly peerId: Libp2pPeerId
  private readonly settings: LinkSettings
  private readonly channels = new Map<string, OutboundChannel>()
  private failures = 0
  private retryAtMs = 0

  constructor (settings: LinkSettings, peerId: Libp2pPeerId) {
    this.settings = settings
    this.peerId = peerId
    this.peer = peerId.toString()
    this.budget = queueBudget(settings.peerQueueMax, settings.peerQueueBytesMax)
    this.inflight = { count: 0, max: settings.peerQueueMax }
  }

  get time (): TimeSource { return this.settings.time }
  get metrics (): TransportMetrics { return this.settings.metrics }
  get frameBytesMax (): number { return this.settings.frameBytesMax }

  /** No stream, nothing queued or awaited, no backoff to remember: the link may be forgotten. */
  get idle (): boolean {
    if (this.failures > 0) return false
    for (const channel of this.channels.values()) if (!channel.idle) return false
    return true
  }

  channel (protocol: string): OutboundChannel {
    let channel = this.channels.get(protocol)
    if (channel === undefined) {
      channel = new OutboundChannel(this, protocol)
      this.channels.set(protocol, channel)
    }
    return channel
  }

  dialBlocked (): QuorumKvError | undefined {
    const waitMs = this.retryAtMs - this.settings.time.now()
    if (waitMs <= 0) return undefined
    return new UnavailableError(`peer ${this.peer} is unreachable (${this.failures} failed dial${this.failures === 1 ? '' : 's'}); the next attempt is allowed in ${Math.ceil(waitMs)} ms`, { peer: this.peer, retryInMs: Math.ceil(waitMs) })
  }

  /** The address book changed: the next call may dial at once. */
  resetBackoff (): void {
    this.failures = 0
    this.retryAtMs = 0
  }

  async openStream (protocol: string): Promise<Stream> {
    const { time, metrics } = this.settings
    const controller = new AbortController()
    const timer = time.setTimeout(() => { controller.abort() }, this.settings.dialTimeoutMs)
    const startedMs = time.now()
    try {
      const stream = await this.settings.dialProtocol(this.peerId, protocol, controller.signal)
      metrics.dial('ok')
      this.resetBackoff()
      return stream
    } catch (err) {
      metrics.dial('error')
      throw this.dialError(err, protocol, controller.signal.aborted, startedMs)
    } finally {
      timer.cancel()
    }
  }

  close (error: QuorumKvError): void {
    for (const channel of this.channels.values()) channel.close(error)
  }

  private dialError (err: unknown, protocol: string, timedOut: boolean, startedMs: number): QuorumKvError {
    const name = err instanceof Error ? err.name : ''
    const text = err instanceof Error ? err.message : String(err)
    if (name === 'UnsupportedProtocolError') {
      // The peer is up and answered; it just does not speak this protocol. No backoff.
      return new ProtocolError(`peer ${this.peer} does not handle ${protocol}`, { peer: this.peer, protocol }, { cause: err })
    }
    this.failures++
    this.retryAtMs = this.settings.time.now() + backoffDelayMs(this.failures, this.settings.reconnectBaseDelayMs, this.settings.reconnectMaxDelayMs, this.settings.random)
    const details = { peer: this.peer }
    if (this.settings.refusedAfterHandshake(this.peerId, startedMs)) {
      return new UnauthorizedError(`peer ${this.peer} closed the connection right after verifying this node's identity: it does not allow this peer id; ask its operator to add it`, { ...details, reason: 'refused_by_peer' }, { cause: err })
    }
    if (name === 'DialDeniedError') return new UnavailableError(`peer ${this.peer} is not allowed by this node's connection gater`, { ...details, reason: 'not_allowed' }, { cause: err })
    if (timedOut) return new UnavailableError(`dialing peer ${this.peer} timed out after ${this.settings.dialTimeoutMs} ms`, details, { cause: err })
    if (name === 'NoValidAddressesError') return new UnavailableError(`no address is known for peer ${this.peer}: add it to the address book`, details, { cause: err })
    return new UnavailableError(`cannot reach peer ${this.peer}: ${text}`, details, { cause: err })
  }
}
