import { InvalidArgumentError } from '../api/errors.js'
import { randomInt, type Random } from '../runtime/random.js'
import type { PeerId } from '../transport/types.js'
import type { SwimConfig } from './config.js'
import { INCARNATION_MAX, MEMBERS_MAX, OUTBOX_MAX } from './constants.js'
import { LocalHealth } from './local-health.js'
import type { MemberState } from './member-table.js'
import { aliveOf, Membership } from './membership.js'
import type { AckMessage, GossipMessage, PingMessage, PingReqMessage, Update } from './messages.js'
import type { MemberView, Outbound, ProbeResult, Ready } from './outputs.js'
import { ProbeOrder } from './probe-order.js'
import { RelayTable } from './relays.js'
import { sample } from './sample.js'

export interface SwimInit {
  self: PeerId
  /** Multiaddrs this node advertises. */
  addresses: readonly string[]
  /** Start incarnation; a restarted process may start above its previous one (see docs/gossip.md). */
  incarnation: number
  /** The authoritative member set (from Raft); this node may or may not be in it. */
  members: readonly PeerId[]
  config: SwimConfig
  random: Random
  nowMs: number
}

/** The probe this node is running (one at a time). */
interface Probe {
  target: PeerId
  seq: number
  /** When the direct ping counts as unanswered and helpers are asked. */
  indirectAtMs: number
  /** When the probe fails if no ack came, direct or forwarded. */
  deadlineAtMs: number
  indirectSent: boolean
  helpers: number
  nacks: number
}

/**
 * The SWIM failure detector as a pure state machine, with memberlist's and Lifeguard's
 * refinements. No I/O and no clock: the driver calls `tick(now)` when `nextWakeAtMs()` comes,
 * `step(from, message, now)` for each message, then `ready()` for the messages to send and the
 * liveness changes to report. Randomness (probe order, helpers, gossip targets, start jitter)
 * comes from the injected Random only, so a seed replays exactly.
 *
 * One probe period: ping the next member in the shuffled round-robin order; if no ack within
 * probeTimeoutMs, ask `indirectProbes` alive members to ping it (ping-req); if still no ack when
 * the period ends, suspect it. A suspicion is gossiped; the suspected member refutes by raising
 * its incarnation; a suspicion nobody refutes within the suspicion timeout becomes death. What is
 * believed, and how updates change it, lives in Membership; this class decides when to probe and
 * whom to tell.
 */
export class SwimCore {
  readonly self: PeerId
  private readonly config: SwimConfig
  private readonly random: Random
  private readonly membership: Membership
  private readonly order: ProbeOrder
  private readonly health: LocalHealth
  private readonly relays: RelayTable
  private probe: Probe | undefined
  private seqNext = 1
  private nowMs: number
  private nextProbeAtMs: number
  private nextGossipAtMs: number
  private probesStarted = 0
  private outbox: Outbound[] = []
  private probeResults: ProbeResult[] = []
  private refuted = 0
  private dropped = 0

  constructor (init: SwimInit) {
    if (!(Number.isSafeInteger(init.incarnation) && init.incarnation >= 0 && init.incarnation < INCARNATION_MAX)) {
      throw new InvalidArgumentError(`incarnation must be an integer in [0, ${INCARNATION_MAX}), got ${init.incarnation}`)
    }
    this.self = init.self
    this.config = init.config
    this.random = init.random
    this.nowMs = init.nowMs
    this.membership = new Membership(init.self, init.addresses, init.incarnation, init.config)
    this.order = new ProbeOrder(init.random)
    this.health = new LocalHealth(init.config.localHealthMax)
    this.relays = new RelayTable(init.config.relaysMax)
    // Staggered starts keep nodes started together from probing and gossiping in lockstep.
    this.nextProbeAtMs = init.nowMs + randomInt(init.random, init.config.probeIntervalMs)
    this.nextGossipAtMs = init.nowMs + randomInt(init.random, init.config.gossipIntervalMs)
    this.setMembers(init.members, init.nowMs)
  }

  get incarnation (): number {
    return this.membership.incarnation
  }

  get localHealth (): number {
    return this.health.score
  }

  get memberCount (): number {
    return this.membership.memberCount
  }

  /** Replaces the member set (from Raft). New members start alive; removed ones are forgotten. */
  setMembers (peers: readonly PeerId[], nowMs: number): void {
    this.advance(nowMs)
    const others = [...new Set(peers)].filter((p) => p !== this.self)
    if (others.length > MEMBERS_MAX) throw new InvalidArgumentError(`at most ${MEMBERS_MAX} members, got ${others.length}`)
    for (const peer of this.membership.setMembers(others, this.nowMs)) {
      if (this.probe?.target === peer) this.probe = undefined
    }
    this.order.update(others)
  }

  /** Changes the advertised addresses; the others learn them through a new incarnation. */
  setAddresses (addresses: readonly string[], nowMs: number): void {
    this.advance(nowMs)
    this.membership.setAddresses(addresses)
  }

