import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrameDecoder, frameHeader } from '../../../src/transport/libp2p/framing.js'

function framed (bodies: Uint8Array[]): Uint8Array {
  return Buffer.concat(bodies.flatMap(b => [frameHeader(b.byteLength), b]))
}

describe('FrameDecoder', () => {
  it('returns the same frames however the bytes are split into chunks', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
      (bodies, cuts) => {
        const bytes = framed(bodies)
        const decoder = new FrameDecoder(1024)
        const out: Uint8Array[] = []
        let offset = 0
        for (let i = 0; offset < bytes.byteLength; i++) {
          const n = cuts[i % cuts.length]!
          expect(decoder.push(bytes.subarray(offset, offset + n), (f) => { out.push(Uint8Array.from(f)); return true })).toBeUndefined()
          offset += n
        }
        expect(out.map(b => Buffer.from(b).toString('hex'))).toEqual(bodies.map(b => Buffer.from(b).toString('hex')))
        expect(decoder.partial).toBe(false)
      }
    ))
  })

  it('accepts chunk lists (a Uint8ArrayList is iterable)', () => {
    const decoder = new FrameDecoder(16)
    const bytes = framed([Uint8Array.of(1, 2, 3)])
    const out: number[][] = []
    decoder.push([bytes.subarray(0, 2), bytes.subarray(2)], (f) => { out.push([...f]); return true })
    expect(out).toEqual([[1, 2, 3]])
  })

  it('reports a header over the limit before buffering its body', () => {
    const decoder = new FrameDecoder(10)
    const seen: Uint8Array[] = []
    const result = decoder.push(frameHeader(11), (f) => { seen.push(f); return true })
    expect(result).toEqual({ bodyBytes: 11 })
    expect(seen).toHaveLength(0)
  })

  it('reads a length of 2^32-1 as unsigned, not negative', () => {
    const decoder = new FrameDecoder(1 << 20)
    expect(decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff), () => true)).toEqual({ bodyBytes: 0xffff_ffff })
  })

  it('knows when the bytes end in the middle of a frame', () => {
    const decoder = new FrameDecoder(100)
    decoder.push(framed([new Uint8Array(10)]).subarray(0, 7), () => true)
    expect(decoder.partial).toBe(true)
  })

  it('stops handing out frames when the callback says so', () => {
    const decoder = new FrameDecoder(100)
    let calls = 0
    decoder.push(framed([Uint8Array.of(1), Uint8Array.of(2)]), () => { calls++; return false })
    expect(calls).toBe(1)
  })
})
