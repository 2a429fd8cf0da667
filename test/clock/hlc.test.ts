import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ErrorCode, InvalidArgumentError, ProtocolError } from '../../src/api/errors.js'
import {
  ClockDriftError, HybridClock, compareHlc, decodeHlc, encodeHlc, hlcEncodedBytes, hlcFromString, hlcLogicalMax,
  hlcToString, parseHlc, type Hlc
} from '../../src/clock/hlc.js'
import { isNodeId } from '../../src/clock/node-id.js'
import { codePointString } from './arbitraries.js'

function memcmp (a: Uint8Array, b: Uint8Array): number {
  return Math.sign(Buffer.compare(a, b))
}

function manualClock (startMs: number): { now: () => number, set: (ms: number) => void } {
  let t = startMs
  return { now: () => t, set: (ms) => { t = ms } }
}

// Node ids that stress the order: prefixes, code points around U+E000/U+FFFF/U+10000, the maximum width.
const trickyNodes = ['a', 'aa', 'ab', 'b', '\ue000', '\uffff', '\u{10000}', 'a\u{10ffff}', 'x'.repeat(64), 'é'.repeat(32)]
const nodeArb = fc.oneof(
  fc.constantFrom(...trickyNodes),
  codePointString(20, 1).filter(isNodeId)
)
const hlcArb: fc.Arbitrary<Hlc> = fc.record({
  wallMs: fc.oneof(fc.nat(3), fc.constantFrom(2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat()),
  logical: fc.oneof(fc.nat(3), fc.constantFrom(255, 256, hlcLogicalMax), fc.nat(hlcLogicalMax)),
  node: nodeArb
})

describe('HybridClock', () => {
  it('issues strictly increasing timestamps even when the wall clock jumps back', () => {
    const wall = manualClock(10_000)
    const clock = new HybridClock({ node: 'n1', now: wall.now, maxDriftMs: 500 })
    const a = clock.now()
    wall.set(2_000) // NTP step backwards
    const b = clock.now()
    const c = clock.now()
    expect(a).toEqual({ wallMs: 10_000, logical: 0, node: 'n1' })
    expect(b).toEqual({ wallMs: 10_000, logical: 1, node: 'n1' })
    expect(c).toEqual({ wallMs: 10_000, logical: 2, node: 'n1' })
    wall.set(10_001)
    expect(clock.now()).toEqual({ wallMs: 10_001, logical: 0, node: 'n1' })
  })

  it('is monotonic and ahead of every received timestamp under any schedule of jumps and receipts', () => {
    const step = fc.record({
      jumpMs: fc.integer({ min: -5_000, max: 5_000 }),
      remote: fc.option(fc.record({
        aheadMs: fc.integer({ min: -3_000, max: 1_500 }),
        logical: fc.oneof(fc.nat(5), fc.constantFrom(hlcLogicalMax - 1, hlcLogicalMax)),
        node: fc.constantFrom('n0', 'n2', 'n3')
      }))
    })
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const wall = manualClock(100_000)
      const clock = new HybridClock({ node: 'n1', now: wall.now, maxDriftMs: 500 })
      let prev = clock.peek()
      for (const s of steps) {
        wall.set(Math.max(0, wall.now() + s.jumpMs))
        let next: Hlc
        if (s.remote === null) {
          next = clock.now()
        } else {
          const remote = { wallMs: Math.max(0, wall.now() + s.remote.aheadMs), logical: s.remote.logical, node: s.remote.node }
          if (s.remote.aheadMs > 500) {
            expect(() => clock.update(remote)).toThrow(ClockDriftError)
            expect(clock.peek()).toEqual(prev)
            continue
          }
          next = clock.update(remote)
          expect(compareHlc(next, remote)).toBeGreaterThan(0)
        }
        expect(compareHlc(next, prev)).toBeGreaterThan(0)
        expect(next.wallMs).toBeGreaterThanOrEqual(wall.now())
        expect(next.node).toBe('n1')
        prev = next
      }
    }), { numRuns: 200 })
  })

  it('refuses a remote time more than maxDriftMs ahead and leaves the clock unchanged', () => {
    const wall = manualClock(1_000)
    const clock = new HybridClock({ node: 'n1', now: wall.now, maxDriftMs: 500 })
    clock.now()
    const before = clock.peek()
    let caught: unknown
    try {
      clock.update({ wallMs: 1_501, logical: 0, node: 'n2' })
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ClockDriftError)
    expect(caught).toBeInstanceOf(InvalidArgumentError)
    expect((caught as ClockDriftError).code).toBe(ErrorCode.InvalidArgument)
    expect((caught as ClockDriftError).name).toBe('ClockDriftError')
    expect((caught as ClockDriftError).details).toMatchObject({ remoteNode: 'n2', aheadMs: 501, maxDriftMs: 500 })
    expect(clock.peek()).toEqual(before)
    expect(clock.now()).toEqual({ wallMs: 1_000, logical: 1, node: 'n1' })
    // Exactly at the bound is accepted.
    expect(clock.update({ wallMs: 1_500, logical: 7, node: 'n2' })).toEqual({ wallMs: 1_500, logical: 8, node: 'n1' })
  })

  it('refuses malformed remote timestamps with INVALID_ARGUMENT', () => {
    const clock = new HybridClock({ node: 'n1', now: () => 1_000, maxDriftMs: 500 })
    for (const bad of [
      { wallMs: -1, logical: 0, node: 'n2' },
      { wallMs: 1.5, logical: 0, node: 'n2' },
      { wallMs: 1, logical: hlcLogicalMax + 1, node: 'n2' },
      { wallMs: 1, logical: 0, node: '' }
    ]) {
      expect(() => clock.update(bad)).toThrow(InvalidArgumentError)
    }
    expect(clock.peek()).toEqual({ wallMs: 0, logical: 0, node: 'n1' })
  })

  it('carries a logical counter at its bound into the wall part', () => {
    const clock = new HybridClock({ node: 'n1', now: () => 1_000, maxDriftMs: 500 })
    const remote = { wallMs: 1_200, logical: hlcLogicalMax, node: 'n2' }
    const t = clock.update(remote)
    expect(t).toEqual({ wallMs: 1_201, logical: 0, node: 'n1' })
    expect(compareHlc(t, remote)).toBeGreaterThan(0)
  })

  it('after a restart with the last issued timestamp, never issues one at or below it', () => {
    const last = { wallMs: 50_000, logical: 9, node: 'n1' }
    const clock = new HybridClock({ node: 'n1', now: () => 40_000, maxDriftMs: 500, last })
    expect(compareHlc(clock.now(), last)).toBeGreaterThan(0)
  })

  it('refuses an invalid configuration', () => {
    expect(() => new HybridClock({ node: '', now: () => 0, maxDriftMs: 1 })).toThrow(InvalidArgumentError)
    expect(() => new HybridClock({ node: 'n', now: () => 0, maxDriftMs: -1 })).toThrow(InvalidArgumentError)
  })
})

