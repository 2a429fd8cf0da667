import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Kind, Malformed, guardToDialer, guardToListener } from '../../../src/transport/libp2p/envelope.js'

describe('envelope guards', () => {
  it('accept the envelopes a dialer sends', () => {
    expect(guardToListener([Kind.Msg, { a: 1 }])).toEqual([0, { a: 1 }])
    expect(guardToListener([Kind.Req, 7, null])).toEqual([1, 7, null])
    expect(guardToListener([Kind.Cancel, 7])).toEqual([4, 7])
  })

  it('accept the envelopes a listener sends back', () => {
    expect(guardToDialer([Kind.Res, 1, 'x'])).toEqual([2, 1, 'x'])
    expect(guardToDialer([Kind.Err, 1, 'TIMEOUT', 'late', { a: 1 }])).toEqual([3, 1, 'TIMEOUT', 'late', { a: 1 }])
    expect(guardToDialer([Kind.Err, 1, 'TIMEOUT', 'late', null])).not.toBeInstanceOf(Malformed)
  })

  it('keep the request id of a malformed request so that it can be answered', () => {
    const bad = guardToListener([Kind.Req, 9])
    expect(bad).toBeInstanceOf(Malformed)
    expect((bad as Malformed).id).toBe(9)
  })

  it('refuse ids that are not integers in [0, 2^32)', () => {
    for (const id of [-1, 1.5, 2 ** 32, '1', null, Number.NaN]) {
      const bad = guardToListener([Kind.Req, id, null])
      expect(bad).toBeInstanceOf(Malformed)
      expect((bad as Malformed).id).toBeUndefined()
    }
  })

  it('refuse responses sent in the wrong direction, and requests sent back', () => {
    expect(guardToListener([Kind.Res, 1, null])).toBeInstanceOf(Malformed)
    expect(guardToDialer([Kind.Req, 1, null])).toBeInstanceOf(Malformed)
  })

  it('never throw, whatever they are given', () => {
    fc.assert(fc.property(fc.anything(), (value) => {
      guardToListener(value)
      guardToDialer(value)
    }))
    fc.assert(fc.property(fc.integer({ min: -1, max: 6 }), fc.array(fc.anything(), { maxLength: 6 }), (kind, rest) => {
      const a = guardToListener([kind, ...rest])
      const b = guardToDialer([kind, ...rest])
      if (!(a instanceof Malformed)) expect([0, 1, 4]).toContain(a[0])
      if (!(b instanceof Malformed)) expect([2, 3]).toContain(b[0])
    }))
  })
})
