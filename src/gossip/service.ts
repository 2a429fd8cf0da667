import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ClosedError, InvalidArgumentError } from '../api/errors.js'
import type { Random } from '../runtime/random.js'
import type { TimeSource, TimerHandle } from '../runtime/time.js'
import type { PeerId, Transport } from '../transport/types.js'
import { resolveSwimConfig, type GossipConfig, type SwimTuning } from './config.js'
import { GOSSIP_PROTOCOL } from './constants.js'
import type { GossipMessage, Liveness } from './messages.js'
import { GossipMetrics, type GossipGaugeSource } from './metrics.js'
import { parseGossipMessage } from './parse.js'
import type { LivenessChange } from './outputs.js'
import { SwimCore } from './swim.js'

export interface GossipServiceComponents {
  transport: Transport
  time: TimeSource
  random: Random
  logger: Logger
  registry: Registry
}

export interface GossipServiceInit {
  /** This node's peer id; must be the transport's `localId`. */
  self: PeerId
  /** Multiaddrs this node advertises to the others (default none; change with setAddresses). */
  addresses?: readonly string[]
  /** The authoritative member set from Raft (this node may be in it or not). */
  members: readonly PeerId[]
  /** `config.gossip`. */
  gossip: GossipConfig
  /**
   * Start incarnation, default 0. A restarted node recovers either way (the others' answers make
   * it refute), but starting above the previous process's incarnation (a persisted counter, or
   * wall-clock seconds) lets new addresses win at once.
   */
  incarnation?: number
  /** Failure-detector knobs outside the node config; defaults in constants.ts. */
  tuning?: Partial<SwimTuning>
}

/** One member as this node sees it; `members()` returns this node first. */
export interface GossipMember {
  peerId: PeerId
  liveness: Liveness
  incarnation: number
  /** Since this node last heard from it (directly or through an indirect ack); undefined: never. 0 for this node. */
  lastSeenAgeMs: number | undefined
  addresses: string[]
}

export type { LivenessChange }
export type LivenessListener = (change: LivenessChange) => void

/**
 * The driver of the SWIM core: runs it over the Transport on `/quorumkv/gossip/1.0.0` with one
 * timer set to the core's next deadline, and answers liveness questions for the rest of the node
 * (the quorum coordinator picks fallbacks with `isAlive`; `node.members()` lists `members()`).
 */
export class GossipService {
  private readonly transport: Transport
  private readonly time: TimeSource
  private readonly logger: Logger
  private readonly metrics: GossipMetrics
  private readonly core: SwimCore
  private readonly listeners = new Set<LivenessListener>()
  private readonly gauges: GossipGaugeSource
  private state: 'new' | 'started' | 'stopped' = 'new'
  private timer: TimerHandle | undefined
  private timerAtMs = Infinity
  private clockLastMs: number
  private monotonicMs: number

  constructor (components: GossipServiceComponents, init: GossipServiceInit) {
    if (init.self !== components.transport.localId) {
      throw new InvalidArgumentError(`gossip self ${init.self} is not the transport's peer id ${components.transport.localId}`)
    }
    this.transport = components.transport
    this.time = components.time
    this.logger = components.logger
    this.metrics = new GossipMetrics(components.registry)
    this.clockLastMs = this.time.now()
    this.monotonicMs = this.clockLastMs
    this.core = new SwimCore({
      self: init.self,
      addresses: init.addresses ?? [],
      incarnation: init.incarnation ?? 0,
      members: init.members,
      config: resolveSwimConfig(init.gossip, init.tuning),
      random: components.random,
      nowMs: this.monotonicMs
    })
    this.gauges = {
      countByLiveness: () => {
        const counts: Record<Liveness, number> = { alive: 0, suspect: 0, dead: 0 }
        for (const m of this.core.members()) counts[m.liveness]++
        return counts
      },
      localHealth: () => this.core.localHealth
    }
  }

  get started (): boolean {
    return this.state === 'started'
  }

  /** This node's current incarnation (it rises each time the node refutes a suspicion). */
  get incarnation (): number {
    return this.core.incarnation
  }

  /** Lifeguard's local health score: 0 is healthy; see docs/gossip.md. */
  get localHealth (): number {
    return this.core.localHealth
  }

  start (): void {
    if (this.state !== 'new') throw new InvalidArgumentError(`the gossip service cannot start: it is ${this.state}`)
    this.transport.handle<GossipMessage>(GOSSIP_PROTOCOL, {
      parse: parseGossipMessage,
      onMessage: (from, message) => { this.receive(from, message) }
    })
    this.state = 'started'
    this.metrics.addSource(this.gauges)
    this.logger.debug({ event: 'gossip_started', peer: this.core.self, members: this.core.memberCount }, 'gossip started')
    this.onTimer()
  }

