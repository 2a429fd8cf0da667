import { ProtocolError } from '../api/errors.js'
import { compareHlc, parseHlc, type Hlc } from '../clock/hlc.js'
import { encode } from '../codec/msgpack.js'

/**
 * Last-writer-wins register on a hybrid logical clock: of two states, the one with the greater
 * timestamp wins (the node id inside the timestamp breaks ties between nodes). A delete is a
 * tombstone with its own timestamp, so an older write arriving late cannot resurrect the key.
 *
 * LWW loses acknowledged writes by design: of two concurrent writes, one is discarded, and a node
 * whose clock runs ahead (within the HLC's maxDriftMs) wins against later writes elsewhere. Use an
 * `mv` collection for data that must not be lost.
 */
export type LwwRegister<T> =
  | { readonly hlc: Hlc, readonly tombstone: false, readonly value: T }
  | { readonly hlc: Hlc, readonly tombstone: true }

export function lwwPut<T> (value: T, hlc: Hlc): LwwRegister<T> {
  return { hlc, tombstone: false, value }
}

export function lwwDelete<T> (hlc: Hlc): LwwRegister<T> {
  return { hlc, tombstone: true }
}

/**
 * The state with the greater timestamp. Equal timestamps come from one event on one node and
 * should be identical; if they are not (a bug elsewhere), the tombstone, then the greater encoded
 * value, wins, so the merge stays commutative and every replica still picks the same state.
 */
export function lwwMerge<T> (a: LwwRegister<T>, b: LwwRegister<T>): LwwRegister<T> {
  const c = compareHlc(a.hlc, b.hlc)
  if (c !== 0) return c > 0 ? a : b
  if (a.tombstone || b.tombstone) return a.tombstone ? a : b
  return compareBytes(encode(a.value), encode(b.value)) >= 0 ? a : b
}

/** The value, or undefined when the key is deleted or was never written. */
export function lwwRead<T> (reg: LwwRegister<T> | undefined): T | undefined {
  return reg === undefined || reg.tombstone ? undefined : reg.value
}

/** Validates a register from a peer or from disk (ProtocolError on garbage). */
export function parseLwwRegister<T> (input: unknown, parseValue: (value: unknown) => T): LwwRegister<T> {
  if (input === null || typeof input !== 'object') throw new ProtocolError('an LWW register must be an object { hlc, tombstone, value }')
  const r = input as Record<string, unknown>
  const hlc = parseHlc(r.hlc)
  if (r.tombstone === true) return { hlc, tombstone: true }
  if (r.tombstone === false && Object.hasOwn(r, 'value')) return { hlc, tombstone: false, value: parseValue(r.value) }
  throw new ProtocolError('an LWW register is neither a value nor a tombstone')
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  }
  return a.length - b.length
}
