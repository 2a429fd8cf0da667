import { InvalidArgumentError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'
import { parseVersionVector, vvEntries, type VersionVector } from './version-vector.js'

/**
 * The causal context a client gets with a read of an `mv` key and passes back with its next write,
 * as an opaque base64url string: msgpack of `{ v: 1, k: <hash of the key>, c: <version vector> }`.
 *
 * The key hash is there because a context used on the wrong key is not harmless: its counters can
 * be higher than the ones the key's writers will issue next, and a later write whose dot the
 * context already "covers" would be dropped by sync as if it had been superseded. The hash
 * (32-bit FNV-1a) catches mix-ups, not forgery; a client that can write can also delete.
 */
export const contextTokenCharsMax = 16 * 1024

const tokenVersion = 1
const base64url = /^[A-Za-z0-9_-]*$/

export function encodeContext (context: VersionVector, key: string): string {
  const c: Record<string, number> = {}
  for (const [node, counter] of vvEntries(context)) c[node] = counter
  const token = Buffer.from(encode({ v: tokenVersion, k: keyHash(key), c })).toString('base64url')
  if (token.length > contextTokenCharsMax) throw new InvalidArgumentError(`the causal context is longer than ${contextTokenCharsMax} characters`, { chars: token.length })
  return token
}

/** Reads a client's context token for `key`; anything malformed or for another key is INVALID_ARGUMENT. */
export function decodeContext (token: string, key: string): VersionVector {
  if (typeof token !== 'string' || token.length === 0 || token.length > contextTokenCharsMax || !base64url.test(token)) {
    throw invalid('it is not a base64url string of at most ' + contextTokenCharsMax + ' characters')
  }
  let body: unknown
  try {
    body = decode(Buffer.from(token, 'base64url'))
  } catch (err) {
    throw invalid('it does not decode', err)
  }
  if (body === null || typeof body !== 'object') throw invalid('it is not a context')
  const { v, k, c } = body as Record<string, unknown>
  if (v !== tokenVersion) throw invalid(`its format version is ${String(v)}, expected ${tokenVersion}`)
  if (k !== keyHash(key)) throw invalid('it belongs to another key: pass the context returned by a get of this key')
  try {
    return parseVersionVector(c)
  } catch (err) {
    throw invalid('its version vector is malformed', err)
  }
}

function invalid (why: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`the causal context is not usable: ${why}`, {}, cause === undefined ? undefined : { cause })
}

const encoder = new TextEncoder()

function keyHash (key: string): number {
  let h = 0x811c9dc5
  for (const byte of encoder.encode(key)) {
    h ^= byte
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}
