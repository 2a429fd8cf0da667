import { describe, expect, it } from 'vitest'
import { suspicionTimeoutMs } from '../../../src/gossip/timing.js'
import { GossipCluster, defaultGossip, summarize } from './harness.js'

/**
 * Failure detection over the simulated network, default parameters, virtual time. Timings are
 * printed for docs/gossip.md, never asserted: the assertions are about behaviour.
 */
async function detectCrash (seed: number, size: number): Promise<{ suspectMs: number, firstDeadMs: number, allDeadMs: number, falseDead: number }> {
  const c = new GossipCluster({ seed, size })
  // Crash at a different phase of the probe cycle on every seed.
  await c.runFor(10_000 + (seed * 389) % defaultGossip.probeIntervalMs)
  const victim = c.ids[seed % size] as string
  const crashedAtMs = c.clock.now()
  c.crash(victim)
  const detected = await c.runUntil(() => c.allSee(victim, 'dead'), 120_000)
  if (!detected) throw new Error(`seed ${seed}: ${victim} not declared dead by everyone within 120 s`)
  const firstSuspect = c.changes(victim, 'suspect', crashedAtMs)[0]
  const firstDead = c.changes(victim, 'dead', crashedAtMs)[0]
  return {
    suspectMs: (firstSuspect?.atMs ?? NaN) - crashedAtMs,
    firstDeadMs: (firstDead?.atMs ?? NaN) - crashedAtMs,
    allDeadMs: c.clock.now() - crashedAtMs,
    falseDead: c.trace.filter((e) => e.liveness === 'dead' && e.peer !== victim).length
  }
}

describe('failure detection in simulation', () => {
  it('a crashed node is declared dead by every other node, and no live node is, on every seed', async () => {
    for (const [size, seeds] of [[8, 40], [32, 10]] as const) {
      const runs = []
      for (let seed = 1; seed <= seeds; seed++) runs.push(await detectCrash(seed, size))
      for (const r of runs) expect(r.falseDead).toBe(0)
      const row = (name: string, values: number[]): string => {
        const s = summarize(values.map(Math.round))
        return `${name.padEnd(22)} min ${s.min}  p50 ${s.p50}  p90 ${s.p90}  max ${s.max}  mean ${s.mean}`
      }
      console.log([
        `crash detection, N=${size}, ${seeds} seeds, default gossip config (suspicion ${suspicionTimeoutMs(defaultGossip.suspicionMultiplier, size, defaultGossip.probeIntervalMs)} ms), virtual ms after the crash:`,
        row('first suspicion', runs.map((r) => r.suspectMs)),
        row('first declared dead', runs.map((r) => r.firstDeadMs)),
        row('dead at every node', runs.map((r) => r.allDeadMs))
      ].join('\n  '))
    }
  })

  it('a node that crashed and restarts (incarnation 0 again) rejoins as alive everywhere, with its new addresses', async () => {
    const c = new GossipCluster({ seed: 5, size: 6 })
    await c.runFor(5_000)
    c.crash('n2')
    expect(await c.runUntil(() => c.allSee('n2', 'dead'), 60_000)).toBe(true)
    const deadIncarnation = c.service('n1').members().find((m) => m.peerId === 'n2')?.incarnation ?? -1
    const restarted = c.restart('n2')
    expect(restarted.incarnation).toBe(0)
    const back = await c.runUntil(() => c.allSee('n2', 'alive') && c.ids.every((id) => restarted.isAlive(id)), 30_000)
    expect(back).toBe(true)
    expect(restarted.incarnation).toBeGreaterThan(deadIncarnation)
    for (const id of c.ids.filter((i) => i !== 'n2')) {
      const view = c.service(id).members().find((m) => m.peerId === 'n2')
      expect(view?.incarnation).toBe(restarted.incarnation)
      expect(view?.addresses).toEqual(restarted.members()[0]?.addresses)
    }
  })

  it('a node restarted before anyone noticed stays alive, and its new addresses replace the old ones everywhere', async () => {
    const c = new GossipCluster({ seed: 6, size: 6 })
    await c.runFor(5_000)
    const oldAddresses = c.service('n1').members().find((m) => m.peerId === 'n4')?.addresses
    const restarted = c.restart('n4')
    const newAddresses = restarted.members()[0]?.addresses
    expect(newAddresses).not.toEqual(oldAddresses)
    const converged = await c.runUntil(() => c.ids.every((id) =>
      id === 'n4' || c.service(id).members().find((m) => m.peerId === 'n4')?.addresses.join() === newAddresses?.join()), 30_000)
    expect(converged).toBe(true)
    expect(c.changes('n4', 'dead')).toHaveLength(0)
  })

  it('a one-way link between two nodes makes neither dead: indirect probes route around it', async () => {
    const c = new GossipCluster({ seed: 7, size: 6 })
    c.net.partition(['n1'], ['n2'], { oneWay: true })
    await c.runFor(300_000)
    expect(c.trace.filter((e) => e.liveness === 'dead')).toEqual([])
    expect(c.allSee('n1', 'alive') && c.allSee('n2', 'alive')).toBe(true)
    expect((await c.probeResults()).indirect).toBeGreaterThan(0)
  })

  it('a node that can receive but not send is declared dead by the others, and alive again once the link heals', async () => {
    const c = new GossipCluster({ seed: 8, size: 6 })
    await c.runFor(3_000)
    const others = c.ids.filter((id) => id !== 'n3')
    c.net.partition(['n3'], others, { oneWay: true })
    expect(await c.runUntil(() => c.allSee('n3', 'dead'), 60_000)).toBe(true)
    c.net.heal()
    const healed = await c.runUntil(() => c.ids.every((peer) => c.allSee(peer, 'alive')), 60_000)
    expect(healed).toBe(true)
  })

  it('skewed clocks (offsets, rates 2% off, a 10 s backwards step) cause no false suspicion and do not stall probing', async () => {
    const c = new GossipCluster({ seed: 9, size: 6 })
    c.net.setClockSkew('n1', { offsetMs: 3_600_000, rate: 1.02 })
    c.net.setClockSkew('n2', { offsetMs: -50_000, rate: 0.98 })
    await c.runFor(60_000)
    const before = await c.probeCountOf('n3')
    // An NTP step backwards on n3: its wall clock repeats the last 10 s.
    c.net.setClockSkew('n3', { offsetMs: -10_000, rate: 1 })
    await c.runFor(10_000)
    expect(await c.probeCountOf('n3') - before).toBeGreaterThanOrEqual(8)
    await c.runFor(60_000)
    expect(c.trace.filter((e) => e.liveness !== 'alive')).toEqual([])
  })

  it('the same seed gives the same trace of liveness changes and network events; another seed does not', async () => {
    async function scenario (seed: number): Promise<{ trace: string, digest: number }> {
      const c = new GossipCluster({ seed, size: 6, link: { dropProbability: 0.1 } })
      await c.runFor(20_000)
      c.crash('n5')
      await c.runFor(20_000)
      c.restart('n5')
      await c.runFor(20_000)
      return { trace: JSON.stringify(c.trace), digest: c.net.digest }
    }
    const a = await scenario(11)
    const b = await scenario(11)
    const other = await scenario(12)
    expect(a.trace.length).toBeGreaterThan(100)
    expect(b).toEqual(a)
    expect(other.trace).not.toBe(a.trace)
  })
})
