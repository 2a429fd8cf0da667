import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { compareHlc, type Hlc } from '../../src/clock/hlc.js'
import { lwwDelete, lwwMerge, lwwPut, lwwRead, parseLwwRegister, type LwwRegister } from '../../src/merge/lww.js'
import { expectMergeLaws, expectOrderIndependent } from './laws.js'

const hlc = (wallMs: number, logical: number, node: string): Hlc => ({ wallMs, logical, node })

// A small domain so that equal timestamps (and equal timestamps with different contents) occur.
const hlcArb = fc.record({ wallMs: fc.nat(3), logical: fc.nat(2), node: fc.constantFrom('a', 'b', '\u{10000}') })
const regArb: fc.Arbitrary<LwwRegister<string>> = fc.oneof(
  fc.record({ hlc: hlcArb, tombstone: fc.constant(false as const), value: fc.constantFrom('x', 'y', 'z') }),
  fc.record({ hlc: hlcArb, tombstone: fc.constant(true as const) })
)

describe('LWW register', () => {
  it('keeps the write with the greater timestamp, the node id breaking ties', () => {
    const older = lwwPut('old', hlc(10, 0, 'b'))
    const newer = lwwPut('new', hlc(10, 1, 'a'))
    expect(lwwRead(lwwMerge(older, newer))).toBe('new')
    expect(lwwRead(lwwMerge(newer, older))).toBe('new')
    const fromA = lwwPut('from a', hlc(10, 0, 'a'))
    expect(lwwRead(lwwMerge(fromA, older))).toBe('old') // 'b' > 'a'
  })

  it('a newer delete hides the value and an older write arriving late does not resurrect it', () => {
    const put = lwwPut('x', hlc(5, 0, 'a'))
    const del = lwwDelete<string>(hlc(6, 0, 'b'))
    const merged = lwwMerge(put, del)
    expect(lwwRead(merged)).toBeUndefined()
    expect(lwwRead(lwwMerge(merged, put))).toBeUndefined()
    expect(lwwRead(lwwMerge(merged, lwwPut('y', hlc(7, 0, 'a'))))).toBe('y')
    expect(lwwRead(undefined)).toBeUndefined()
  })

  it('merge is commutative, associative and idempotent, even on equal timestamps', () => {
    fc.assert(fc.property(regArb, regArb, regArb, (a, b, c) => { expectMergeLaws(lwwMerge, a, b, c) }), { numRuns: 500 })
  })

  it('any delivery order converges on the greatest timestamp', () => {
    const arb = fc.uniqueArray(regArb, { minLength: 1, maxLength: 8, selector: r => `${r.hlc.wallMs}/${r.hlc.logical}/${r.hlc.node}` })
      .chain(rs => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs.map((_, i) => i), { minLength: rs.length, maxLength: rs.length })))
    fc.assert(fc.property(arb, ([rs, order]) => {
      expectOrderIndependent(lwwMerge, rs, order)
      const winner = rs.reduce(lwwMerge)
      for (const r of rs) expect(compareHlc(winner.hlc, r.hlc)).toBeGreaterThanOrEqual(0)
    }), { numRuns: 200 })
  })

  it('parse round-trips through msgpack and refuses garbage', () => {
    const reg = lwwPut(new Uint8Array([1, 2]), hlc(1, 2, 'n'))
    // msgpackr decodes bin as a Buffer; the value parser decides what type the caller gets.
    expect(parseLwwRegister(decode(encode(reg)), v => new Uint8Array(v as Uint8Array))).toEqual(reg)
    const del = lwwDelete(hlc(1, 2, 'n'))
    expect(parseLwwRegister(decode(encode(del)), v => v)).toEqual(del)
    for (const bad of [null, { hlc: hlc(1, 2, 'n') }, { hlc: hlc(1, 2, 'n'), tombstone: false }, { hlc: { wallMs: 1 }, tombstone: true }]) {
      expect(() => parseLwwRegister(bad, v => v)).toThrow(ProtocolError)
    }
  })
})
