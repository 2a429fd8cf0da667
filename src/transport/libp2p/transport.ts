import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { AbortedError, ClosedError, ConfigError, InvalidArgumentError, UnauthorizedError, UnavailableError } from '../../api/errors.js'
import { systemRandom } from '../../runtime/random.js'
import type { Random } from '../../runtime/random.js'
import { systemTime } from '../../runtime/time.js'
import type { TimeSource } from '../../runtime/time.js'
import type { MessageHandler, PeerId, RequestOptions, Transport } from '../types.js'
import * as defaults from './constants.js'
import { AllowListGater } from './gater.js'
import type { AllowPredicate } from './gater.js'
import { InboundChannel } from './inbound-channel.js'
import type { InboundContext } from './inbound-channel.js'
import { loopbackRequest, loopbackSend } from './loopback.js'
import type { LoopbackContext } from './loopback.js'
import { TransportMetrics } from './metrics.js'
import { PeerLink } from './peer-link.js'
import { installYamuxWindowRule } from './yamux-window.js'
import type { LinkSettings } from './peer-link.js'

export interface Libp2pTransportComponents {
  logger: Logger
  registry: Registry
  time?: TimeSource
  random?: Random
}

export interface Libp2pTransportInit {
  /** The node's Ed25519 key (`loadOrCreateIdentity(path).privateKey`). */
  privateKey: PrivateKey
  /** e.g. ['/ip4/127.0.0.1/tcp/0'] */
  listen: string[]
  /** Addresses to advertise instead of the listen addresses (NAT, containers). */
  announce?: string[]
  /** Address book: peer id -> multiaddrs; change it later with setPeerAddresses(). */
  peers?: Readonly<Record<PeerId, readonly string[]>>
  /** The connection gater's decision, asked on every connection and inbound stream. */
  isAllowed: AllowPredicate
  frameBytesMax?: number
  peerQueueMax?: number
  peerQueueBytesMax?: number
  inboundRequestsMax?: number
  dialTimeoutMs?: number
  reconnectBaseDelayMs?: number
  reconnectMaxDelayMs?: number
  streamsPerProtocolMax?: number
  /** New inbound connections accepted per second from one IP address (default 50; libp2p's own is 5). */
  inboundConnectionsPerSecondMax?: number
  /** Open connections in total (libp2p's default: 300). */
  connectionsMax?: number
  /**
   * A pnet swarm key (`generatePrivateNetworkKey()`); off by default, see docs/security.md.
   * With it, peerQueueBytesMax defaults to (and may not exceed) PNET_QUEUE_BYTES_MAX.
   */
  privateNetworkKey?: Uint8Array
}

/**
 * The Transport over libp2p: TCP, Noise, yamux. One long-lived stream per (peer, protocol) in
 * each direction carries msgpack envelopes in length-prefixed frames.
 */
export class Libp2pTransport implements Transport {
  readonly localId: PeerId
  private readonly logger: Logger
  private readonly time: TimeSource
  private readonly metrics: TransportMetrics
  private readonly gater: AllowListGater
  private readonly init: Libp2pTransportInit
  private readonly settings: LinkSettings
  private readonly inboundCtx: InboundContext
  private readonly loopbackCtx: LoopbackContext
  private readonly handlers = new Map<string, MessageHandler<unknown>>()
  private readonly addressBook = new Map<PeerId, readonly string[]>()
  private readonly links = new Map<PeerId, PeerLink>()
  private readonly inbound = new Set<InboundChannel>()
  private readonly gauges = {
    queuedFrames: (): number => { let n = 0; for (const l of this.links.values()) n += l.budget.frames; return n },
    queuedBytes: (): number => { let n = 0; for (const l of this.links.values()) n += l.budget.bytes; for (const c of this.inbound) n += c.queuedBytes; return n },
    pendingRequests: (): number => { let n = 0; for (const l of this.links.values()) n += l.inflight.count; return n }
  }