  /** Stops probing and answering. Idempotent. Others will suspect, then declare this node dead. */
  stop (): void {
    if (this.state === 'stopped') return
    const wasStarted = this.state === 'started'
    this.state = 'stopped'
    this.timer?.cancel()
    this.timer = undefined
    this.timerAtMs = Infinity
    this.metrics.removeSource(this.gauges)
    if (wasStarted) this.transport.unhandle(GOSSIP_PROTOCOL)
  }

  /** True when this node sees `peer` alive (itself included). Suspect, dead and unknown peers are not. */
  isAlive (peer: PeerId): boolean {
    return this.core.member(peer)?.liveness === 'alive'
  }

  /** Liveness of `peer`, or undefined when it is not a member. */
  liveness (peer: PeerId): Liveness | undefined {
    return this.core.member(peer)?.liveness
  }

  members (): GossipMember[] {
    const now = this.now()
    const self = this.core.self
    return this.core.members().map((m) => ({
      peerId: m.peerId,
      liveness: m.liveness,
      incarnation: m.incarnation,
      lastSeenAgeMs: m.peerId === self ? 0 : m.lastSeenMs === undefined ? undefined : Math.max(0, now - m.lastSeenMs),
      addresses: m.addresses.slice()
    }))
  }

  /** Replaces the member set when Raft's configuration changes. */
  setMembers (peers: readonly PeerId[]): void {
    if (this.state === 'stopped') throw new ClosedError('the gossip service is stopped')
    this.core.setMembers(peers, this.now())
    this.flush()
  }

  /** Changes the advertised addresses (for example once the transport listens). */
  setAddresses (addresses: readonly string[]): void {
    if (this.state === 'stopped') throw new ClosedError('the gossip service is stopped')
    this.core.setAddresses(addresses, this.now())
    this.flush()
  }

  /**
   * Calls `listener` on every liveness change this node observes (and on address changes, with
   * `previous === liveness`), synchronously, in order. Returns the function that unsubscribes.
   */
  onChange (listener: LivenessListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private receive (from: PeerId, message: GossipMessage): void {
    if (this.state !== 'started') return
    this.core.step(from, message, this.now())
    this.flush()
  }

  private onTimer (): void {
    this.timer = undefined
    this.timerAtMs = Infinity
    if (this.state !== 'started') return
    this.core.tick(this.now())
    this.flush()
  }

  private flush (): void {
    if (this.state !== 'started') return
    const ready = this.core.ready()
    for (const out of ready.messages) this.transport.send(out.to, GOSSIP_PROTOCOL, out.message)
    for (const result of ready.probes) this.metrics.probe(result)
    if (ready.refutations > 0) {
      this.metrics.refuted(ready.refutations)
      this.logger.info({ event: 'gossip_refuted', peer: this.core.self, incarnation: this.core.incarnation }, 'refuted a suspicion of this node')
    }
    if (ready.dropped > 0) this.logger.error({ event: 'gossip_outbox_overflow', dropped: ready.dropped }, 'gossip dropped outbound messages or changes: a bug')
    for (const change of ready.changes) this.report(change)
    this.schedule()
  }

  private report (change: LivenessChange): void {
    if (change.previous === change.liveness) {
      this.logger.debug({ event: 'gossip_member_addresses', peer: change.peerId, incarnation: change.incarnation, addresses: change.addresses }, 'member addresses changed')
    } else {
      const fields = { event: `gossip_member_${change.liveness}`, peer: change.peerId, previous: change.previous, incarnation: change.incarnation }
      if (change.liveness === 'suspect') this.logger.debug(fields, 'member suspected')
      else this.logger.info(fields, change.liveness === 'dead' ? 'member declared dead' : 'member alive')
    }
    for (const listener of this.listeners) {
      try {
        listener(change)
      } catch (err) {
        this.logger.error({ event: 'gossip_listener_failed', peer: change.peerId, err }, 'a liveness listener threw')
      }
    }
  }

  /**
   * The injected clock may be wall-clock time (systemTime is Date.now) and step backwards under
   * NTP. The core must not see that, and timer delays computed against a clock behind the core's
   * would stall probing for the size of the step: count only forward motion. A forward step
   * cannot be told apart from a long pause of the process and is taken as elapsed time.
   */
  private now (): number {
    const clockMs = this.time.now()
    if (clockMs > this.clockLastMs) this.monotonicMs += clockMs - this.clockLastMs
    this.clockLastMs = clockMs
    return this.monotonicMs
  }

  /** Keeps one timer, at the core's next deadline. */
  private schedule (): void {
    const atMs = this.core.nextWakeAtMs()
    if (atMs >= this.timerAtMs) return
    this.timer?.cancel()
    this.timer = undefined
    this.timerAtMs = atMs
    if (atMs === Infinity) return
    this.timer = this.time.setTimeout(() => { this.onTimer() }, Math.max(0, atMs - this.now()))
  }
}
