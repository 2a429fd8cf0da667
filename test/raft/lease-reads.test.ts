import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DriverCluster, installDriverClock } from './sim-driver.js'

/**
 * Lease reads (raft.readMode 'lease') through the driver, RaftNode.readBarrier, on the
 * deterministic simulated network: three voters, 100 ms ticks, a 1 s election timeout and a
 * 100 ms drift bound (a lease of 10 - 2 ticks after the heartbeat a majority acknowledged).
 */
describe('lease reads through the raft driver', () => {
  let uninstall: () => void
  let cluster: DriverCluster | undefined

  beforeAll(() => { uninstall = installDriverClock() })
  afterAll(() => { uninstall() })
  afterEach(async () => { await cluster?.stop(); cluster = undefined })

  async function started (options: ConstructorParameters<typeof DriverCluster>[0] = {}): Promise<{ c: DriverCluster, leader: string, followers: string[] }> {
    const c = new DriverCluster(options)
    cluster = c
    await c.start()
    const leader = await c.settleLeader()
    await c.put(leader, 'x', 'v1')
    // A few heartbeat rounds: the followers' acknowledgements start the lease.
    await c.clock.runFor(300)
    return { c, leader, followers: c.ids.filter(id => id !== leader) }
  }

  it('serves a strong read on the leader without a round of messages while the lease holds', async () => {
    const { c, leader } = await started()
    const sentBefore = c.sentBy(leader)
    const atMs = c.clock.now()
    expect(await c.strongRead(leader, 'x')).toBe('v1')
    expect(c.clock.now()).toBe(atMs) // answered without waiting for any event: no message, no tick
    expect(c.sentBy(leader)).toBe(sentBefore)
  })

  it('in read-index mode the same read costs a heartbeat round (the counter above is sensitive)', async () => {
    const { c, leader } = await started({ raft: { readMode: 'read-index' } })
    const sentBefore = c.sentBy(leader)
    expect(await c.strongRead(leader, 'x')).toBe('v1')
    expect(c.sentBy(leader) - sentBefore).toBeGreaterThanOrEqual(2)
  })

  it('answers a follower\'s forwarded read from the lease: one answer, no heartbeats to the other follower', async () => {
    const { c, leader, followers } = await started()
    const [asker, other] = followers as [string, string]
    const toAsker = c.net.stats(leader, asker).sent
    const toOther = c.net.stats(leader, other).sent
    const atMs = c.clock.now()
    expect(await c.strongRead(asker, 'x')).toBe('v1')
    // Done within one network round trip (1 ms links), before any heartbeat tick.
    expect(c.clock.now() - atMs).toBeLessThan(c.settings.heartbeatIntervalMs)
    expect(c.net.stats(leader, asker).sent - toAsker).toBe(1)
    expect(c.net.stats(leader, other).sent - toOther).toBe(0)
  })

  it('a leader cut off from both followers serves no read once its lease expired, while the new leader serves the new value', async () => {
    const { c, leader: old, followers } = await started()
    c.net.partition([old], followers)
    // Past the election timeout: the old lease has expired, the majority elects a new leader.
    const elected = await c.clock.runUntilCondition(() => c.leaders().some(id => id !== old), { maxTimeMs: 10_000 })
    expect(elected).toBe(true)
    const fresh = c.leaders().find(id => id !== old) as string
    await c.put(fresh, 'x', 'v2')
    expect(await c.strongRead(fresh, 'x')).toBe('v2')
    const other = followers.find(id => id !== fresh) as string
    expect(await c.strongRead(other, 'x')).toBe('v2')

    // The old leader's state machine still holds v1: a read served from it would be stale.
    expect(await c.machines.get(old)?.read('x')).toBeDefined()
    await expect(c.strongRead(old, 'x', 2_000)).rejects.toMatchObject({ code: 'TIMEOUT' })

    // Once the partition heals it catches up and reads the new value.
    c.net.heal()
    expect(await c.strongRead(old, 'x')).toBe('v2')
  })

  it('a leader whose process stalled past its lease judges a read on the time that passed, not on the ticks it counted', async () => {
    const { c, leader: old, followers } = await started()
    c.net.partition([old], followers)
    // The old leader's process stalls (its timer does not fire) while the majority elects a new
    // leader and writes v2; a read then reaches the old leader before its timer catches up.
    c.net.pause(old, 5_000)
    const elected = await c.clock.runUntilCondition(() => followers.some(id => c.nodes.get(id)?.isLeader === true), { maxTimeMs: 4_000 })
    expect(elected).toBe(true)
    const fresh = followers.find(id => c.nodes.get(id)?.isLeader === true) as string
    await c.put(fresh, 'x', 'v2')
    // Its timers wait for the pause to end, so the read's deadline falls after it.
    await expect(c.strongRead(old, 'x', 4_000)).rejects.toMatchObject({ code: 'TIMEOUT' })
  })

  it('during the lease, a leader cut off from its followers still serves reads, and no other leader exists meanwhile', async () => {
    const { c, leader: old, followers } = await started()
    c.net.partition([old], followers)
    const servedAt: number[] = []
    for (let i = 0; i < 30; i++) {
      const leaders = c.leaders()
      try {
        expect(await c.strongRead(old, 'x', 50)).toBe('v1')
        servedAt.push(c.clock.now())
        // The lease promises exactly this: whoever else leads cannot have been elected yet.
        expect(leaders).toEqual([old])
      } catch (err) {
        expect(err).toMatchObject({ code: 'TIMEOUT' })
      }
      await c.clock.runFor(50)
    }
    // Served at first, refused well before a follower could have been elected.
    expect(servedAt.length).toBeGreaterThan(0)
    expect(Math.max(...servedAt) - (servedAt[0] as number)).toBeLessThan(c.settings.electionTimeoutMs)
  })

  it('a leader whose clock runs far slower than the bound allows does serve a stale read (what the drift bound is for)', async () => {
    const { c, leader: old, followers } = await started()
    // 0.4 against 1.5: the old leader's 800 ms lease lasts 2 s of true time, the followers'
    // 1 s election timeout less than 0.7 s. Far outside clockDriftBoundMs = 100.
    c.net.setClockSkew(old, { offsetMs: (c.net.transport(old)?.time.now() ?? 0) - c.clock.now(), rate: 0.4 })
    for (const f of followers) c.net.setClockSkew(f, { offsetMs: (c.net.transport(f)?.time.now() ?? 0) - c.clock.now(), rate: 1.5 })
    await c.clock.runFor(300)
    c.net.partition([old], followers)
    expect(await c.clock.runUntilCondition(() => c.leaders().some(id => id !== old), { maxTimeMs: 10_000 })).toBe(true)
    await c.put(c.leaders().find(id => id !== old) as string, 'x', 'v2')
    expect(c.leaders()).toContain(old)
    expect(await c.strongRead(old, 'x', 100)).toBe('v1')
  })
})
