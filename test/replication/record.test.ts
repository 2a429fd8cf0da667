import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConfigError, ConflictError, InternalError, ProtocolError } from '../../src/api/errors.js'
import type { Hlc } from '../../src/clock/hlc.js'
import { emptyVersionVector } from '../../src/clock/version-vector.js'
import { encode } from '../../src/codec/msgpack.js'
import { emptyQuorumSession, observeKey } from '../../src/replication/session.js'
import {
  applyIncrement, applyOrsetAdd, applyOrsetRemove, applyRegisterWrite, decodeRecord, emptyState, encodeRecord, isDeletedState,
  mergeStates, readView, recordFromWire, recordToWire, stateContext, stateDescends, stateDigest, type ReplicaState
} from '../../src/replication/record.js'
import { encodeRaftRecord } from '../../src/storage/records.js'

const limits = { siblingsWarn: 3, siblingsMax: 4 }
const bytes = (s: string): Uint8Array => Buffer.from(s)
const text = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : Buffer.from(b).toString()
const hlc = (wallMs: number, node: string): Hlc => ({ wallMs, logical: 0, node })

function lwwPut (state: ReplicaState, node: string, seq: number, value: string | null, wallMs: number): ReplicaState {
  return applyRegisterWrite(state, { node, seq, context: emptyVersionVector, hlc: hlc(wallMs, node), value: value === null ? null : bytes(value) }, limits).state
}