  private node: Libp2p | undefined
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new'

  constructor (components: Libp2pTransportComponents, init: Libp2pTransportInit) {
    if (init.listen.length === 0 && init.announce !== undefined) throw new InvalidArgumentError('announce needs listen addresses: a transport that listens nowhere (a client) announces nothing')
    this.init = init
    this.logger = components.logger
    this.time = components.time ?? systemTime
    this.localId = peerIdFromPrivateKey(init.privateKey).toString()
    this.metrics = new TransportMetrics(components.registry)
    this.gater = new AllowListGater({ logger: this.logger, metrics: this.metrics, time: this.time }, init.isAllowed)
    const frameBytesMax = init.frameBytesMax ?? defaults.FRAME_BYTES_MAX
    const peerQueueBytesMax = queueBytesMax(init)
    this.settings = {
      time: this.time,
      random: components.random ?? systemRandom,
      metrics: this.metrics,
      frameBytesMax,
      peerQueueMax: init.peerQueueMax ?? defaults.PEER_QUEUE_MAX,
      peerQueueBytesMax,
      dialTimeoutMs: init.dialTimeoutMs ?? defaults.DIAL_TIMEOUT_MS,
      reconnectBaseDelayMs: init.reconnectBaseDelayMs ?? defaults.RECONNECT_BASE_DELAY_MS,
      reconnectMaxDelayMs: init.reconnectMaxDelayMs ?? defaults.RECONNECT_MAX_DELAY_MS,
      dialProtocol: async (peer, protocol, signal) => await this.started().dialProtocol(peer, protocol, { signal }),
      refusedAfterHandshake: (peer, sinceMs) => this.gater.handshakeSince(peer.toString(), sinceMs) && (this.node?.getConnections(peer).length ?? 0) === 0
    }
    const handler = (protocol: string): MessageHandler<unknown> | undefined => this.handlers.get(protocol)
    this.inboundCtx = {
      logger: this.logger,
      metrics: this.metrics,
      frameBytesMax,
      inboundRequestsMax: init.inboundRequestsMax ?? defaults.INBOUND_REQUESTS_MAX,
      replyBytesMax: peerQueueBytesMax,
      handler,
      closed: (channel) => { this.inbound.delete(channel) }
    }
    this.loopbackCtx = { localId: this.localId, logger: this.logger, metrics: this.metrics, time: this.time, handler }
    for (const [peer, addrs] of Object.entries(init.peers ?? {})) this.addressBook.set(peer, checkAddresses(peer, addrs))
  }

  get peerId (): PeerId {
    return this.localId
  }

  /** Listen addresses with the /p2p/<peerId> suffix; empty until started. */
  get multiaddrs (): string[] {
    return this.node?.getMultiaddrs().map(String) ?? []
  }

