import { describe, expect, it } from 'vitest'
import { resolveSwimConfig, type SwimTuning } from '../../src/gossip/config.js'
import type { GossipMessage, PingMessage, Update } from '../../src/gossip/messages.js'
import type { LivenessChange, Outbound, ProbeResult } from '../../src/gossip/outputs.js'
import { SwimCore } from '../../src/gossip/swim.js'
import { suspicionTimeoutMs } from '../../src/gossip/timing.js'
import { seededRandom } from '../../src/runtime/random.js'
import { defaultGossip } from './sim/harness.js'

/**
 * Transcript tests of the pure core: one node, driven by hand. `wakeUntil` plays its timers,
 * `step` delivers a message, and the test reads what it sent and what it reported.
 */
class Driver {
  readonly core: SwimCore
  readonly sent: Outbound[] = []
  readonly changes: LivenessChange[] = []
  readonly probes: ProbeResult[] = []
  refutations = 0
  nowMs = 0

  constructor (self = 'a', members = ['a', 'b', 'c', 'd', 'e'], tuning: Partial<SwimTuning> = {}, incarnation = 0) {
    this.core = new SwimCore({ self, addresses: [`/${self}`], incarnation, members, config: resolveSwimConfig(defaultGossip, tuning), random: seededRandom(42), nowMs: 0 })
  }

  /** Runs every timer due up to `atMs`. */
  wakeUntil (atMs: number): this {
    while (this.core.nextWakeAtMs() <= atMs) {
      this.nowMs = Math.max(this.nowMs, this.core.nextWakeAtMs())
      this.core.tick(this.nowMs)
      this.collect()
    }
    this.nowMs = Math.max(this.nowMs, atMs)
    return this
  }

  /** Runs timers until the core sends a message of `type`; returns the first one. */
  wakeUntilSent<T extends GossipMessage['type']> (type: T, to?: string): Outbound & { message: Extract<GossipMessage, { type: T }> } {
    const from = this.sent.length
    for (let i = 0; i < 1000; i++) {
      const found = this.sent.slice(from).find((o) => o.message.type === type && (to === undefined || o.to === to))
      if (found !== undefined) return found as Outbound & { message: Extract<GossipMessage, { type: T }> }
      this.nowMs = this.core.nextWakeAtMs()
      this.core.tick(this.nowMs)
      this.collect()
    }
    throw new Error(`no ${type} sent`)
  }

  step (from: string, message: GossipMessage, afterMs = 1): this {
    this.nowMs += afterMs
    this.core.step(from, message, this.nowMs)
    this.collect()
    return this
  }

  sentOf (type: GossipMessage['type'], since = 0): Outbound[] {
    return this.sent.slice(since).filter((o) => o.message.type === type)
  }

  liveness (peer: string): string | undefined {
    return this.core.member(peer)?.liveness
  }

  private collect (): void {
    const r = this.core.ready()
    this.sent.push(...r.messages)
    this.changes.push(...r.changes)
    this.probes.push(...r.probes)
    this.refutations += r.refutations
  }
}

function gossip (...updates: Update[]): GossipMessage {
  return { type: 'gossip', inc: 0, updates }
}

const fiveMembers = 5
const suspicionMs = suspicionTimeoutMs(defaultGossip.suspicionMultiplier, fiveMembers, defaultGossip.probeIntervalMs)

