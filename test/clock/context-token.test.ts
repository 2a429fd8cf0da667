import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/api/errors.js'
import { encode } from '../../src/codec/msgpack.js'
import { contextTokenCharsMax, decodeContext, encodeContext } from '../../src/clock/context-token.js'
import { vvFromEntries } from '../../src/clock/version-vector.js'

const vvArb = fc.array(fc.tuple(fc.constantFrom('a', 'b', '\u{10000}', 'constructor'), fc.nat(1_000_000)), { maxLength: 4 }).map(vvFromEntries)

describe('context tokens', () => {
  it('round-trip a context for the same key as URL-safe text', () => {
    fc.assert(fc.property(vvArb, fc.string(), (vv, key) => {
      const token = encodeContext(vv, key)
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/)
      expect(decodeContext(token, key)).toEqual(vv)
    }), { numRuns: 200 })
  })

  it('refuses a context read from another key', () => {
    const token = encodeContext({ a: 3 }, 'agents/1')
    expect(() => decodeContext(token, 'agents/2')).toThrow(InvalidArgumentError)
    expect(() => decodeContext(token, 'agents/2')).toThrow(/another key/)
  })

  it('refuses malformed tokens with INVALID_ARGUMENT', () => {
    const b64 = (v: unknown): string => Buffer.from(encode(v)).toString('base64url')
    const good = encodeContext({ a: 1 }, 'k')
    for (const bad of ['', '***', 'a'.repeat(contextTokenCharsMax + 1), 'AAAA', b64(7), b64({ v: 2, k: 0, c: {} }), good.slice(0, -3)]) {
      expect(() => decodeContext(bad, 'k')).toThrow(InvalidArgumentError)
    }
  })
})