describe('HLC encodings', () => {
  it('unsigned byte order of the encoding equals compareHlc order', () => {
    fc.assert(fc.property(hlcArb, hlcArb, (a, b) => {
      expect(memcmp(encodeHlc(a), encodeHlc(b))).toBe(compareHlc(a, b))
    }), { numRuns: 2_000 })
  })

  it('orders the tricky node ids correctly at equal wall and logical parts', () => {
    const sorted = [...trickyNodes].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    const encoded = sorted.map(node => encodeHlc({ wallMs: 5, logical: 1, node }))
    for (let i = 1; i < encoded.length; i++) {
      expect(memcmp(encoded[i - 1] as Uint8Array, encoded[i] as Uint8Array)).toBe(-1)
      expect(compareHlc({ wallMs: 5, logical: 1, node: sorted[i - 1] as string }, { wallMs: 5, logical: 1, node: sorted[i] as string })).toBe(-1)
    }
  })

  it('binary encoding is fixed-width and round-trips', () => {
    fc.assert(fc.property(hlcArb, (h) => {
      const bytes = encodeHlc(h)
      expect(bytes.length).toBe(hlcEncodedBytes)
      expect(decodeHlc(bytes)).toEqual(h)
    }), { numRuns: 500 })
  })

  it('decoding refuses bytes that are not an encoded timestamp', () => {
    expect(() => decodeHlc(new Uint8Array(10))).toThrow(ProtocolError)
    expect(() => decodeHlc(new Uint8Array(hlcEncodedBytes))).toThrow(ProtocolError) // empty node id
    const bad = encodeHlc({ wallMs: 1, logical: 1, node: 'n' })
    bad[12] = 0xff
    expect(() => decodeHlc(bad)).toThrow(ProtocolError)
  })

  it('string form round-trips', () => {
    expect(hlcToString({ wallMs: 0x193a2b4c5d6e7, logical: 2, node: 'node-a' })).toBe('0193a2b4c5d6e7-00000002-node-a')
    fc.assert(fc.property(hlcArb, (h) => {
      expect(hlcFromString(hlcToString(h))).toEqual(h)
    }), { numRuns: 500 })
  })

  it('string parsing refuses anything else with INVALID_ARGUMENT', () => {
    for (const bad of ['', 'x', '0193a2b4c5d6e7-00000002-', '0193A2B4C5D6E7-00000002-n', '0193a2b4c5d6e7-0000002-n', 'ffffffffffffff-00000000-n']) {
      expect(() => hlcFromString(bad)).toThrow(InvalidArgumentError)
    }
  })

  it('parseHlc validates untrusted input', () => {
    expect(parseHlc({ wallMs: 3, logical: 4, node: 'n' })).toEqual({ wallMs: 3, logical: 4, node: 'n' })
    expect(() => parseHlc({ wallMs: '3', logical: 4, node: 'n' })).toThrow(ProtocolError)
    expect(() => parseHlc(null)).toThrow(ProtocolError)
  })
})
