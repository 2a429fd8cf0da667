import { describe, expect, it } from 'vitest'
import { randomInt, seededRandom, type Random } from '../../../src/runtime/random.js'
import type { LinkStats } from '../../../src/transport/sim/link.js'
import type { SimTransport } from '../../../src/transport/sim/transport.js'
import { makeNetwork } from './harness.js'

const gossip = '/quorumkv/simgossip/1.0.0'
const rpc = '/quorumkv/simrpc/1.0.0'
const ids = ['n1', 'n2', 'n3', 'n4', 'n5']

interface Outcome {
  trace: string[]
  digest: number
  totals: LinkStats
  log: string[]
}

/**
 * A small cluster of async drivers: each node gossips on a timer, forwards some of what it hears,
 * and serves requests after a simulated disk write; a schedule of partitions, a crash and restart,
 * a pause and link changes runs underneath. Everything random comes from the seed.
 */
async function scenario (seed: number, traceEventsMax: number): Promise<Outcome> {
  const { clock, net } = makeNetwork(seed, {
    traceEventsMax,
    defaults: { dropProbability: 0.05, duplicateProbability: 0.05, delay: { kind: 'long-tail', minMs: 1, medianMs: 3, maxMs: 80 } }
  })
  const log: string[] = []
  const start = (t: SimTransport, random: Random): void => {
    const id = t.localId
    const diskWrite = (): Promise<void> => new Promise(resolve => { t.time.setTimeout(resolve, 1 + randomInt(random, 3)) })
    t.handle(gossip, {
      parse: (raw) => raw as { hops: number, origin: string },
      onMessage: (_from, m) => {
        if (m.hops < 3 && random.next() < 0.5) t.send(ids[randomInt(random, ids.length)] as string, gossip, { hops: m.hops + 1, origin: m.origin })
      }
    })
    t.handle(rpc, {
      parse: (raw) => raw as { n: number },
      onRequest: async (from, m) => {
        await diskWrite()
        await diskWrite()
        return { n: m.n, by: id, from }
      }
    })
    const tick = (): void => {
      t.send(ids[randomInt(random, ids.length)] as string, gossip, { hops: 0, origin: id })
      const n = randomInt(random, 1000)
      t.request(ids[randomInt(random, ids.length)] as string, rpc, { n }, { timeoutMs: 40 }).then(
        (reply) => { log.push(`${clock.now()} ${id} ok ${JSON.stringify(reply)}`) },
        (err: unknown) => { log.push(`${clock.now()} ${id} ${(err as Error).name}`) }
      )
      t.time.setTimeout(tick, 5 + randomInt(random, 10))
    }
    t.time.setTimeout(tick, randomInt(random, 10))
  }
  const seeds = seededRandom(seed ^ 0x5eed)
  for (const id of ids) start(net.addNode(id), seededRandom(randomInt(seeds, 2 ** 32)))
  clock.setTimeout(() => { net.partition(['n1', 'n2'], ['n3', 'n4', 'n5']) }, 100)
  clock.setTimeout(() => { net.crash('n3') }, 150)
  clock.setTimeout(() => { net.heal() }, 200)
  clock.setTimeout(() => { start(net.restart('n3'), seededRandom(seed + 3)) }, 250)
  clock.setTimeout(() => { net.pause('n4', 60) }, 300)
  clock.setTimeout(() => { net.setLink('n5', 'n1', { dropProbability: 0.5 }) }, 320)
  clock.setTimeout(() => { net.partition(['n2'], ['n1'], { oneWay: true }) }, 350)
  await clock.runUntil(500)
  return { trace: traceEventsMax > 0 ? net.trace() : [], digest: net.digest, totals: net.totals(), log }
}

describe('SimNetwork determinism', () => {
  it('the same seed gives the same trace, digest, counters and driver outcomes', async () => {
    const first = await scenario(7, 1_000_000)
    const second = await scenario(7, 1_000_000)
    expect(first.trace.length).toBeGreaterThan(1000)
    expect(second.trace).toEqual(first.trace)
    expect(second.digest).toBe(first.digest)
    expect(second.totals).toEqual(first.totals)
    expect(second.log).toEqual(first.log)
    // The scenario exercised every fault it was meant to.
    expect(first.totals.dropped).toBeGreaterThan(0)
    expect(first.totals.duplicated).toBeGreaterThan(0)
    expect(first.totals.held).toBeGreaterThan(0)
    expect(first.log.some(line => line.endsWith('TimeoutError'))).toBe(true)
    expect(first.log.some(line => line.includes(' ok '))).toBe(true)
  })

  it('different seeds give different schedules', async () => {
    const digests = new Set<number>()
    for (const seed of [1, 2, 3, 4]) digests.add((await scenario(seed, 0)).digest)
    expect(digests.size).toBe(4)
  })

  it('recording the trace does not change the schedule', async () => {
    const traced = await scenario(9, 100)
    const untraced = await scenario(9, 0)
    expect(untraced.digest).toBe(traced.digest)
    expect(untraced.log).toEqual(traced.log)
    expect(traced.trace.length).toBe(100)
  })
})
