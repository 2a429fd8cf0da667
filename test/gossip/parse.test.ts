import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { INCARNATION_MAX, UPDATES_PER_MESSAGE_PARSE_MAX } from '../../src/gossip/constants.js'
import type { GossipMessage } from '../../src/gossip/messages.js'
import { parseGossipMessage } from '../../src/gossip/parse.js'

const valid: GossipMessage[] = [
  { type: 'ping', seq: 1, inc: 0, target: 'b', updates: [] },
  { type: 'ping-req', seq: 7, inc: 3, target: 'c', updates: [{ kind: 'suspect', peer: 'c', inc: 2, from: 'a' }] },
  { type: 'ack', seq: 1, inc: 9, updates: [{ kind: 'alive', peer: 'a', inc: 9, addresses: ['/ip4/127.0.0.1/tcp/1'] }] },
  { type: 'nack', seq: 2, inc: 0, updates: [] },
  { type: 'gossip', inc: 1, updates: [{ kind: 'dead', peer: 'd', inc: 4, from: 'b' }] }
]

function rejects (raw: unknown): void {
  expect(() => parseGossipMessage(raw)).toThrow(ProtocolError)
}

describe('parseGossipMessage', () => {
  it('accepts every message type and returns an equal value after a msgpack round trip', () => {
    for (const m of valid) expect(parseGossipMessage(decode(encode(m)))).toEqual(m)
  })

  it('returns a fresh object that keeps nothing of the raw value', () => {
    const raw = { type: 'gossip', inc: 1, updates: [{ kind: 'alive', peer: 'a', inc: 1, addresses: ['/x'] }] }
    const parsed = parseGossipMessage(raw)
    expect(parsed).not.toBe(raw)
    expect(parsed.updates[0]).not.toBe(raw.updates[0])
  })

  it('refuses values that are not messages', () => {
    for (const raw of [null, undefined, 1, 'ping', [], new Uint8Array(2), { type: 'pong', inc: 0, updates: [] }]) rejects(raw)
  })

  it('refuses unknown and missing fields', () => {
    rejects({ type: 'ping', seq: 1, inc: 0, target: 'b', updates: [], extra: 1 })
    rejects({ type: 'ping', seq: 1, inc: 0, updates: [] })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'alive', peer: 'a', inc: 0 }] })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'dead', peer: 'a', inc: 0, from: 'b', addresses: [] }] })
  })

  it('refuses numbers that are negative, fractional, unsafe or past the incarnation bound', () => {
    for (const inc of [-1, 1.5, Number.NaN, Infinity, INCARNATION_MAX + 1, '1']) rejects({ type: 'gossip', inc, updates: [] })
    rejects({ type: 'ack', seq: 2 ** 53, inc: 0, updates: [] })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'suspect', peer: 'a', inc: INCARNATION_MAX + 1, from: 'b' }] })
  })

  it('refuses empty or oversized peer ids and addresses, and too many of them', () => {
    rejects({ type: 'ping', seq: 1, inc: 0, target: '', updates: [] })
    rejects({ type: 'ping', seq: 1, inc: 0, target: 'x'.repeat(129), updates: [] })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'alive', peer: 'a', inc: 0, addresses: ['x'.repeat(513)] }] })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'alive', peer: 'a', inc: 0, addresses: Array(17).fill('/a') }] })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'alive', peer: 'a', inc: 0, addresses: [1] }] })
  })

  it('refuses more updates than the parse bound and unknown update kinds', () => {
    const u = { kind: 'dead', peer: 'a', inc: 0, from: 'b' }
    expect(parseGossipMessage({ type: 'gossip', inc: 0, updates: Array(UPDATES_PER_MESSAGE_PARSE_MAX).fill(u) }).updates).toHaveLength(UPDATES_PER_MESSAGE_PARSE_MAX)
    rejects({ type: 'gossip', inc: 0, updates: Array(UPDATES_PER_MESSAGE_PARSE_MAX + 1).fill(u) })
    rejects({ type: 'gossip', inc: 0, updates: [{ kind: 'left', peer: 'a', inc: 0, from: 'b' }] })
    rejects({ type: 'gossip', inc: 0, updates: {} })
  })

  it('does not let a __proto__ key through', () => {
    rejects(JSON.parse('{"type":"gossip","inc":0,"updates":[],"__proto__":{"x":1}}'))
  })
})
