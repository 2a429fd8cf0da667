import { InternalError, InvalidArgumentError, ProtocolError, type ErrorDetails } from '../api/errors.js'
import { assertNodeId, compareNodeIds, nodeIdBytesMax, nodeIdProblem } from './node-id.js'

/**
 * A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014): a wall-clock
 * millisecond, a logical counter that orders events within one millisecond and across clock
 * skew, and the issuing node as the final tiebreak. Timestamps are plain frozen objects, not class
 * instances, so msgpack stores and sends them as they are.
 */
export interface Hlc {
  readonly wallMs: number
  readonly logical: number
  readonly node: string
}

/**
 * The logical counter fits 4 bytes of the encoding. When it would pass this bound (2^32 events
 * inside one millisecond, or a peer's counter already at the bound) the clock carries into the wall
 * part: wallMs + 1, logical 0. That keeps every timestamp unique and increasing, at the cost of the
 * clock running at most 1 ms ahead per 2^32 events.
 */
export const hlcLogicalMax = 0xffff_ffff

/** Fixed width of `encodeHlc`: 8 bytes wall ms, 4 bytes logical, node id padded to 64 bytes. */
export const hlcEncodedBytes = 8 + 4 + nodeIdBytesMax

const wallMsMax = Number.MAX_SAFE_INTEGER

/**
 * A remote timestamp is further ahead of the local wall clock than `maxDriftMs`. Accepting it
 * would drag this node's clock (and every timestamp it issues afterwards) into the future, so it
 * is refused and the clock is left as it was. Code INVALID_ARGUMENT: the timestamp is unusable as
 * given; it may become acceptable once the local clock catches up or the sender's clock is fixed.
 */
export class ClockDriftError extends InvalidArgumentError {
  constructor (message: string, details?: ErrorDetails) { super(message, details) }
}

export interface HybridClockInit {
  /** This node's id (1-64 UTF-8 bytes, see node-id.ts). */
  node: string
  /** Wall-clock milliseconds, injected (TimeSource.now in production, a virtual clock in tests). */
  now: () => number
  /** `update` refuses a remote wall time more than this far ahead of the local wall clock. */
  maxDriftMs: number
  /**
   * The highest timestamp issued before a restart, if the caller persisted it. The clock never
   * issues a timestamp at or below it, so a wall clock that went back across a restart is harmless.
   */
  last?: Hlc
}

export class HybridClock {
  readonly node: string
  private readonly wallNow: () => number
  private readonly maxDriftMs: number
  private wallMs: number
  private logical: number

  constructor (init: HybridClockInit) {
    assertNodeId(init.node)
    if (!Number.isSafeInteger(init.maxDriftMs) || init.maxDriftMs < 0) {
      throw new InvalidArgumentError('maxDriftMs must be a non-negative integer', { maxDriftMs: init.maxDriftMs })
    }
    this.node = init.node
    this.wallNow = init.now
    this.maxDriftMs = init.maxDriftMs
    if (init.last !== undefined) {
      const last = checkHlc(init.last, invalidArgument)
      this.wallMs = last.wallMs
      this.logical = last.logical
    } else {
      this.wallMs = 0
      this.logical = 0
    }
  }

  /** The last timestamp issued (or restored); does not advance the clock. */
  peek (): Hlc {
    return makeHlc(this.wallMs, this.logical, this.node)
  }

  /** A timestamp for a local event, greater than every timestamp this clock issued or received. */
  now (): Hlc {
    const pt = this.readWall()
    if (pt > this.wallMs) this.set(pt, 0)
    else this.set(this.wallMs, this.logical + 1)
    return this.peek()
  }

  /**
   * Merges a timestamp received from a peer and returns a timestamp for the receive event, greater
   * than both `remote` and everything this clock issued before. Throws ClockDriftError, leaving
   * the clock unchanged, when `remote` is more than maxDriftMs ahead of the local wall clock, and
   * InvalidArgumentError when it is malformed.
   */
  update (remote: Hlc): Hlc {
    const r = checkHlc(remote, invalidArgument)
    const pt = this.readWall()
    const aheadMs = r.wallMs - pt
    if (aheadMs > this.maxDriftMs) {
      throw new ClockDriftError(
        `a timestamp from ${r.node} is ${aheadMs} ms ahead of this node's clock (limit ${this.maxDriftMs} ms): check NTP on both nodes`,
        { remoteNode: r.node, remoteWallMs: r.wallMs, localWallMs: pt, aheadMs, maxDriftMs: this.maxDriftMs }
      )
    }
    const wall = Math.max(pt, this.wallMs, r.wallMs)
    if (wall === this.wallMs && wall === r.wallMs) this.set(wall, Math.max(this.logical, r.logical) + 1)
    else if (wall === this.wallMs) this.set(wall, this.logical + 1)
    else if (wall === r.wallMs) this.set(wall, r.logical + 1)
    else this.set(wall, 0)
    return this.peek()
  }

  private readWall (): number {
    const pt = Math.floor(this.wallNow())
    if (!Number.isSafeInteger(pt) || pt < 0) throw new InternalError('the injected wall clock returned an invalid time', { wallMs: pt })
    return pt
  }

