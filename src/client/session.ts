import { InvalidArgumentError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'
import { emptyQuorumSession, joinSessions, sessionFromWire, sessionToWire, type QuorumSession } from '../replication/session.js'

/**
 * A session token: what a caller has written or observed, as a compact string it can hand to
 * another process. `raftIndex` is the highest Raft log index the session has seen; read-your-writes
 * and causal reads on raft collections wait until the serving replica has applied it. `quorum` is
 * the session's causal past on quorum collections, bounded in size (docs/replication.md).
 */
export interface SessionState {
  raftIndex: number
  quorum: QuorumSession
}

const tokenVersion = 2
/** Tokens travel inside agents' messages; keep a hard cap so a forged one cannot be huge. */
export const sessionTokenCharsMax = 65_536

export function emptySession (): SessionState {
  return { raftIndex: 0, quorum: emptyQuorumSession() }
}

export function encodeSession (state: SessionState): string {
  return Buffer.from(encode([tokenVersion, state.raftIndex, sessionToWire(state.quorum)])).toString('base64url')
}

/**
 * Tokens decoded lately, newest last: the calls a busy client has in flight carry the same token,
 * and decoding one that spans many keys costs tens of microseconds. Decoded states are never
 * changed in place, so they can be shared.
 */
const decodedCacheMax = 64
const decoded = new Map<string, SessionState>()

export function decodeSession (token: string): SessionState {
  const cached = typeof token === 'string' ? decoded.get(token) : undefined
  if (cached !== undefined) return cached
  const state = decodeUncached(token)
  if (decoded.size >= decodedCacheMax) decoded.delete(decoded.keys().next().value as string)
  decoded.set(token, state)
  return state
}

function decodeUncached (token: string): SessionState {
  if (typeof token !== 'string' || token.length === 0 || token.length > sessionTokenCharsMax || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new InvalidArgumentError(`session must be a token returned by quorumkv (base64url, at most ${sessionTokenCharsMax} characters)`)
  }
  let raw: unknown
  try {
    raw = decode(Buffer.from(token, 'base64url'))
  } catch {
    throw new InvalidArgumentError('session token is corrupt: pass the token exactly as quorumkv returned it')
  }
  if (!Array.isArray(raw) || (raw[0] !== 1 && raw[0] !== tokenVersion) || !Number.isSafeInteger(raw[1]) || (raw[1] as number) < 0) {
    throw new InvalidArgumentError(`session token is not a version ${tokenVersion} token: pass the token exactly as quorumkv returned it`)
  }
  // Version 1 tokens (before quorum collections) carry no quorum part.
  const quorum = raw[0] === 1 ? emptyQuorumSession() : sessionFromWire(raw[2])
  return { raftIndex: raw[1] as number, quorum }
}

/** The least session that has seen everything both have seen. */
export function mergeSessions (a: SessionState, b: Partial<SessionState>): SessionState {
  return {
    raftIndex: Math.max(a.raftIndex, b.raftIndex ?? 0),
    quorum: b.quorum === undefined ? a.quorum : joinSessions(a.quorum, b.quorum)
  }
}
