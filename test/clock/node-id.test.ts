import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/api/errors.js'
import { assertNodeId, compareCodePoints, isNodeId, nodeIdBytesMax } from '../../src/clock/node-id.js'
import { codePointString } from './arbitraries.js'

function compareUtf8 (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

describe('node ids', () => {
  it('code point order equals UTF-8 byte order, unlike JavaScript string order', () => {
    expect('\u{10000}' < '\uffff').toBe(true) // UTF-16 units disagree with UTF-8
    expect(compareCodePoints('\u{10000}', '\uffff')).toBeGreaterThan(0)
    fc.assert(fc.property(codePointString(8), codePointString(8), (a, b) => {
      expect(Math.sign(compareCodePoints(a, b))).toBe(compareUtf8(a, b))
    }), { numRuns: 300 })
  })

  it('accepts up to 64 UTF-8 bytes and refuses what would not survive encoding', () => {
    expect(isNodeId('12D3KooWGzh7bRjvZ1Ts9yU4xEJnVY4pQGz1vGtqcP1ESy6oXQDs')).toBe(true)
    expect(isNodeId('é'.repeat(32))).toBe(true)
    expect(isNodeId('é'.repeat(33))).toBe(false)
    expect(isNodeId('x'.repeat(nodeIdBytesMax + 1))).toBe(false)
    for (const bad of ['', 'a\0b', 'a\ud800', '__proto__', 7]) {
      expect(isNodeId(bad)).toBe(false)
      expect(() => { assertNodeId(bad) }).toThrow(InvalidArgumentError)
    }
  })
})
