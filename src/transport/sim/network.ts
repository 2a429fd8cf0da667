import { InvalidArgumentError } from '../../api/errors.js'
import type { Random } from '../../runtime/random.js'
import type { PeerId } from '../types.js'
import type { SimClock } from './clock.js'
import {
  addLinkStats, emptyLinkStats, reliableLink, resolveLinkConfig, sampleDelayMs,
  type LinkConfig, type LinkStats
} from './link.js'
import { MachineClock, ProcessTime, type ClockSkew } from './node-time.js'
import { Packet, Wire, wireKinds, type PacketSink } from './packet.js'
import { TraceRecorder, formatTraceEvent, type DropReason, type TraceEvent, type TraceKind } from './trace.js'
import { Receipt, SimTransport, type SimWire } from './transport.js'

export interface SimNetworkOptions {
  clock: SimClock
  /** Every fault decision draws from this, in event order: one seed, one schedule. */
  random: Random
  /** Faults of every link that has no `setLink` override; fault-free 1 ms links when omitted. */
  defaults?: Partial<LinkConfig>
  /** Copies in flight per directed link before `send` returns false and `request` is refused. */
  peerQueueMax?: number
  /** Largest encoded message; a bigger one is a TooLargeError, as on the real wire. */
  frameBytesMax?: number
  /** Most recent events kept for `trace()`; 0 (the default) keeps only the digest. */
  traceEventsMax?: number
  /**
   * An onMessage handler that throws is a bug the real transport would only log. 'throw' (the
   * default) rethrows it out of the clock's step so the test fails at once; 'record' keeps it for
   * `handlerErrors()`.
   */
  onMessageThrow?: 'throw' | 'record'
}

export interface HandlerErrorRecord {
  atMs: number
  node: PeerId
  from: PeerId
  protocol: string
  error: unknown
}

const peerQueueMaxDefault = 4_096
const frameBytesMaxDefault = 4 * 1024 * 1024
const handlerErrorsMax = 100

class SimNode {
  process: SimTransport | undefined
  processTime: ProcessTime | undefined
  incarnation = 0
  isolated = false
  readonly out = new Map<PeerId, Link>()

  constructor (readonly id: PeerId, readonly index: number, readonly machine: MachineClock) {}
}

class Link {
  readonly loopback: boolean
  override: LinkConfig | undefined
  blocked = false
  inFlight = 0
  lastArrivalMs = -Infinity
  readonly stats = emptyLinkStats()

  constructor (readonly index: number, readonly from: SimNode, readonly to: SimNode) {
    this.loopback = from === to
  }
}

const noThrow = Symbol('noThrow')

/**
 * A seeded, deterministic network of simulated processes. Connectionless, like datagrams: a copy
 * in flight reaches whichever incarnation of its receiver is up when it arrives (or is lost if
 * none is, or if a partition stands between them at send or at arrival time); copies a process
 * sent before it crashed still arrive, which is what exposes "sent before it was durable" bugs.
 * A request's reply travels the reverse link with that link's faults.
 */
export class SimNetwork implements SimWire, PacketSink {
  readonly clock: SimClock
  readonly frameBytesMax: number
  private readonly random: Random
  private readonly peerQueueMax: number
  private readonly onMessageThrow: 'throw' | 'record'
  private defaults: LinkConfig
  private readonly nodes = new Map<PeerId, SimNode>()
  private readonly links: Link[] = []
  private readonly protocols = new Map<string, number>()
  private messageIdNext = 1
  private readonly tracer: TraceRecorder
  private readonly drops: Record<DropReason, number> = {
    loss: 0, partition: 0, down: 0, 'unknown-peer': 0, 'no-handler': 0, 'too-large': 0, unencodable: 0
  }
  private readonly errors: HandlerErrorRecord[] = []
  private deferredThrow: unknown = noThrow

  constructor (options: SimNetworkOptions) {
    this.clock = options.clock
    this.random = options.random
    this.defaults = resolveLinkConfig(reliableLink, options.defaults ?? {})
    this.peerQueueMax = options.peerQueueMax ?? peerQueueMaxDefault
    this.frameBytesMax = options.frameBytesMax ?? frameBytesMaxDefault
    this.onMessageThrow = options.onMessageThrow ?? 'throw'
    this.tracer = new TraceRecorder(options.traceEventsMax ?? 0)
    if (!(this.peerQueueMax >= 1)) throw new InvalidArgumentError('peerQueueMax must be at least 1')
  }