describe('SwimCore probing', () => {
  it('a ping answered by its target ends the probe as ok and leaves the target alive', () => {
    const d = new Driver()
    const ping = d.wakeUntilSent('ping')
    const pingAtMs = d.nowMs
    d.step(ping.to, { type: 'ack', seq: ping.message.seq, inc: 0, updates: [] }, 3)
    expect(d.probes).toEqual(['ok'])
    d.wakeUntil(pingAtMs + defaultGossip.probeIntervalMs - 1)
    expect(d.sentOf('ping-req')).toHaveLength(0)
    expect(d.liveness(ping.to)).toBe('alive')
  })

  it('an unanswered ping asks indirectProbes alive helpers after probeTimeoutMs; a forwarded ack ends it as indirect', () => {
    const d = new Driver()
    const ping = d.wakeUntilSent('ping')
    const pingAtMs = d.nowMs
    const req = d.wakeUntilSent('ping-req')
    expect(d.nowMs - pingAtMs).toBe(defaultGossip.probeTimeoutMs)
    const reqs = d.sentOf('ping-req')
    expect(reqs).toHaveLength(defaultGossip.indirectProbes)
    expect(new Set(reqs.map((r) => r.to)).size).toBe(defaultGossip.indirectProbes)
    expect(reqs.every((r) => r.to !== ping.to && r.to !== 'a' && (r.message as PingMessage).target === ping.to)).toBe(true)
    d.step(req.to, { type: 'ack', seq: ping.message.seq, inc: 0, updates: [] })
    expect(d.probes).toEqual(['indirect'])
    expect(d.liveness(ping.to)).toBe('alive')
  })

  it('a probe with no ack at all makes the target suspect, gossips the suspicion and tells the suspect', () => {
    const d = new Driver()
    const ping = d.wakeUntilSent('ping')
    const start = d.nowMs
    const before = d.sent.length
    d.wakeUntil(start + defaultGossip.probeIntervalMs)
    expect(d.probes).toEqual(['failed'])
    expect(d.liveness(ping.to)).toBe('suspect')
    expect(d.changes).toMatchObject([{ peerId: ping.to, liveness: 'suspect', previous: 'alive', incarnation: 0 }])
    const accusation = { kind: 'suspect', peer: ping.to, inc: 0, from: 'a' }
    d.wakeUntil(d.nowMs + defaultGossip.gossipIntervalMs)
    const carried = d.sent.slice(before).filter((o) => o.message.updates.some((u) => u.kind === 'suspect' && u.peer === ping.to))
    expect(carried.some((o) => o.to === ping.to)).toBe(true)
    expect(carried.some((o) => o.to !== ping.to)).toBe(true)
    expect(carried[0]?.message.updates).toContainEqual(accusation)
  })

  it('a suspicion nobody refutes becomes death after suspicionMultiplier * log10(N + 1) * probeIntervalMs', () => {
    const d = new Driver()
    d.step('b', gossip({ kind: 'suspect', peer: 'b', inc: 0, from: 'c' }))
    const suspectedAt = d.nowMs
    d.wakeUntil(suspectedAt + suspicionMs - 1)
    expect(d.liveness('b')).toBe('suspect')
    d.wakeUntil(suspectedAt + suspicionMs)
    expect(d.liveness('b')).toBe('dead')
    expect(d.changes.at(-1)).toMatchObject({ peerId: 'b', liveness: 'dead', previous: 'suspect', atMs: suspectedAt + suspicionMs })
  })

  it('dead members are not probed, but one of them is pinged every reconnectEveryProbes periods with the news', () => {
    const d = new Driver('a', ['a', 'b', 'c'], { reconnectEveryProbes: 3 })
    d.step('b', gossip({ kind: 'dead', peer: 'b', inc: 0, from: 'c' }))
    const since = d.sent.length
    d.wakeUntil(d.nowMs + 12 * defaultGossip.probeIntervalMs)
    const pingsToB = d.sentOf('ping', since).filter((o) => o.to === 'b')
    expect(pingsToB.length).toBeGreaterThanOrEqual(3)
    expect(pingsToB.length).toBeLessThanOrEqual(4)
    expect(pingsToB[0]?.message.updates[0]).toEqual({ kind: 'dead', peer: 'b', inc: 0, from: 'a' })
    expect(d.sentOf('ping-req', since).every((o) => (o.message as PingMessage).target !== 'b')).toBe(true)
  })
})

describe('SwimCore update precedence', () => {
  it('alive at a higher incarnation clears a suspicion; alive at the same incarnation does not', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'suspect', peer: 'b', inc: 2, from: 'c' }))
    d.step('c', gossip({ kind: 'alive', peer: 'b', inc: 2, addresses: ['/b'] }))
    expect(d.liveness('b')).toBe('suspect')
    d.step('c', gossip({ kind: 'alive', peer: 'b', inc: 3, addresses: ['/b'] }))
    expect(d.liveness('b')).toBe('alive')
    expect(d.core.member('b')?.incarnation).toBe(3)
  })

  it('a suspicion of an older incarnation is ignored', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'alive', peer: 'b', inc: 5, addresses: [] }))
    d.step('c', gossip({ kind: 'suspect', peer: 'b', inc: 4, from: 'c' }))
    expect(d.liveness('b')).toBe('alive')
  })

  it('dead beats alive and suspect at the same incarnation, and only a higher-incarnation alive revives', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'dead', peer: 'b', inc: 1, from: 'c' }))
    expect(d.liveness('b')).toBe('dead')
    d.step('c', gossip({ kind: 'suspect', peer: 'b', inc: 1, from: 'c' }, { kind: 'alive', peer: 'b', inc: 1, addresses: [] }))
    expect(d.liveness('b')).toBe('dead')
    d.step('c', gossip({ kind: 'alive', peer: 'b', inc: 2, addresses: ['/b2'] }))
    expect(d.core.member('b')).toMatchObject({ liveness: 'alive', incarnation: 2, addresses: ['/b2'] })
  })

  it('the first alive of a member fills in its addresses; a changed address needs a new incarnation', () => {
    const d = new Driver()
    d.step('b', gossip({ kind: 'alive', peer: 'b', inc: 0, addresses: ['/b'] }))
    expect(d.core.member('b')?.addresses).toEqual(['/b'])
    expect(d.changes).toMatchObject([{ peerId: 'b', liveness: 'alive', previous: 'alive', addresses: ['/b'] }])
    d.step('b', gossip({ kind: 'alive', peer: 'b', inc: 0, addresses: ['/other'] }))
    expect(d.core.member('b')?.addresses).toEqual(['/b'])
  })

  it('updates about peers outside the member set are ignored', () => {
    const d = new Driver()
    d.step('b', gossip({ kind: 'dead', peer: 'zz', inc: 0, from: 'b' }))
    expect(d.core.member('zz')).toBeUndefined()
    expect(d.changes).toHaveLength(0)
  })

  it('a message from a suspect at a higher incarnation clears the suspicion here, even if its alive update was lost', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'suspect', peer: 'b', inc: 0, from: 'c' }))
    d.step('b', { type: 'gossip', inc: 1, updates: [] })
    expect(d.core.member('b')).toMatchObject({ liveness: 'alive', incarnation: 1 })
    // Its own alive at that incarnation may still bring new addresses.
    d.step('b', gossip({ kind: 'alive', peer: 'b', inc: 1, addresses: ['/b-new'] }))
    expect(d.core.member('b')?.addresses).toEqual(['/b-new'])
  })
})

