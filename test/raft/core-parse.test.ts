import { describe, expect, it } from 'vitest'
import { InternalError, ProtocolError } from '../../src/api/errors.js'
import { decodeUntrusted, encode } from '../../src/codec/msgpack.js'
import { parseRaftMessage, raftMessageTypes } from '../../src/raft/core/index.js'
import type { RaftMessage } from '../../src/raft/core/index.js'
import { Cluster, conf } from './harness.js'

/** Runs a scenario that makes every kind of message, and returns them as sent. */
function everyKindOfMessage (): RaftMessage[] {
  const c = new Cluster(conf(['a', 'b', 'c']))
  c.campaign('a')
  c.propose('a', 'x')
  c.core('b').readIndex('r1')
  c.stabilize()
  c.core('a').transferLeadership('b')
  c.stabilize()
  c.filter = (m) => m.to !== 'c'
  c.propose('b', 'y')
  c.snapshot('b')
  c.heal()
  c.tick('b', 2)
  c.stabilize()
  c.core('a').step({ type: 'read', from: 'c', to: 'a', term: c.core('a').status().term, requestId: 'to-follower' })
  c.stabilize()
  return c.sent
}

describe('parseRaftMessage', () => {
  const sent = everyKindOfMessage()

  it('the scenario covers every message type', () => {
    expect(new Set(sent.map((m) => m.type))).toEqual(new Set(raftMessageTypes))
  })

  it('accepts every message the core sends, after a msgpack round trip, unchanged', () => {
    for (const m of sent) {
      const parsed = parseRaftMessage(decodeUntrusted(encode(m)))
      expect(plain(parsed)).toEqual(plain(m))
    }
  })

  const hb = { type: 'hb', from: 'a', to: 'b', term: 1, commit: 0, round: 1 }
  const app = { type: 'app', from: 'a', to: 'b', term: 2, index: 1, logTerm: 1, commit: 1, entries: [{ term: 2, index: 2, type: 'normal', data: new Uint8Array(1) }] }

  const bad: Array<[string, unknown]> = [
    ['a non-object', 'hello'],
    ['an array', [1, 2]],
    ['an unknown type', { ...hb, type: 'gossip' }],
    ['an unknown field', { ...hb, extra: 1 }],
    ['a missing field', { type: 'hb', from: 'a', to: 'b', term: 1, commit: 0 }],
    ['a negative term', { ...hb, term: -1 }],
    ['a fractional index', { ...hb, commit: 1.5 }],
    ['a term as a string', { ...hb, term: '1' }],
    ['an empty sender', { ...hb, from: '' }],
    ['an oversized id', { ...hb, to: 'x'.repeat(200) }],
    ['entries with a gap', { ...app, entries: [{ term: 2, index: 3, type: 'normal', data: new Uint8Array(0) }] }],
    ['an entry from a future term', { ...app, entries: [{ term: 3, index: 2, type: 'normal', data: new Uint8Array(0) }] }],
    ['an entry of an unknown type', { ...app, entries: [{ term: 2, index: 2, type: 'weird', data: new Uint8Array(0) }] }],
    ['entry data that is not bytes', { ...app, entries: [{ term: 2, index: 2, type: 'normal', data: 'abc' }] }],
    ['a malformed conf entry', { ...app, entries: [{ term: 2, index: 2, type: 'conf', data: encode({ conf: { voters: 'a' } }) }] }],
    ['a conf with a duplicate member', { ...app, entries: [{ term: 2, index: 2, type: 'conf', data: encode({ conf: { voters: ['a', 'a'], learners: [] }, change: { type: 'remove', node: 'b' }, context: null }) }] }],
    ['a snapshot without a configuration', { type: 'snap', from: 'a', to: 'b', term: 1, snapshot: { index: 1, term: 1 }, offset: 0, data: new Uint8Array(0), done: true }],
    ['a read without a request id', { type: 'read', from: 'a', to: 'b', term: 1, requestId: '' }]
  ]
  for (const [what, raw] of bad) {
    it(`rejects ${what} with ProtocolError`, () => {
      expect(() => parseRaftMessage(raw)).toThrow(ProtocolError)
    })
  }

  it('never throws anything but ProtocolError on random garbage', () => {
    const samples: unknown[] = [null, undefined, 0, true, {}, { type: 'app' }, { ...app, entries: null }, { ...app, entries: [null] }, new Uint8Array(3)]
    for (const raw of samples) {
      try {
        parseRaftMessage(raw)
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError)
        expect(err).not.toBeInstanceOf(InternalError)
      }
    }
  })
})

/** Bytes as plain arrays (msgpack gives Buffers back), so values compare structurally. */
function plain (value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value)
  if (Array.isArray(value)) return value.map(plain)
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
  return value
}