  /** Adds a machine and starts its first process. */
  addNode (id: PeerId): SimTransport {
    if (typeof id !== 'string' || id === '') throw new InvalidArgumentError('a node id is a non-empty string')
    if (this.nodes.has(id)) throw new InvalidArgumentError(`node ${id} already exists: use restart to start a new process`)
    const node = new SimNode(id, this.nodes.size + 1, new MachineClock(this.clock))
    this.nodes.set(id, node)
    return this.start(node)
  }

  /** The live process of `id`, or undefined while it is down. */
  transport (id: PeerId): SimTransport | undefined {
    return this.nodes.get(id)?.process
  }

  isUp (id: PeerId): boolean {
    return this.nodes.get(id)?.process !== undefined
  }

  nodeIds (): PeerId[] {
    return [...this.nodes.keys()]
  }

  hasNode (id: PeerId): boolean {
    return this.nodes.has(id)
  }

  /** Changes the faults of every link without an override. */
  setDefaults (change: Partial<LinkConfig>): void {
    this.defaults = resolveLinkConfig(this.defaults, change)
    this.control('link', '*', '*', 'defaults')
  }

  /** Overrides one directed link: the network defaults with `change` applied; undefined resets it. */
  setLink (from: PeerId, to: PeerId, change: Partial<LinkConfig> | undefined): void {
    const link = this.link(from, to)
    link.override = change === undefined ? undefined : resolveLinkConfig(this.defaults, change)
    this.control('link', from, to, change === undefined ? 'reset' : 'set')
  }

  linkConfig (from: PeerId, to: PeerId): LinkConfig {
    return { ...(this.link(from, to).override ?? this.defaults) }
  }

