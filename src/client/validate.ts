import { isConsistencyLevel, consistencyLevels } from '../api/consistency.js'
import { InvalidArgumentError, TooLargeError } from '../api/errors.js'
import type { ReadOptions, WriteOptions } from '../api/types.js'

/**
 * Checks of everything a caller passes, shared by the in-process client and the node's handler of
 * remote calls, so both refuse the same input with the same error.
 */
export interface KeyLimits {
  keyBytesMax: number
  valueBytesMax: number
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export function validateKey (key: unknown, limits: KeyLimits): string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`key must be a string, got ${describe(key)}`)
  if (key.length === 0) throw new InvalidArgumentError('key must not be empty')
  if (loneSurrogate.test(key)) throw new InvalidArgumentError('key must be valid UTF-8 text (it contains a lone surrogate)')
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > limits.keyBytesMax) throw new TooLargeError(`key is ${bytes} bytes; the limit is ${limits.keyBytesMax} (limits.keyBytesMax)`, { bytes, limit: limits.keyBytesMax })
  if (key.startsWith('/')) throw new InvalidArgumentError('key must not start with "/": the part before the first "/" names its collection')
  return key
}

/** The collection of a key: the part before the first `/`, or `default`. */
export function collectionOfKey (key: string): string {
  const slash = key.indexOf('/')
  return slash === -1 ? 'default' : key.slice(0, slash)
}

export function checkValueSize (encoded: Uint8Array, limits: KeyLimits): void {
  if (encoded.byteLength > limits.valueBytesMax) {
    throw new TooLargeError(`value is ${encoded.byteLength} bytes encoded; the limit is ${limits.valueBytesMax} (limits.valueBytesMax)`, { bytes: encoded.byteLength, limit: limits.valueBytesMax })
  }
}

const commonKeys = ['signal', 'timeoutMs', 'consistency', 'session']
const readKeys = new Set([...commonKeys, 'maxStalenessMs', 'r', 'pr'])
const writeKeys = new Set([...commonKeys, 'ifMatch', 'context', 'w', 'pw'])

export function validateReadOptions (options: unknown): ReadOptions {
  const o = checkObject(options, readKeys)
  checkCommon(o)
  if (o.maxStalenessMs !== undefined) checkInt('maxStalenessMs', o.maxStalenessMs, 0, 24 * 3600 * 1000)
  if (o.consistency === 'bounded' && o.maxStalenessMs === undefined) {
    throw new InvalidArgumentError('consistency "bounded" needs maxStalenessMs: the most staleness the caller accepts')
  }
  if (o.r !== undefined) checkInt('r', o.r, 1, 7)
  if (o.pr !== undefined) checkInt('pr', o.pr, 0, 7)
  return o as ReadOptions
}

export function validateWriteOptions (options: unknown): WriteOptions {
  const o = checkObject(options, writeKeys)
  checkCommon(o)
  if (o.ifMatch !== undefined && (typeof o.ifMatch !== 'string' || o.ifMatch.length === 0 || o.ifMatch.length > 256)) {
    throw new InvalidArgumentError('ifMatch must be an etag string returned by quorumkv')
  }
  if (o.context !== undefined && (typeof o.context !== 'string' || o.context.length > 65_536)) {
    throw new InvalidArgumentError('context must be the context string returned by a get')
  }
  if (o.w !== undefined) checkInt('w', o.w, 1, 7)
  if (o.pw !== undefined) checkInt('pw', o.pw, 0, 7)
  return o as WriteOptions
}

function checkObject (options: unknown, allowed: Set<string>): Record<string, unknown> {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InvalidArgumentError(`options must be an object, got ${describe(options)}`)
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw new InvalidArgumentError(`unknown option ${JSON.stringify(key)}; allowed: ${[...allowed].join(', ')}`)
  }
  return options as Record<string, unknown>
}

function checkCommon (o: Record<string, unknown>): void {
  if (o.consistency !== undefined && !isConsistencyLevel(o.consistency)) {
    throw new InvalidArgumentError(`consistency must be one of ${consistencyLevels.join(', ')}; got ${describe(o.consistency)}`)
  }
  if (o.timeoutMs !== undefined) checkInt('timeoutMs', o.timeoutMs, 1, 24 * 3600 * 1000)
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal')
  if (o.session !== undefined && typeof o.session !== 'string') throw new InvalidArgumentError('session must be a token string returned by quorumkv')
}

function checkInt (name: string, value: unknown, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${describe(value)}`)
  }
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `"${value.slice(0, 40)}"`
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`
  return typeof value
}