  private set (wallMs: number, logical: number): void {
    if (logical > hlcLogicalMax) {
      wallMs += 1
      logical = 0
    }
    if (wallMs > wallMsMax) throw new InternalError('hybrid logical clock overflow', { wallMs })
    this.wallMs = wallMs
    this.logical = logical
  }
}

function makeHlc (wallMs: number, logical: number, node: string): Hlc {
  return Object.freeze({ wallMs, logical, node })
}

/** Total order: wall ms, then logical, then node id by code point (= UTF-8 byte order). */
export function compareHlc (a: Hlc, b: Hlc): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  const c = compareNodeIds(a.node, b.node)
  return c < 0 ? -1 : c > 0 ? 1 : 0
}

export function maxHlc (a: Hlc, b: Hlc): Hlc {
  return compareHlc(a, b) >= 0 ? a : b
}

type ErrorFactory = (message: string, details?: ErrorDetails) => Error
const invalidArgument: ErrorFactory = (m, d) => new InvalidArgumentError(m, d)
const protocolError: ErrorFactory = (m, d) => new ProtocolError(m, d)

function checkHlc (input: unknown, fail: ErrorFactory): Hlc {
  if (input === null || typeof input !== 'object') throw fail('a hybrid logical timestamp must be an object { wallMs, logical, node }')
  const { wallMs, logical, node } = input as Record<string, unknown>
  if (typeof wallMs !== 'number' || !Number.isSafeInteger(wallMs) || wallMs < 0) throw fail('timestamp wallMs must be a non-negative safe integer', { wallMs: String(wallMs) })
  if (typeof logical !== 'number' || !Number.isInteger(logical) || logical < 0 || logical > hlcLogicalMax) throw fail(`timestamp logical must be an integer in 0..${hlcLogicalMax}`, { logical: String(logical) })
  const problem = nodeIdProblem(node)
  if (problem !== undefined) throw fail(`timestamp node id ${problem}`)
  return makeHlc(wallMs, logical, node as string)
}

/** Validates a timestamp that came from a peer or from disk; garbage is a ProtocolError. */
export function parseHlc (input: unknown): Hlc {
  return checkHlc(input, protocolError)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Fixed-width (hlcEncodedBytes) big-endian encoding whose unsigned byte order equals compareHlc.
 * The node id is padded with NUL bytes rather than length-prefixed: a length prefix would order
 * "b" before "aa". Padding preserves order because node ids contain no NUL, so a shorter id that
 * is a prefix of a longer one meets a 0x00 where the longer has a non-zero byte, and sorts first,
 * exactly as the code-point order does.
 */
export function encodeHlc (h: Hlc): Uint8Array {
  const t = checkHlc(h, invalidArgument)
  const out = new Uint8Array(hlcEncodedBytes)
  const view = new DataView(out.buffer)
  view.setUint32(0, Math.floor(t.wallMs / 0x1_0000_0000))
  view.setUint32(4, t.wallMs >>> 0)
  view.setUint32(8, t.logical)
  encoder.encodeInto(t.node, out.subarray(12))
  return out
}

/** Inverse of encodeHlc; bytes that are not a valid encoding are a ProtocolError. */
export function decodeHlc (bytes: Uint8Array): Hlc {
  if (bytes.length !== hlcEncodedBytes) throw new ProtocolError(`an encoded timestamp is ${hlcEncodedBytes} bytes, got ${bytes.length}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const wallMs = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4)
  const logical = view.getUint32(8)
  let end = hlcEncodedBytes
  while (end > 12 && bytes[end - 1] === 0) end--
  let node: string
  try {
    node = decoder.decode(bytes.subarray(12, end))
  } catch (err) {
    throw new ProtocolError('an encoded timestamp has a node id that is not UTF-8', {}, { cause: err })
  }
  return checkHlc({ wallMs, logical, node }, protocolError)
}

const hlcStringPattern = /^([0-9a-f]{14})-([0-9a-f]{8})-(.+)$/s

/**
 * Compact text form for versions in the API: `<wall ms, 14 hex digits>-<logical, 8 hex>-<node>`,
 * for example `0193a2b4c5d6e7-00000002-node-a`. Fixed-width hex keeps it short and makes string
 * order follow clock order for ASCII node ids.
 */
export function hlcToString (h: Hlc): string {
  const t = checkHlc(h, invalidArgument)
  return `${t.wallMs.toString(16).padStart(14, '0')}-${t.logical.toString(16).padStart(8, '0')}-${t.node}`
}

/** Inverse of hlcToString; anything else is an InvalidArgumentError (it comes from a caller). */
export function hlcFromString (text: string): Hlc {
  const m = typeof text === 'string' && text.length <= 24 + nodeIdBytesMax ? hlcStringPattern.exec(text) : null
  if (m === null) throw new InvalidArgumentError('not a quorumkv timestamp: expected "<14 hex>-<8 hex>-<node id>"', { text: String(text).slice(0, 120) })
  return checkHlc({ wallMs: parseInt(m[1] as string, 16), logical: parseInt(m[2] as string, 16), node: m[3] }, invalidArgument)
}