describe('SwimCore refutation', () => {
  it('a node that hears it is suspected raises its incarnation and spreads alive', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'suspect', peer: 'a', inc: 0, from: 'c' }))
    expect(d.core.incarnation).toBe(1)
    expect(d.refutations).toBe(1)
    const next = d.wakeUntilSent('gossip')
    expect(next.message.updates).toContainEqual({ kind: 'alive', peer: 'a', inc: 1, addresses: ['/a'] })
  })

  it('a node declared dead at a higher incarnation moves past it', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'dead', peer: 'a', inc: 7, from: 'c' }))
    expect(d.core.incarnation).toBe(8)
  })

  it('a stale accusation does not raise the incarnation but re-spreads the current one', () => {
    const d = new Driver('a', undefined, {}, 5)
    d.step('c', gossip({ kind: 'suspect', peer: 'a', inc: 3, from: 'c' }))
    expect(d.core.incarnation).toBe(5)
    expect(d.refutations).toBe(0)
    expect(d.wakeUntilSent('gossip').message.updates).toContainEqual({ kind: 'alive', peer: 'a', inc: 5, addresses: ['/a'] })
  })

  it('a ping that carries a suspicion of its target is answered with the refuted incarnation', () => {
    const d = new Driver()
    d.step('b', { type: 'ping', seq: 9, inc: 0, target: 'a', updates: [{ kind: 'suspect', peer: 'a', inc: 0, from: 'b' }] })
    const ack = d.sentOf('ack')[0]
    expect(ack).toMatchObject({ to: 'b', message: { seq: 9, inc: 1 } })
    expect(ack?.message.updates).toContainEqual({ kind: 'alive', peer: 'a', inc: 1, addresses: ['/a'] })
  })

  it('a ping from a sender this node believes dead is answered with the news, so a restarted sender refutes at once', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'dead', peer: 'b', inc: 4, from: 'c' }))
    d.step('b', { type: 'ping', seq: 1, inc: 0, target: 'a', updates: [] })
    expect(d.sentOf('ack')[0]?.message.updates).toContainEqual({ kind: 'dead', peer: 'b', inc: 4, from: 'a' })

    const restarted = new Driver('b')
    restarted.step('a', { type: 'ack', seq: 99, inc: 0, updates: [{ kind: 'dead', peer: 'b', inc: 4, from: 'a' }] })
    expect(restarted.core.incarnation).toBe(5)
  })

  it('a restarted node that others still see alive at a higher incarnation is told so and moves past it', () => {
    const d = new Driver()
    d.step('c', gossip({ kind: 'alive', peer: 'b', inc: 3, addresses: ['/b-old'] }))
    d.step('b', { type: 'ping', seq: 1, inc: 0, target: 'a', updates: [] })
    expect(d.sentOf('ack')[0]?.message.updates).toContainEqual({ kind: 'alive', peer: 'b', inc: 3, addresses: ['/b-old'] })
    const restarted = new Driver('b')
    restarted.step('a', { type: 'ack', seq: 1, inc: 0, updates: [{ kind: 'alive', peer: 'b', inc: 3, addresses: ['/b-old'] }] })
    expect(restarted.core.incarnation).toBe(4)
  })
})

