/**
 * Prints how many simulated messages per second of wall time the simulator moves on this machine.
 * Not a test (no pass/fail on timing): run it with
 *   node --import ./src/runtime/register.js test/transport/sim/measure-throughput.ts
 *
 * Workload: 5 nodes, a Raft-shaped pattern (a leader streams append messages of ~100 bytes to 4
 * followers, each answers with a one-way ack), lossy links with long-tail delays; then the same
 * volume as request/reply pairs.
 */
import { seededRandom } from '../../../src/runtime/random.js'
import { SimClock } from '../../../src/transport/sim/clock.js'
import { SimNetwork } from '../../../src/transport/sim/network.js'

const protocol = '/quorumkv/bench/1.0.0'
const followers = ['n2', 'n3', 'n4', 'n5']

interface Append { term: number, index: number, entries: Array<{ key: string, value: string }> }

function parseAppend (raw: unknown): Append {
  const m = raw as Append
  if (typeof m !== 'object' || m === null || typeof m.term !== 'number' || typeof m.index !== 'number' || !Array.isArray(m.entries)) throw new TypeError('not an append')
  return m
}

async function oneWay (seed: number, rounds: number): Promise<{ messages: number, ms: number }> {
  const clock = new SimClock()
  const net = new SimNetwork({
    clock,
    random: seededRandom(seed),
    defaults: { dropProbability: 0.02, duplicateProbability: 0.01, delay: { kind: 'long-tail', minMs: 0.2, medianMs: 1, maxMs: 50 } }
  })
  const leader = net.addNode('n1')
  leader.handle(protocol, { parse: parseAppend, onMessage: () => {} })
  for (const id of followers) {
    const t = net.addNode(id)
    t.handle(protocol, { parse: parseAppend, onMessage: (from, m) => { t.send(from, protocol, { term: m.term, index: m.index, entries: [] }) } })
  }
  const entries = [{ key: 'agents/123', value: 'x'.repeat(64) }]
  const started = performance.now()
  for (let index = 0; index < rounds; index++) {
    for (const id of followers) leader.send(id, protocol, { term: 1, index, entries })
    await clock.runFor(1)
  }
  await clock.runUntilIdle()
  const totals = net.totals()
  return { messages: totals.sent, ms: performance.now() - started }
}

async function requestReply (seed: number, rounds: number): Promise<{ messages: number, ms: number }> {
  const clock = new SimClock()
  const net = new SimNetwork({ clock, random: seededRandom(seed), defaults: { delay: { kind: 'uniform', minMs: 0.2, maxMs: 2 } } })
  const leader = net.addNode('n1')
  for (const id of followers) net.addNode(id).handle(protocol, { parse: parseAppend, onRequest: async (_from, m) => ({ index: m.index, ok: true }) })
  const entries = [{ key: 'agents/123', value: 'x'.repeat(64) }]
  const started = performance.now()
  for (let index = 0; index < rounds; index++) {
    for (const id of followers) void leader.request(id, protocol, { term: 1, index, entries }, { timeoutMs: 100 }).catch(() => {})
    await clock.runFor(1)
  }
  await clock.runUntilIdle()
  return { messages: net.totals().sent, ms: performance.now() - started }
}

for (const [name, run] of [['one-way', oneWay], ['request/reply', requestReply]] as const) {
  await run(1, 2_000) // warm-up
  const results: number[] = []
  for (let seed = 1; seed <= 5; seed++) {
    const { messages, ms } = await run(seed, 25_000)
    results.push(messages / ms * 1000)
  }
  results.sort((a, b) => a - b)
  process.stdout.write(`${name}: median ${Math.round(results[2] as number)} simulated messages/s (min ${Math.round(results[0] as number)}, max ${Math.round(results[4] as number)}) over 5 seeds of 25,000 rounds\n`)
}
