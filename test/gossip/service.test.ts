import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { ClosedError, InvalidArgumentError } from '../../src/api/errors.js'
import { GOSSIP_PROTOCOL } from '../../src/gossip/constants.js'
import { GossipService, type LivenessChange } from '../../src/gossip/service.js'
import { seededRandom } from '../../src/runtime/random.js'
import { silentLogger } from '../support/silent-logger.js'
import { GossipCluster, defaultGossip } from './sim/harness.js'

describe('GossipService', () => {
  it('members() lists this node first, then every member with liveness, incarnation, last-seen age and addresses', async () => {
    const c = new GossipCluster({ seed: 1, size: 3 })
    await c.runFor(5_000)
    const members = c.service('n1').members()
    expect(members.map((m) => m.peerId)).toEqual(['n1', 'n2', 'n3'])
    expect(members[0]).toEqual({ peerId: 'n1', liveness: 'alive', incarnation: 0, lastSeenAgeMs: 0, addresses: ['/ip4/127.0.0.1/tcp/4000/i1'] })
    for (const m of members.slice(1)) {
      expect(m).toMatchObject({ liveness: 'alive', incarnation: 0, addresses: [`/ip4/127.0.0.1/tcp/${4000 + c.ids.indexOf(m.peerId)}/i1`] })
      expect(m.lastSeenAgeMs).toBeGreaterThanOrEqual(0)
      expect(m.lastSeenAgeMs).toBeLessThan(5_000)
    }
  })

  it('isAlive is true for alive members and itself, false for suspect, dead and unknown peers', async () => {
    const c = new GossipCluster({ seed: 2, size: 4 })
    await c.runFor(3_000)
    const s = c.service('n1')
    expect(s.isAlive('n1')).toBe(true)
    expect(s.isAlive('n2')).toBe(true)
    expect(s.isAlive('nobody')).toBe(false)
    expect(s.liveness('nobody')).toBeUndefined()
    c.crash('n2')
    expect(await c.runUntil(() => s.liveness('n2') === 'suspect', 30_000)).toBe(true)
    expect(s.isAlive('n2')).toBe(false)
    expect(await c.runUntil(() => s.liveness('n2') === 'dead', 30_000)).toBe(true)
    expect(s.isAlive('n2')).toBe(false)
  })

  it('onChange reports each liveness change in order; a throwing listener does not stop the others; unsubscribe works', async () => {
    const c = new GossipCluster({ seed: 3, size: 4 })
    await c.runFor(3_000)
    const s = c.service('n1')
    const seen: LivenessChange[] = []
    s.onChange(() => { throw new Error('listener bug') })
    const off = s.onChange((change) => { seen.push(change) })
    c.crash('n4')
    expect(await c.runUntil(() => s.liveness('n4') === 'dead', 30_000)).toBe(true)
    const aboutN4 = seen.filter((e) => e.peerId === 'n4').map((e) => `${e.previous}->${e.liveness}`)
    expect(aboutN4.at(-1)).toMatch(/->dead$/)
    off()
    const count = seen.length
    c.restart('n4')
    expect(await c.runUntil(() => s.isAlive('n4'), 30_000)).toBe(true)
    expect(seen).toHaveLength(count)
  })

  it('exports members by state and probes by result in the registry', async () => {
    const c = new GossipCluster({ seed: 4, size: 3 })
    await c.runFor(10_000)
    c.crash('n3')
    await c.runUntil(() => c.service('n1').liveness('n3') === 'dead', 30_000)
    const text = await c.metricsOf('n1')
    expect(text).toContain('quorumkv_gossip_members{state="alive"} 2')
    expect(text).toContain('quorumkv_gossip_members{state="dead"} 1')
    expect(text).toMatch(/quorumkv_gossip_probes_total\{result="ok"\} [1-9]/)
    expect(text).toMatch(/quorumkv_gossip_probes_total\{result="failed"\} [1-9]/)
    expect(text).toContain('quorumkv_gossip_local_health')
    expect(text).toContain('quorumkv_gossip_refutations_total')
  })

  it('refuses a self that is not the transport\'s peer id, a second start, and changes after stop', async () => {
    const c = new GossipCluster({ seed: 5, size: 2 })
    const transport = c.net.transport('n1')
    if (transport === undefined) throw new Error('n1 is down')
    const components = { transport, time: transport.time, random: seededRandom(1), logger: silentLogger, registry: new Registry() }
    expect(() => new GossipService(components, { self: 'n2', members: c.ids, gossip: defaultGossip })).toThrow(InvalidArgumentError)
    expect(() => new GossipService(components, { self: 'n1', members: c.ids, gossip: { ...defaultGossip, probeTimeoutMs: 1_000 } })).toThrow(InvalidArgumentError)
    // A second service on the same transport: the protocol already has its handler.
    const second = new GossipService(components, { self: 'n1', members: c.ids, gossip: defaultGossip })
    expect(() => { second.start() }).toThrow(InvalidArgumentError)
    expect(second.started).toBe(false)
    const s = c.service('n1')
    expect(() => { s.start() }).toThrow(InvalidArgumentError)
    s.stop()
    s.stop()
    expect(s.started).toBe(false)
    expect(() => { s.setMembers(['n1']) }).toThrow(ClosedError)
    expect(() => { s.setAddresses(['/x']) }).toThrow(ClosedError)
  })

  it('a stopped service stops answering, so the others declare its node dead', async () => {
    const c = new GossipCluster({ seed: 6, size: 4 })
    await c.runFor(3_000)
    c.service('n2').stop()
    expect(await c.runUntil(() => c.allSee('n2', 'dead', ['n2']), 30_000)).toBe(true)
    expect(c.net.transport('n2')?.alive).toBe(true)
  })

  it('setMembers adds a member that is then probed and learned about, and drops a removed one', async () => {
    const c = new GossipCluster({ seed: 7, size: 4 })
    for (const id of ['n1', 'n2', 'n3']) c.service(id).setMembers(['n1', 'n2', 'n3'])
    c.service('n4').setMembers(['n4'])
    await c.runFor(5_000)
    expect(c.service('n1').members().map((m) => m.peerId)).toEqual(['n1', 'n2', 'n3'])
    for (const id of c.ids) c.service(id).setMembers(c.ids)
    const learned = await c.runUntil(() => c.service('n1').members().find((m) => m.peerId === 'n4')?.addresses.length === 1, 30_000)
    expect(learned).toBe(true)
    expect(c.service('n1').isAlive('n4')).toBe(true)
  })

  it('setAddresses raises the incarnation and the new addresses reach every member', async () => {
    const c = new GossipCluster({ seed: 8, size: 5 })
    await c.runFor(2_000)
    c.service('n3').setAddresses(['/ip4/10.0.0.3/tcp/9000'])
    expect(c.service('n3').incarnation).toBe(1)
    const spread = await c.runUntil(() => c.ids.every((id) => c.service(id).members().find((m) => m.peerId === 'n3')?.addresses[0] === '/ip4/10.0.0.3/tcp/9000'), 30_000)
    expect(spread).toBe(true)
  })

  it('answers on /quorumkv/gossip/1.0.0 and rejects malformed messages there without harm', async () => {
    expect(GOSSIP_PROTOCOL).toBe('/quorumkv/gossip/1.0.0')
    const c = new GossipCluster({ seed: 9, size: 3 })
    await c.runFor(2_000)
    const n2 = c.net.transport('n2')
    n2?.send('n1', GOSSIP_PROTOCOL, { type: 'gossip', inc: 0, updates: [{ kind: 'dead', peer: 'n3', inc: -1, from: 'n2' }] })
    n2?.send('n1', GOSSIP_PROTOCOL, { type: 'bogus' })
    await c.runFor(1_000)
    expect(c.net.stats('n2', 'n1').rejected).toBe(2)
    expect(c.service('n1').isAlive('n3')).toBe(true)
  })
})