  member (peer: PeerId): MemberView | undefined {
    return this.membership.member(peer, this.nowMs)
  }

  /** This node first, then the others in member-set order. */
  members (): MemberView[] {
    return this.membership.members(this.nowMs)
  }

  /** The earliest time `tick` has something to do; Infinity when nothing is scheduled. */
  nextWakeAtMs (): number {
    const p = this.probe
    let at = p === undefined ? this.nextProbeAtMs : p.indirectSent ? p.deadlineAtMs : p.indirectAtMs
    at = Math.min(at, this.relays.nextDeadlineMs(), this.membership.nextSuspicionDeadlineMs())
    // An idle cluster (no news, nobody suspect) sends only probes.
    if (this.nextGossipAtMs < at && this.gossipDue()) at = this.nextGossipAtMs
    return at
  }

  tick (nowMs: number): void {
    this.advance(nowMs)
    const now = this.nowMs
    this.membership.expireSuspicions(now)
    for (const relay of this.relays.expired(now)) {
      this.send(relay.origin, { type: 'nack', seq: relay.originSeq, inc: this.incarnation, updates: this.membership.piggyback([]) })
    }
    const p = this.probe
    if (p !== undefined && !p.indirectSent && now >= p.indirectAtMs) this.askHelpers(p)
    if (p !== undefined && now >= p.deadlineAtMs) this.failProbe(p)
    if (this.probe === undefined && now >= this.nextProbeAtMs) this.startProbe()
    if (now >= this.nextGossipAtMs && this.gossipDue()) this.gossipRound()
  }

  step (from: PeerId, message: GossipMessage, nowMs: number): void {
    this.advance(nowMs)
    this.membership.seen(from, this.nowMs)
    this.membership.heardFrom(from, message.inc, this.nowMs)
    // Updates first: a ping may carry the sender's refutation, which its ack must already reflect.
    for (const u of message.updates) this.apply(u)
    switch (message.type) {
      case 'ping': this.onPing(from, message); break
      case 'ping-req': this.onPingReq(from, message); break
      case 'ack': this.onAck(from, message); break
      case 'nack': this.onNack(message); break
      case 'gossip': break
    }
  }

  ready (): Ready {
    const { changes, dropped } = this.membership.takeChanges()
    const ready: Ready = { messages: this.outbox, changes, probes: this.probeResults, refutations: this.refuted, dropped: this.dropped + dropped }
    this.outbox = []
    this.probeResults = []
    this.refuted = 0
    this.dropped = 0
    return ready
  }

  // ---- probing ----

  private startProbe (): void {
    const now = this.nowMs
    this.nextProbeAtMs = now + this.config.probeIntervalMs
    this.probesStarted++
    if (this.probesStarted % this.config.reconnectEveryProbes === 0) this.pingOneDead()
    const target = this.order.next((peer) => this.membership.get(peer)?.liveness !== 'dead')
    if (target === undefined) return
    const seq = this.seqNext++
    this.probe = {
      target,
      seq,
      indirectAtMs: now + this.config.probeTimeoutMs,
      // Lifeguard: a node that doubts its own health waits longer before it accuses anyone.
      deadlineAtMs: now + this.health.scale(this.config.probeIntervalMs),
      indirectSent: false,
      helpers: 0,
      nacks: 0
    }
    this.sendPing(target, seq)
  }

  private sendPing (target: PeerId, seq: number): void {
    const m = this.membership.get(target)
    // Lifeguard's buddy system: tell a suspected member at once, so it can refute in time.
    const buddy = m !== undefined && m.liveness !== 'alive' ? [this.membership.accusation(m)] : []
    this.send(target, { type: 'ping', seq, inc: this.incarnation, target, updates: this.membership.piggyback(buddy) })
  }

  private askHelpers (p: Probe): void {
    p.indirectSent = true
    const helpers = this.pickRandom(this.config.indirectProbes, (m) => m.liveness === 'alive' && m.peerId !== p.target)
    p.helpers = helpers.length
    for (const helper of helpers) {
      const message: PingReqMessage = { type: 'ping-req', seq: p.seq, inc: this.incarnation, target: p.target, updates: this.membership.piggyback([]) }
      this.send(helper, message)
    }
  }

  private failProbe (p: Probe): void {
    this.probe = undefined
    this.probeResults.push('failed')
    // Helpers that sent no nack were unreachable too: the trouble is more likely here than there.
    this.health.apply(p.helpers > 0 ? p.helpers - p.nacks : 1)
    this.membership.suspect(p.target, this.nowMs)
  }