  /**
   * Cuts every link from groupA to groupB (and back, unless oneWay). Copies already in flight on a
   * cut link are lost when they arrive. Partitions add up until `heal`.
   */
  partition (groupA: readonly PeerId[], groupB: readonly PeerId[], options: { oneWay?: boolean } = {}): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue
        this.link(a, b).blocked = true
        if (options.oneWay !== true) this.link(b, a).blocked = true
      }
    }
    this.control('partition', groupA.join(','), groupB.join(','), options.oneWay === true ? 'one-way' : 'two-way')
  }

  /** Cuts every link to and from `id`, including to nodes added later. */
  isolate (id: PeerId): void {
    this.node(id).isolated = true
    this.control('isolate', id, '', '')
  }

  /** Removes every partition and isolation (link fault settings stay). */
  heal (): void {
    for (const link of this.links) link.blocked = false
    for (const node of this.nodes.values()) node.isolated = false
    this.control('heal', '*', '', '')
  }

  /**
   * Kills the process of `id`: its handlers, timers and pending requests vanish without running
   * (requests it sent never settle: nothing of a dead process runs again); requests to it time
   * out at their callers; copies arriving while it is down are lost. A no-op when it is down.
   */
  crash (id: PeerId): void {
    const node = this.node(id)
    if (node.process === undefined) return
    node.process.kill()
    node.process = undefined
    node.processTime = undefined
    this.control('crash', id, '', `incarnation ${node.incarnation}`)
  }

  /** Starts a new process for `id` (crashing the running one first): register handlers anew on it. */
  restart (id: PeerId): SimTransport {
    const node = this.node(id)
    if (node.process !== undefined) this.crash(id)
    const transport = this.start(node)
    this.control('restart', id, '', `incarnation ${node.incarnation}`)
    return transport
  }

  /**
   * Freezes the process of `id` for `ms` (a long GC or a SIGSTOP): its timers and the copies that
   * reach it wait, in order, and run when the pause ends. Pauses extend, never shorten.
   */
  pause (id: PeerId, ms: number): void {
    const time = this.node(id).processTime
    if (time === undefined) throw new InvalidArgumentError(`node ${id} is down: restart it before pausing it`)
    if (!(ms >= 0 && Number.isFinite(ms))) throw new InvalidArgumentError('a pause lasts a finite number of ms >= 0')
    time.pausedUntilMs = Math.max(time.pausedUntilMs, this.clock.now() + ms)
    this.control('pause', id, '', `until ${time.pausedUntilMs}`)
  }

  /** Skews the clock of the machine `id` (kept across restarts); see ClockSkew. */
  setClockSkew (id: PeerId, skew: ClockSkew): void {
    this.node(id).machine.set(skew)
  }

  stats (from: PeerId, to: PeerId): LinkStats {
    return { ...(this.nodes.get(from)?.out.get(to)?.stats ?? emptyLinkStats()) }
  }

  totals (): LinkStats {
    const sum = emptyLinkStats()
    for (const link of this.links) addLinkStats(sum, link.stats)
    return sum
  }

  dropReasons (): Record<DropReason, number> {
    return { ...this.drops }
  }

  /** Handler throws seen so far (the first handlerErrorsMax). */
  handlerErrors (): readonly HandlerErrorRecord[] {
    return this.errors
  }

  /** A digest of every network event so far; equal for equal seeds and schedules. */
  get digest (): number {
    return this.tracer.digest
  }

  traceEvents (): TraceEvent[] {
    if (!this.tracer.enabled) throw new InvalidArgumentError('tracing is off: create the network with traceEventsMax > 0')
    return this.tracer.events()
  }

  /** The recorded events, one line each: `12.500 deliver msg#7 a->b /quorumkv/raft/1.0.0 40B`. */
  trace (): string[] {
    return this.traceEvents().map(formatTraceEvent)
  }

  /** @internal SimWire: accepts one message from a live process. */
  transmit (fromId: PeerId, toId: PeerId, wire: Wire, protocol: string, bytes: Uint8Array, requestId: number): number {
    const from = this.nodes.get(fromId) as SimNode
    let link = from.out.get(toId)
    if (link === undefined) {
      const to = this.nodes.get(toId)
      if (to === undefined) {
        const id = this.messageIdNext++
        this.drops['unknown-peer']++
        this.note('drop', from, undefined, wire, protocol, id, bytes.length, `unknown-peer ${toId}`)
        return id
      }
      link = this.makeLink(from, to)
    }
    const stats = link.stats
    if (link.inFlight >= this.peerQueueMax) {
      stats.queueFull++
      this.note('queue-full', from, link.to, wire, protocol, 0, bytes.length, '')
      return 0
    }
    const id = this.messageIdNext++
    stats.sent++
    this.note('send', from, link.to, wire, protocol, id, bytes.length, '')
    const protocolIndex = this.protocolIndex(protocol)
    if (link.loopback) {
      // Delivery to itself never touches the network: no faults, no delay, but still asynchronous.
      link.inFlight++
      this.clock.schedule(new Packet(this, link.index, wire, protocol, protocolIndex, bytes, id, requestId, from.incarnation), this.clock.now())
      return id
    }
    if (link.blocked || from.isolated || link.to.isolated) {
      this.drop(link, 'partition', wire, protocol, id, bytes.length)
      return id
    }
    const config = link.override ?? this.defaults
    const random = this.random
    if (config.dropProbability > 0 && random.next() < config.dropProbability) {
      this.drop(link, 'loss', wire, protocol, id, bytes.length)
      return id
    }
    this.launch(link, config, new Packet(this, link.index, wire, protocol, protocolIndex, bytes, id, requestId, from.incarnation))
    if (config.duplicateProbability > 0 && random.next() < config.duplicateProbability) {
      stats.duplicated++
      this.note('duplicate', from, link.to, wire, protocol, id, bytes.length, '')
      this.launch(link, config, new Packet(this, link.index, wire, protocol, protocolIndex, bytes, id, requestId, from.incarnation))
    }
    return id
  }

  /** @internal SimWire */
  refused (fromId: PeerId, protocol: string, reason: 'too-large' | 'unencodable'): void {
    this.drops[reason]++
    this.note('drop', this.nodes.get(fromId) as SimNode, undefined, Wire.Message, protocol, 0, 0, reason)
  }

  /** @internal PacketSink: a copy reached the end of its link. */
  arrive (packet: Packet): void {
    const link = this.links[packet.linkIndex] as Link
    link.inFlight--
    const to = link.to
    if (!link.loopback && (link.blocked || link.from.isolated || to.isolated)) {
      this.drop(link, 'partition', packet.wire, packet.protocol, packet.id, packet.bytes.length)
      return
    }
    const process = to.process
    const time = to.processTime
    if (process === undefined || time === undefined || (link.loopback && packet.fromIncarnation !== to.incarnation)) {
      this.drop(link, 'down', packet.wire, packet.protocol, packet.id, packet.bytes.length)
      return
    }
    if (time.pausedUntilMs > this.clock.now()) {
      link.inFlight++
      link.stats.held++
      this.note('hold', link.from, to, packet.wire, packet.protocol, packet.id, packet.bytes.length, '')
      this.clock.schedule(packet, time.pausedUntilMs)
      return
    }
    const receipt = process.receive(packet, link.from.id)
    switch (receipt) {
      case Receipt.Delivered:
      case Receipt.Ignored:
        link.stats.delivered++
        this.note('deliver', link.from, to, packet.wire, packet.protocol, packet.id, packet.bytes.length, receipt === Receipt.Ignored ? 'ignored' : '')
        break
      case Receipt.Rejected:
        link.stats.rejected++
        this.note('reject', link.from, to, packet.wire, packet.protocol, packet.id, packet.bytes.length, '')
        break
      case Receipt.NoHandler:
        this.drop(link, 'no-handler', packet.wire, packet.protocol, packet.id, packet.bytes.length)
        break
    }
    if (this.deferredThrow !== noThrow) {
      const err = this.deferredThrow
      this.deferredThrow = noThrow
      throw err
    }
  }

  /** @internal SimWire */
  handlerThrew (node: PeerId, from: PeerId, protocol: string, error: unknown, inArrival: boolean): void {
    if (this.errors.length < handlerErrorsMax) this.errors.push({ atMs: this.clock.now(), node, from, protocol, error })
    if (inArrival && this.onMessageThrow === 'throw') this.deferredThrow = error
  }

  private start (node: SimNode): SimTransport {
    node.incarnation++
    const time = new ProcessTime(this.clock, node.machine)
    const transport = new SimTransport(node.id, this, time, node.incarnation)
    node.process = transport
    node.processTime = time
    return transport
  }

  private launch (link: Link, config: LinkConfig, packet: Packet): void {
    let atMs = this.clock.now() + sampleDelayMs(config, this.random)
    if (config.fifo) {
      if (atMs < link.lastArrivalMs) atMs = link.lastArrivalMs
      link.lastArrivalMs = atMs
    }
    link.inFlight++
    this.clock.schedule(packet, atMs)
  }

  private drop (link: Link, reason: DropReason, wire: Wire, protocol: string, id: number, bytes: number): void {
    link.stats.dropped++
    this.drops[reason]++
    this.note('drop', link.from, link.to, wire, protocol, id, bytes, reason)
  }

  private note (kind: TraceKind, from: SimNode, to: SimNode | undefined, wire: Wire, protocol: string, id: number, bytes: number, detail: string): void {
    const tracer = this.tracer
    tracer.mix(kind, this.clock.now(), from.index, to?.index ?? 0, wire, this.protocolIndex(protocol), id, bytes)
    if (tracer.enabled) {
      tracer.record({ atMs: this.clock.now(), kind, from: from.id, to: to?.id ?? '', wire: wireKinds[wire] ?? 'msg', protocol, id, bytes, detail })
    }
  }

  private control (kind: TraceKind, from: string, to: string, detail: string): void {
    this.tracer.mix(kind, this.clock.now(), 0, 0, 0, 0, 0, 0)
    if (this.tracer.enabled) this.tracer.record({ atMs: this.clock.now(), kind, from, to, wire: '', protocol: '', id: 0, bytes: 0, detail })
  }

  private protocolIndex (protocol: string): number {
    let index = this.protocols.get(protocol)
    if (index === undefined) {
      index = this.protocols.size + 1
      this.protocols.set(protocol, index)
    }
    return index
  }

  private node (id: PeerId): SimNode {
    const node = this.nodes.get(id)
    if (node === undefined) throw new InvalidArgumentError(`unknown node ${id}: addNode it first`)
    return node
  }

  private link (fromId: PeerId, toId: PeerId): Link {
    const from = this.node(fromId)
    return from.out.get(toId) ?? this.makeLink(from, this.node(toId))
  }

  private makeLink (from: SimNode, to: SimNode): Link {
    const link = new Link(this.links.length, from, to)
    this.links.push(link)
    from.out.set(to.id, link)
    return link
  }
}