describe('SwimCore helping others', () => {
  it('a ping-req makes this node ping the target and forward its ack under the asker\'s seq', () => {
    const d = new Driver()
    d.step('b', { type: 'ping-req', seq: 77, inc: 0, target: 'c', updates: [] })
    const ping = d.sentOf('ping').find((o) => o.to === 'c') as Outbound & { message: PingMessage }
    expect(ping.message.target).toBe('c')
    d.step('c', { type: 'ack', seq: ping.message.seq, inc: 0, updates: [] })
    expect(d.sentOf('ack').filter((o) => o.to === 'b').map((o) => o.message)).toMatchObject([{ type: 'ack', seq: 77 }])
    expect(d.sentOf('nack')).toHaveLength(0)
  })

  it('a ping-req whose target stays silent is answered with a nack after probeTimeoutMs', () => {
    const d = new Driver()
    d.step('b', { type: 'ping-req', seq: 77, inc: 0, target: 'c', updates: [] })
    const askedAt = d.nowMs
    const nack = d.wakeUntilSent('nack')
    expect(nack).toMatchObject({ to: 'b', message: { seq: 77 } })
    expect(d.nowMs - askedAt).toBe(defaultGossip.probeTimeoutMs)
  })

  it('at most relaysMax indirect probes run at once', () => {
    const d = new Driver('a', undefined, { relaysMax: 2 })
    for (let seq = 1; seq <= 5; seq++) d.step('b', { type: 'ping-req', seq, inc: 0, target: 'c', updates: [] }, 0)
    expect(d.sentOf('ping').filter((o) => o.to === 'c')).toHaveLength(2)
  })

  it('every ack carries the responder\'s own record, so a prober that missed an update catches up', () => {
    const d = new Driver('a', undefined, {}, 6)
    d.step('b', { type: 'ping', seq: 3, inc: 0, target: 'a', updates: [] })
    expect(d.sentOf('ack')[0]?.message.updates[0]).toEqual({ kind: 'alive', peer: 'a', inc: 6, addresses: ['/a'] })
  })

  it('a ping meant for another peer id is not answered', () => {
    const d = new Driver()
    d.step('b', { type: 'ping', seq: 1, inc: 0, target: 'someone-else', updates: [] })
    expect(d.sentOf('ack')).toHaveLength(0)
  })
})

describe('SwimCore members and local health', () => {
  it('new members start alive, removed members are forgotten and no longer probed', () => {
    const d = new Driver('a', ['a', 'b', 'c'])
    d.core.setMembers(['a', 'c', 'f'], 0)
    expect(d.core.members().map((m) => m.peerId)).toEqual(['a', 'c', 'f'])
    expect(d.core.member('f')).toMatchObject({ liveness: 'alive', incarnation: 0, lastSeenMs: undefined })
    d.wakeUntil(10_000)
    const targets = new Set(d.sentOf('ping').map((o) => o.to))
    expect(targets).toEqual(new Set(['c', 'f']))
  })

  it('failed probes without nacks raise local health and stretch the probe period; acks bring it back down', () => {
    const d = new Driver('a', ['a', 'b', 'c', 'd', 'e'], { reconnectEveryProbes: 1_000 })
    d.wakeUntil(6_000)
    expect(d.probes.length).toBeGreaterThan(0)
    expect(d.probes.every((p) => p === 'failed')).toBe(true)
    const first = d.wakeUntilSent('ping')
    const score = d.core.localHealth
    expect(score).toBeGreaterThan(0)
    const after = d.sent.length
    d.wakeUntil(d.nowMs + defaultGossip.probeIntervalMs * (score + 1) - 1)
    // The next probe waits for the stretched period, not for probeIntervalMs.
    expect(d.sentOf('ping', after)).toHaveLength(0)
    d.step(first.to, { type: 'ack', seq: first.message.seq, inc: 0, updates: [] }, 0)
    expect(d.probes.at(-1)).toBe('ok')
    expect(d.core.localHealth).toBe(score - 1)
  })

  it('never piggybacks more than updatesPerMessageMax updates', () => {
    const members = Array.from({ length: 40 }, (_, i) => `p${i}`)
    const d = new Driver('p0', members, { updatesPerMessageMax: 5 })
    for (let i = 1; i < 40; i++) d.step('p1', gossip({ kind: 'suspect', peer: `p${i}`, inc: 0, from: 'p1' }), 0)
    d.wakeUntil(5_000)
    expect(d.sent.length).toBeGreaterThan(0)
    expect(Math.max(...d.sent.map((o) => o.message.updates.length))).toBeLessThanOrEqual(5)
  })
})