describe('replica states', () => {
  it('lww keeps the greatest timestamp whatever order replicas merge in, and a later delete wins', () => {
    const a = lwwPut(emptyState('lww'), 'a', 1, 'x', 100)
    const b = lwwPut(emptyState('lww'), 'b', 1, 'y', 200)
    const ab = mergeStates(a, b)
    expect(mergeStates(b, a)).toEqual(ab)
    expect(text((readView(ab) as { value?: Uint8Array }).value)).toBe('y')
    expect(stateContext(ab)).toEqual({ a: 1, b: 1 })
    const deleted = lwwPut(ab, 'a', 2, null, 300)
    expect(isDeletedState(deleted)).toBe(true)
    expect(isDeletedState(mergeStates(b, deleted))).toBe(true)
  })

  it('lww replicas that exchange states in any order converge on the greatest timestamp', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), at: fc.nat(2), wallMs: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const nodes = ['a', 'b', 'c']
      const replicas: ReplicaState[] = nodes.map(() => emptyState('lww'))
      let seq = 1
      let best: Hlc | undefined
      for (const o of ops) {
        if (o.kind === 'write') {
          const node = nodes[o.at] as string
          const h = hlc(o.wallMs, node)
          if (best === undefined || h.wallMs > best.wallMs || (h.wallMs === best.wallMs && node > best.node)) best = h
          replicas[o.at] = lwwPut(replicas[o.at] as ReplicaState, node, seq++, `v${seq}`, o.wallMs)
        } else {
          replicas[o.to] = mergeStates(replicas[o.to] as ReplicaState, replicas[o.from] as ReplicaState)
        }
      }
      const all = replicas.reduce((x, y) => mergeStates(x, y))
      expect((readView(all) as { hlc?: Hlc }).hlc).toEqual(best)
      for (const r of replicas) expect(mergeStates(r, all)).toEqual(all)
    }))
  })

  it('mv keeps concurrent writes as siblings, a write with their context supersedes them, and refuses blind writes past the limit', () => {
    let s = emptyState('mv')
    for (let i = 1; i <= 4; i++) s = applyRegisterWrite(s, { node: 'a', seq: i, context: emptyVersionVector, value: bytes(`v${i}`) }, limits).state
    expect((readView(s) as { values: Uint8Array[] }).values.map(text)).toEqual(['v1', 'v2', 'v3', 'v4'])
    expect(() => applyRegisterWrite(s, { node: 'a', seq: 5, context: emptyVersionVector, value: bytes('v5') }, limits)).toThrow(ConflictError)
    const resolved = applyRegisterWrite(s, { node: 'b', seq: 9, context: stateContext(s), value: bytes('merged') }, limits)
    expect((readView(resolved.state) as { values: Uint8Array[] }).values.map(text)).toEqual(['merged'])
    expect(stateContext(resolved.state)).toEqual({ a: 4, b: 9 })
  })

  it('mv delete with the read context leaves a tombstone; a concurrent write survives it', () => {
    const written = applyRegisterWrite(emptyState('mv'), { node: 'a', seq: 1, context: emptyVersionVector, value: bytes('x') }, limits).state
    const deleted = applyRegisterWrite(written, { node: 'a', seq: 2, context: stateContext(written), value: null }, limits).state
    expect(isDeletedState(deleted)).toBe(true)
    const concurrent = applyRegisterWrite(written, { node: 'b', seq: 7, context: emptyVersionVector, value: bytes('y') }, limits).state
    const merged = mergeStates(deleted, concurrent)
    expect(isDeletedState(merged)).toBe(false)
    expect((readView(merged) as { values: Uint8Array[] }).values.map(text)).toEqual(['y'])
  })

  it('counters add every replica\'s increments exactly once and record each increment as a dot', () => {
    let a = applyIncrement(emptyState('counter'), 'a', 1, 5)
    let b = applyIncrement(emptyState('counter'), 'b', 1, -2)
    a = applyIncrement(a, 'a', 2, 1)
    b = mergeStates(b, a)
    a = mergeStates(a, b)
    expect(readView(a)).toEqual({ merge: 'counter', value: 4 })
    expect(stateContext(a)).toEqual({ a: 2, b: 1 })
    expect(stateDescends(a, b) && stateDescends(b, a)).toBe(true)
  })

  it('or-sets advance their context on removes too, so a replica that missed a remove is seen behind', () => {
    const added = applyOrsetAdd(emptyState('orset'), 'a', 10, 'x')
    const removed = applyOrsetRemove(added, 'a', 11, 'x')
    expect(readView(removed)).toEqual({ merge: 'orset', members: [] })
    expect(stateDescends(added, removed)).toBe(false)
    expect(readView(mergeStates(added, removed))).toEqual({ merge: 'orset', members: [] })
    const concurrentAdd = applyOrsetAdd(added, 'b', 3, 'x')
    expect(readView(mergeStates(removed, concurrentAdd))).toEqual({ merge: 'orset', members: ['x'] })
  })

  it('round-trips records with their dependencies through bytes', () => {
    const deps = observeKey(emptyQuorumSession(), 'c/other', { a: 3 })
    for (const state of [
      lwwPut(emptyState('lww'), 'a', 1, 'x', 5),
      applyRegisterWrite(emptyState('mv'), { node: 'a', seq: 1, context: emptyVersionVector, value: bytes('x') }, limits).state,
      applyIncrement(emptyState('counter'), 'a', 1, 3),
      applyOrsetAdd(emptyState('orset'), 'a', 1, 'e')
    ]) {
      const record = { state, deps }
      const back = decodeRecord(encodeRecord(record), 'c/k', state.merge)
      expect(recordToWire(back)).toEqual(recordToWire(record))
      expect(stateDigest(back.state)).toBe(stateDigest(state))
    }
  })

  it('detects a raft record or another merge policy in the data sublevel as a configuration change', () => {
    expect(() => decodeRecord(encodeRaftRecord({ value: bytes('x'), index: 3 }), 'c/k', 'mv')).toThrow(ConfigError)
    const mv = encodeRecord({ state: emptyState('mv'), deps: emptyQuorumSession() })
    expect(() => decodeRecord(mv, 'c/k', 'lww')).toThrow(ConfigError)
    expect(() => decodeRecord(encode({ q: 1, t: 'mv', s: 5 }), 'c/k', 'mv')).toThrow(InternalError)
  })

  it('refuses malformed records from peers with PROTOCOL errors', () => {
    const bad: unknown[] = [
      null, { q: 2, t: 'mv', s: {} }, { q: 1, t: 'nope', s: {} },
      { q: 1, t: 'mv', s: { context: { a: 1 }, siblings: [{ node: 'a', counter: 2, tombstone: false, value: new Uint8Array() }] } },
      { q: 1, t: 'lww', s: { context: { a: 1 }, siblings: [{ node: 'a', counter: 1, tombstone: false, value: { hlc: 5, value: null } }] } },
      { q: 1, t: 'counter', s: { c: {}, p: { a: -1 }, n: {} } },
      { q: 1, t: 'mv', s: { context: {}, siblings: [] }, d: { v: 9 } }
    ]
    for (const b of bad) expect(() => recordFromWire(b)).toThrow(ProtocolError)
  })
})
