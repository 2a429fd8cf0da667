import { InvalidArgumentError } from '../api/errors.js'

/**
 * Node ids name the writer inside clocks, dots and counters. They are stored in LevelDB keys and
 * used as msgpack map keys, which is why a few strings are refused:
 * - more than `nodeIdBytesMax` UTF-8 bytes: the HLC encoding reserves a fixed width for the id;
 * - NUL: the fixed-width encoding pads with NUL, so an id ending in NUL would decode differently;
 * - lone surrogates: UTF-8 cannot carry them, so the id would not survive a round trip;
 * - `__proto__`: msgpackr renames that map key on decode, and it is special on plain objects.
 */
export const nodeIdBytesMax = 64

const encoder = new TextEncoder()

export function nodeIdProblem (node: unknown): string | undefined {
  if (typeof node !== 'string') return 'is not a string'
  if (node.length === 0) return 'is empty'
  if (node.includes('\0')) return 'contains NUL'
  if (/\p{Cs}/u.test(node)) return 'contains a lone UTF-16 surrogate'
  if (node === '__proto__') return 'is "__proto__"'
  // A UTF-16 unit is at most 3 UTF-8 bytes, so only long strings need encoding to be measured.
  if (node.length * 3 > nodeIdBytesMax && encoder.encode(node).length > nodeIdBytesMax) {
    return `is longer than ${nodeIdBytesMax} UTF-8 bytes`
  }
  return undefined
}

export function isNodeId (node: unknown): node is string {
  return nodeIdProblem(node) === undefined
}

export function assertNodeId (node: unknown, what = 'node id'): asserts node is string {
  const problem = nodeIdProblem(node)
  if (problem !== undefined) {
    throw new InvalidArgumentError(`${what} ${problem}: use 1-${nodeIdBytesMax} UTF-8 bytes without NUL`, { node: typeof node === 'string' ? node.slice(0, 80) : typeof node })
  }
}

/**
 * Orders strings by Unicode code point, which is the order of their UTF-8 bytes. JavaScript's `<`
 * compares UTF-16 units, which disagrees for characters above U+FFFF versus U+E000..U+FFFF; the
 * HLC's byte encoding must agree with this order, so every node-id comparison goes through here.
 */
export function compareCodePoints (a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

export const compareNodeIds: (a: string, b: string) => number = compareCodePoints

// Surrogates (D800..DFFF) stand for code points above FFFF, so they rank after E000..FFFF.
function codePointRank (unit: number): number {
  if (unit >= 0xe000) return unit - 0x800
  if (unit >= 0xd800) return unit + 0x2000
  return unit
}