  private onAck (from: PeerId, message: AckMessage): void {
    const p = this.probe
    if (p !== undefined && message.seq === p.seq) {
      this.probe = undefined
      this.probeResults.push(from === p.target ? 'ok' : 'indirect')
      this.membership.seen(p.target, this.nowMs)
      this.health.apply(-1)
      return
    }
    const relay = this.relays.acked(message.seq, from)
    if (relay !== undefined) {
      this.send(relay.origin, { type: 'ack', seq: relay.originSeq, inc: this.incarnation, updates: this.membership.piggyback([]) })
    }
    // Anything else is late (the probe already ended) or answers a reconnect ping: its updates
    // and its proof of life were already taken in step().
  }

  private onNack (message: AckMessage): void {
    const p = this.probe
    if (p !== undefined && p.indirectSent && message.seq === p.seq && p.nacks < p.helpers) p.nacks++
  }

  private onPing (from: PeerId, message: PingMessage): void {
    // Not for this process (an old incarnation's address reused, a misrouted message): stay silent.
    if (message.target !== this.self) return
    // Every ack carries this node's own record: each probe then also refreshes the prober's view
    // of its target (incarnation, addresses), so a view that missed every gossiped copy of an
    // update is repaired within one probe pass. It costs one update per ack.
    const updates: Update[] = [this.membership.selfAlive()]
    const m = this.membership.get(from)
    if (m !== undefined) {
      // The sender is behind on its own story (suspected, dead, or a restarted process that
      // forgot its incarnation): tell it, so it refutes now rather than after the news spreads.
      if (m.liveness !== 'alive' && m.incarnation >= message.inc) updates.push(this.membership.accusation(m))
      else if (m.liveness === 'alive' && m.incarnation > message.inc) updates.push(aliveOf(m))
    }
    this.send(from, { type: 'ack', seq: message.seq, inc: this.incarnation, updates: this.membership.piggyback(updates) })
  }

  private onPingReq (from: PeerId, message: PingReqMessage): void {
    if (message.target === this.self) {
      this.send(from, { type: 'ack', seq: message.seq, inc: this.incarnation, updates: this.membership.piggyback([]) })
      return
    }
    const seq = this.seqNext
    if (!this.relays.add(seq, { origin: from, originSeq: message.seq, target: message.target, nackAtMs: this.nowMs + this.config.probeTimeoutMs })) return
    this.seqNext++
    this.sendPing(message.target, seq)
  }

  /** A reconnect attempt: a dead member that answers has refuted (the ping told it it is dead). */
  private pingOneDead (): void {
    const peer = this.pickRandom(1, (m) => m.liveness === 'dead')[0]
    if (peer !== undefined) this.sendPing(peer, this.seqNext++)
  }

  // ---- dissemination ----

  private gossipDue (): boolean {
    return this.membership.hasNews || this.membership.anySuspect()
  }

  private gossipRound (): void {
    this.nextGossipAtMs = this.nowMs + this.config.gossipIntervalMs
    const now = this.nowMs
    const targets = this.pickRandom(this.config.gossipFanout, (m) =>
      m.liveness !== 'dead' || now - m.stateChangeMs < this.config.gossipToTheDeadMs)
    for (const to of targets) {
      const updates = this.membership.piggyback([])
      if (updates.length === 0) break
      this.send(to, { type: 'gossip', inc: this.incarnation, updates })
    }
    // Lifeguard's buddy system, applied every round and not only when the suspect happens to be
    // probed: a live member learns of its suspicion within a gossip interval, with the whole
    // suspicion timeout left to refute. Costs one message per round while someone is suspect.
    const suspect = this.pickRandom(1, (m) => m.liveness === 'suspect')[0]
    const m = suspect === undefined ? undefined : this.membership.get(suspect)
    if (m !== undefined) this.send(m.peerId, { type: 'gossip', inc: this.incarnation, updates: this.membership.piggyback([this.membership.accusation(m)]) })
  }

  private apply (u: Update): void {
    const outcome = this.membership.apply(u, this.nowMs)
    if (outcome === 'refuted') {
      this.refuted++
      this.health.apply(1)
    } else if (outcome === 'conflict') {
      // Only the member can settle two stories at one incarnation (by moving past it): tell it
      // what this node holds.
      const m = this.membership.get(u.peer)
      if (m !== undefined) this.send(m.peerId, { type: 'gossip', inc: this.incarnation, updates: [aliveOf(m)] })
    }
  }

  // ---- helpers ----

  /** Up to `k` distinct members matching `eligible`, uniformly at random. */
  private pickRandom (k: number, eligible: (m: MemberState) => boolean): PeerId[] {
    if (k <= 0) return []
    const pool: PeerId[] = []
    for (const m of this.membership.values()) if (eligible(m)) pool.push(m.peerId)
    return sample(this.random, pool, k)
  }

  private send (to: PeerId, message: GossipMessage): void {
    if (this.outbox.length >= OUTBOX_MAX) {
      this.dropped++
      return
    }
    this.outbox.push({ to, message })
  }

  /** The core's clock never runs backwards, even if the machine's does (an NTP step). */
  private advance (nowMs: number): void {
    if (nowMs > this.nowMs) this.nowMs = nowMs
  }
}
