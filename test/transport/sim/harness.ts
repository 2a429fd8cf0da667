import { seededRandom } from '../../../src/runtime/random.js'
import { SimClock } from '../../../src/transport/sim/clock.js'
import { SimNetwork, type SimNetworkOptions } from '../../../src/transport/sim/network.js'
import type { SimTransport } from '../../../src/transport/sim/transport.js'
import type { PeerId } from '../../../src/transport/types.js'

export const testProtocol = '/quorumkv/simtest/1.0.0'

export interface Received<M> {
  from: PeerId
  message: M
  atMs: number
}

export function makeNetwork (seed: number, options: Partial<Omit<SimNetworkOptions, 'clock' | 'random'>> = {}): { clock: SimClock, net: SimNetwork } {
  const clock = new SimClock()
  const net = new SimNetwork({ clock, random: seededRandom(seed), ...options })
  return { clock, net }
}

/** A probe message: a sequence number and the virtual time it was sent. */
export interface Probe {
  n: number
  sentAtMs: number
}

export function parseProbe (raw: unknown): Probe {
  const p = raw as Partial<Probe> | null
  if (p === null || typeof p !== 'object' || typeof p.n !== 'number' || typeof p.sentAtMs !== 'number') {
    throw new TypeError('not a probe')
  }
  return { n: p.n, sentAtMs: p.sentAtMs }
}

/** Registers a one-way handler that records every probe delivered to `transport`. */
export function inbox (transport: SimTransport, protocol = testProtocol): Array<Received<Probe>> {
  const got: Array<Received<Probe>> = []
  transport.handle(protocol, {
    parse: parseProbe,
    onMessage: (from, message) => { got.push({ from, message, atMs: transport.time.now() }) }
  })
  return got
}

/** Sends `count` probes from `from` to `to`, one every `gapMs` of virtual time, then lets them land. */
export async function sendProbes (clock: SimClock, from: SimTransport, to: PeerId, count: number, gapMs: number, protocol = testProtocol): Promise<boolean[]> {
  const accepted: boolean[] = []
  for (let n = 0; n < count; n++) {
    accepted.push(from.send(to, protocol, { n, sentAtMs: clock.now() }))
    if (gapMs > 0) await clock.runFor(gapMs)
  }
  await clock.runUntilIdle()
  return accepted
}
