import { consistencyLevels, isConsistencyLevel, type ConsistencyLevel } from '../api/consistency.js'
import { UsageError } from './errors.js'

/**
 * Checks of command-line input. Each throws UsageError with a message that names the flag and
 * what it accepts, so a typo ends with exit 2 before anything touches the cluster.
 */
export function parseIntFlag (flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw)
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  }
  return value
}

export function parseConsistency (raw: string): ConsistencyLevel {
  if (!isConsistencyLevel(raw)) throw new UsageError(`--consistency must be one of ${consistencyLevels.join(', ')}, got ${JSON.stringify(raw)}`)
  return raw
}

const peerAddress = /^\/.+\/p2p\/[1-9A-HJ-NP-Za-km-z]{1,64}$/
const peerIdPattern = /^[1-9A-HJ-NP-Za-km-z]{1,64}$/
const addressesMax = 64

/** `--peers a,b` (repeatable): multiaddrs ending in /p2p/<peerId>. */
export function parsePeers (raw: string[]): string[] {
  const peers = raw.flatMap(r => r.split(',')).map(a => a.trim()).filter(a => a.length > 0)
  if (peers.length === 0) throw new UsageError('--peers needs at least one multiaddr ending in /p2p/<peerId>')
  if (peers.length > addressesMax) throw new UsageError(`--peers takes at most ${addressesMax} addresses`)
  for (const p of peers) {
    if (!peerAddress.test(p)) throw new UsageError(`--peers: ${JSON.stringify(p)} is not a multiaddr ending in /p2p/<peerId> (for example /ip4/127.0.0.1/tcp/7001/p2p/12D3KooW...)`)
  }
  return peers
}

export function parseMultiaddrs (flag: string, raw: string[]): string[] {
  const addrs = raw.flatMap(r => r.split(',')).map(a => a.trim()).filter(a => a.length > 0)
  if (addrs.length > addressesMax) throw new UsageError(`${flag} takes at most ${addressesMax} addresses`)
  for (const a of addrs) {
    if (!a.startsWith('/') || a.length > 512) throw new UsageError(`${flag}: ${JSON.stringify(a)} is not a multiaddr (for example /ip4/127.0.0.1/tcp/7001)`)
  }
  return addrs
}

export function parsePeerId (raw: string): string {
  if (!peerIdPattern.test(raw)) throw new UsageError(`${JSON.stringify(raw)} is not a peer id (base58 text such as 12D3KooW...; quorumkv member list shows them)`)
  return raw
}

/** `--http 9464` or `--http host:port`; a bare port binds 127.0.0.1 so metrics stay private. */
export function parseHttpListen (raw: string): string {
  if (/^\d{1,5}$/.test(raw)) return `127.0.0.1:${parseIntFlag('--http', raw, 0, 65_535)}`
  const match = /^([^:\s]+):(\d{1,5})$/.exec(raw)
  if (match === null) throw new UsageError(`--http must be a port or host:port (for example 9464 or 127.0.0.1:9464), got ${JSON.stringify(raw)}`)
  parseIntFlag('--http', match[2] as string, 0, 65_535)
  return raw
}

/**
 * A value from the command line: JSON when it parses (`42`, `true`, `{"a":1}`, `"text"`), else the
 * text itself, so `put greeting hello` stores the string "hello".
 */
export function parseValue (raw: string, asString: boolean): unknown {
  if (asString) return raw
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return raw
  }
}

/** How a value read back is shown: text as is, anything else as JSON (bytes as base64). */
export function showValue (value: unknown): string {
  if (typeof value === 'string') return value
  return JSON.stringify(value, bytesAsBase64) ?? String(value)
}

/** A JSON.stringify replacer; it looks at the holder because Buffer's toJSON runs before it. */
export function bytesAsBase64 (this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key]
  return original instanceof Uint8Array ? { $base64: Buffer.from(original).toString('base64') } : value
}