  async start (): Promise<void> {
    if (this.state !== 'new') throw new InvalidArgumentError(`transport cannot start: it is ${this.state}`)
    this.state = 'starting'
    installYamuxWindowRule()
    const psk = this.init.privateNetworkKey
    const node = await createLibp2p({
      privateKey: this.init.privateKey,
      start: false,
      addresses: { listen: this.init.listen, announce: this.init.announce ?? [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: this.gater.connectionGater(),
      connectionManager: {
        inboundConnectionThreshold: this.init.inboundConnectionsPerSecondMax ?? defaults.INBOUND_CONNECTIONS_PER_SECOND_MAX,
        ...(this.init.connectionsMax === undefined ? {} : { maxConnections: this.init.connectionsMax })
      },
      ...(psk === undefined ? {} : { connectionProtector: preSharedKey({ psk }) })
    })
    this.node = node
    for (const protocol of this.handlers.keys()) await this.register(protocol)
    for (const [peer, addrs] of this.addressBook) await this.storeAddresses(peer, addrs)
    await node.start()
    this.metrics.addSource(this.gauges)
    this.state = 'started'
    this.logger.info({ peer: this.localId, addrs: this.multiaddrs, pnet: psk !== undefined }, 'transport started')
  }

  async stop (): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.metrics.removeSource(this.gauges)
    const closed = new ClosedError('the transport was stopped')
    for (const link of this.links.values()) link.close(closed)
    for (const channel of [...this.inbound]) channel.abort(closed)
    this.links.clear()
    await this.node?.stop()
  }

  handle <M>(protocol: string, handler: MessageHandler<M>): void {
    if (this.handlers.has(protocol)) throw new InvalidArgumentError(`a handler for ${protocol} is already registered`)
    this.handlers.set(protocol, handler as MessageHandler<unknown>)
    if (this.node !== undefined && this.state !== 'stopped') {
      this.register(protocol).catch((err: unknown) => { this.logger.error({ protocol, err }, 'cannot register protocol') })
    }
  }

  unhandle (protocol: string): void {
    if (!this.handlers.delete(protocol)) return
    // Streams already open stay up; their requests now get "no handler" errors.
    this.node?.unhandle(protocol).catch((err: unknown) => { this.logger.error({ protocol, err }, 'cannot unregister protocol') })
  }

  send (to: PeerId, protocol: string, message: unknown): boolean {
    if (this.state !== 'started') {
      this.metrics.drop('stopped')
      return false
    }
    if (to === this.localId) return loopbackSend(this.loopbackCtx, protocol, message)
    const link = this.link(to)
    if (link === undefined) {
      this.metrics.drop('unavailable')
      return false
    }
    const dropped = link.channel(protocol).send(message)
    if (dropped === undefined) return true
    this.metrics.drop(dropped)
    return false
  }

  async request (to: PeerId, protocol: string, message: unknown, options: RequestOptions): Promise<unknown> {
    if (!(options.timeoutMs > 0 && Number.isFinite(options.timeoutMs))) throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${options.timeoutMs}`)
    if (this.state !== 'started') throw new ClosedError(`the transport is ${this.state === 'stopped' ? 'stopped' : 'not started'}`)
    if (options.signal?.aborted === true) throw new AbortedError('the request was aborted before it was sent')
    if (to === this.localId) return await loopbackRequest(this.loopbackCtx, protocol, message, options)
    const link = this.link(to)
    if (link === undefined) throw new UnavailableError(`this node already tracks ${defaults.PEER_LINKS_MAX} busy peers`, { peer: to })
    return await link.channel(protocol).request(message, options)
  }

  /** Replaces the addresses of a peer (empty: forget them); a peer in backoff may be dialled at once. */
  setPeerAddresses (peer: PeerId, addrs: readonly string[]): void {
    const checked = checkAddresses(peer, addrs)
    if (checked.length === 0) this.addressBook.delete(peer)
    else this.addressBook.set(peer, checked)
    this.links.get(peer)?.resetBackoff()
    if (this.node !== undefined && this.state !== 'stopped') {
      this.storeAddresses(peer, checked).catch((err: unknown) => { this.logger.warn({ peer, err }, 'cannot store peer addresses') })
    }
  }

  /**
   * Replaces the gater's decision and closes connections and streams of peers it no longer
   * admits (a member removed from the cluster, a client whose access was revoked). A peer it
   * admits again may be dialled at once: its refused dials put it in backoff.
   */
  setAllowed (isAllowed: AllowPredicate): void {
    const refused = [...this.links.keys()].filter(peer => !this.gater.allows(peer))
    this.gater.setPredicate(isAllowed)
    for (const peer of refused) if (this.gater.allows(peer)) this.links.get(peer)?.resetBackoff()
    if (this.node === undefined || this.state === 'stopped') return
    for (const connection of this.node.getConnections()) {
      const peer = connection.remotePeer.toString()
      if (this.gater.allows(peer)) continue
      this.gater.refused(peer, connection.direction, 'no_longer_allowed')
      connection.abort(new UnauthorizedError(`peer ${peer} is no longer allowed`))
    }
  }

  private started (): Libp2p {
    if (this.node === undefined || this.state !== 'started') throw new ClosedError('the transport is not running')
    return this.node
  }

  private async register (protocol: string): Promise<void> {
    const max = this.init.streamsPerProtocolMax ?? defaults.STREAMS_PER_PROTOCOL_MAX
    await this.node?.handle(protocol, (stream, connection) => { this.accept(protocol, stream, connection) }, {
      maxInboundStreams: max,
      maxOutboundStreams: max
    })
  }

  private accept (protocol: string, stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (this.state !== 'started') {
      stream.abort(new ClosedError('the transport is stopping'))
      return
    }
    if (!this.gater.allows(peer)) {
      // The gater admitted the connection, but the decision changed since.
      this.metrics.reject('not_allowed')
      this.gater.refused(peer, 'inbound', 'not_allowed')
      stream.abort(new UnauthorizedError(`peer ${peer} is not allowed`))
      return
    }
    this.inbound.add(new InboundChannel(this.inboundCtx, peer, protocol, stream))
  }

  private link (peer: PeerId): PeerLink | undefined {
    let link = this.links.get(peer)
    if (link !== undefined) return link
    let peerId
    try {
      peerId = peerIdFromString(peer)
    } catch (err) {
      throw new InvalidArgumentError(`"${peer}" is not a peer id`, {}, { cause: err })
    }
    if (this.links.size >= defaults.PEER_LINKS_MAX) {
      for (const [id, l] of this.links) if (l.idle) this.links.delete(id)
      if (this.links.size >= defaults.PEER_LINKS_MAX) return undefined
    }
    link = new PeerLink(this.settings, peerId)
    this.links.set(peer, link)
    return link
  }

  private async storeAddresses (peer: PeerId, addrs: readonly string[]): Promise<void> {
    const node = this.node
    if (node === undefined) return
    await node.peerStore.patch(peerIdFromString(peer), { multiaddrs: addrs.map(a => multiaddr(a)) })
  }
}

/**
 * pnet's cipher (xsalsa20 in WASM, 64 MiB of memory at most, never shrunk) throws from inside a
 * connection's event listener, which kills the process, when one burst of a connection's bytes
 * no longer fits (measured: bursts of hundreds of MiB queued for one peer). Smaller queues keep
 * the bursts small; this is a mitigation, not a fix.
 */
function queueBytesMax (init: Libp2pTransportInit): number {
  if (init.privateNetworkKey === undefined) return init.peerQueueBytesMax ?? defaults.PEER_QUEUE_BYTES_MAX
  const value = init.peerQueueBytesMax ?? defaults.PNET_QUEUE_BYTES_MAX
  if (value > defaults.PNET_QUEUE_BYTES_MAX) throw new ConfigError(`peerQueueBytesMax is ${value}, but with a private network key it may be at most ${defaults.PNET_QUEUE_BYTES_MAX} (see docs/security.md)`)
  if ((init.frameBytesMax ?? defaults.FRAME_BYTES_MAX) > value) throw new ConfigError(`frameBytesMax must not exceed peerQueueBytesMax (${value}) with a private network key`)
  return value
}

/** Parses the addresses of a peer and strips their /p2p/ suffix, which must name that peer. */
function checkAddresses (peer: PeerId, addrs: readonly string[]): string[] {
  return addrs.map((text) => {
    let addr: Multiaddr
    try {
      addr = multiaddr(text)
    } catch (err) {
      throw new InvalidArgumentError(`"${text}" is not a multiaddr`, { peer }, { cause: err })
    }
    const suffix = addr.getComponents().find(c => c.name === 'p2p')?.value
    if (suffix !== undefined && suffix !== peer) throw new InvalidArgumentError(`address ${text} names peer ${suffix}, not ${peer}`, { peer })
    return suffix === undefined ? text : addr.decapsulateCode(421).toString()
  })
}
