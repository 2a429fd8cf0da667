import { Packr } from 'msgpackr'
import { InvalidArgumentError, ProtocolError } from '../api/errors.js'

/**
 * One codec for values on disk and messages on the wire. Plain maps, no records: nodes that start
 * independently share no structure tables (see shared/notes/ecosystem.md).
 */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true })

export function encode (value: unknown): Uint8Array {
  return packr.pack(value)
}

export function decode (bytes: Uint8Array): unknown {
  return packr.unpack(bytes)
}

const valueDepthMax = 64
const loneSurrogate = /\p{Cs}/u

/**
 * Encodes a caller's value, turning what msgpack cannot represent faithfully into
 * INVALID_ARGUMENT. msgpackr would silently drop a nested function or turn a Map into an object;
 * a store must not change what it was given, so the value is checked first.
 */
export function encodeValue (value: unknown): Uint8Array {
  checkEncodable(value, 'value', 0)
  try {
    return packr.pack(value)
  } catch (err) {
    throw new InvalidArgumentError(`value cannot be encoded: ${(err as Error).message}`, {}, { cause: err })
  }
}

function checkEncodable (value: unknown, path: string, depth: number): void {
  if (depth > valueDepthMax) throw new InvalidArgumentError(`${path} is nested deeper than ${valueDepthMax} levels (or is cyclic)`)
  switch (typeof value) {
    case 'string':
      // msgpack writes UTF-8, which cannot hold a lone surrogate: it would come back as U+FFFD.
      if (loneSurrogate.test(value)) throw new InvalidArgumentError(`${path} contains a lone UTF-16 surrogate, which UTF-8 cannot represent`)
      return
    case 'number': case 'boolean': return
    case 'bigint':
      if (value < -(2n ** 63n) || value >= 2n ** 64n) throw new InvalidArgumentError(`${path} is a bigint outside 64 bits`)
      return
    case 'undefined':
      throw new InvalidArgumentError(`${path} is undefined: use null, or leave the field out`)
    case 'function': case 'symbol':
      throw new InvalidArgumentError(`${path} is a ${typeof value}, which cannot be stored: use objects, arrays, strings, numbers, booleans, null or Uint8Array`)
  }
  if (value === null || value instanceof Uint8Array || value instanceof Date) return
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkEncodable(value[i], `${path}[${i}]`, depth + 1)
    return
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as object).constructor?.name ?? 'unknown'
    throw new InvalidArgumentError(`${path} is a ${name}, which cannot be stored faithfully: convert it to a plain object, array or Uint8Array`)
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (loneSurrogate.test(k)) throw new InvalidArgumentError(`a field name in ${path} contains a lone UTF-16 surrogate, which UTF-8 cannot represent`)
    if (v === undefined) continue // msgpack keeps the key as nil; a missing field reads back the same
    checkEncodable(v, `${path}.${k}`, depth + 1)
  }
}

/** Decodes bytes that came from outside (a peer, a file); garbage is a ProtocolError. */
export function decodeUntrusted (bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes)
  } catch (err) {
    throw new ProtocolError(`undecodable message: ${(err as Error).message}`, {}, { cause: err })
  }
}
