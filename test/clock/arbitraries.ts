import fc from 'fast-check'

/**
 * Strings of code points drawn around the boundaries where UTF-16 order and UTF-8 order disagree
 * (U+D7FF / U+E000 / U+FFFF / U+10000), never lone surrogates. Cheaper to set up than
 * fast-check's `unit: 'binary'`, which builds a table of every code point on first use.
 */
const codePoint = fc.oneof(
  fc.integer({ min: 0x01, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0x7ff }),
  fc.integer({ min: 0xd700, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xe0ff }),
  fc.integer({ min: 0xff00, max: 0xffff }),
  fc.integer({ min: 0x10000, max: 0x100ff }),
  fc.integer({ min: 0x10ff00, max: 0x10ffff })
).map(cp => String.fromCodePoint(cp))

export function codePointString (maxLength: number, minLength = 0): fc.Arbitrary<string> {
  return fc.array(codePoint, { minLength, maxLength }).map(cps => cps.join(''))
}
