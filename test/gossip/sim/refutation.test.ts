import { describe, expect, it } from 'vitest'
import { GossipCluster } from './harness.js'

/** Every other running node sees `peer` alive at the incarnation `peer` itself holds now. */
function caughtUp (c: GossipCluster, peer: string): boolean {
  const inc = c.service(peer).incarnation
  return c.ids.every((id) => id === peer || c.service(id).members().some((m) => m.peerId === peer && m.liveness === 'alive' && m.incarnation === inc))
}

describe('refutation of a wrong suspicion', () => {
  it('a node paused past the probe timeout is suspected, refutes with a higher incarnation when it resumes, and is alive everywhere', async () => {
    const seeds = 10
    let suspected = 0
    for (let seed = 1; seed <= seeds; seed++) {
      const c = new GossipCluster({ seed, size: 8 })
      await c.runFor(5_000)
      const pausedAtMs = c.clock.now()
      c.net.pause('n3', 3_000)
      await c.runFor(3_000)
      expect(await c.runUntil(() => caughtUp(c, 'n3'), 30_000)).toBe(true)
      if (c.changes('n3', 'suspect', pausedAtMs).length > 0) {
        suspected++
        expect(c.service('n3').incarnation).toBeGreaterThan(0)
      }
      expect(c.trace.filter((e) => e.liveness === 'dead')).toEqual([])
    }
    console.log(`pause of 3 s, N=8: suspected on ${suspected}/${seeds} seeds, declared dead on none`)
    expect(suspected).toBeGreaterThanOrEqual(seeds - 2)
  })

  it('a node cut off briefly by a partition is suspected, then refutes after the heal without ever being declared dead', async () => {
    const c = new GossipCluster({ seed: 21, size: 8 })
    await c.runFor(5_000)
    const cutAtMs = c.clock.now()
    c.net.isolate('n5')
    await c.runFor(3_000)
    c.net.heal()
    expect(await c.runUntil(() => c.ids.every((id) => caughtUp(c, id)), 30_000)).toBe(true)
    expect(c.changes('n5', 'suspect', cutAtMs).length).toBeGreaterThan(0)
    expect(c.service('n5').incarnation).toBeGreaterThan(0)
    expect(c.trace.filter((e) => e.liveness === 'dead')).toEqual([])
  })

  it('a node paused longer than the suspicion timeout is declared dead, then refutes on resuming and is alive everywhere again', async () => {
    const c = new GossipCluster({ seed: 22, size: 8 })
    await c.runFor(5_000)
    c.net.pause('n2', 15_000)
    expect(await c.runUntil(() => c.allSee('n2', 'dead', ['n2']), 15_000)).toBe(true)
    await c.runFor(15_000)
    expect(await c.runUntil(() => c.ids.every((id) => caughtUp(c, id)), 60_000)).toBe(true)
  })
})
