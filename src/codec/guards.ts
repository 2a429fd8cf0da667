import { ProtocolError } from '../api/errors.js'

/**
 * Building blocks of the hand-written guards that protocols run on every inbound message (they
 * cost far less than a schema library on hot paths). Messages are plain msgpack maps with a fixed
 * set of fields: anything more or less is refused.
 */
export type RawMessage = Record<string, unknown>

export interface Guards {
  /** Throws a ProtocolError naming the protocol and, when given, the field. */
  fail: (message: string, field?: string) => never
  isObject: (value: unknown) => value is RawMessage
  /** Refuses unknown and missing fields. */
  checkKeys: (raw: RawMessage, allowed: readonly string[], what: string) => void
}

export function messageGuards (protocol: string): Guards {
  const fail = (message: string, field?: string): never => {
    throw new ProtocolError(`invalid ${protocol} message: ${message}`, field === undefined ? {} : { field })
  }
  const isObject = (value: unknown): value is RawMessage =>
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  const checkKeys = (raw: RawMessage, allowed: readonly string[], what: string): void => {
    let count = 0
    for (const key in raw) {
      if (!Object.hasOwn(raw, key)) continue
      if (!allowed.includes(key)) fail(`unknown field ${JSON.stringify(key.slice(0, 64))} in ${what}`, key)
      count++
    }
    if (count !== allowed.length) {
      const missing = allowed.find((key) => !Object.hasOwn(raw, key))
      fail(`missing field ${String(missing)} in ${what}`, missing)
    }
  }
  return { fail, isObject, checkKeys }
}
