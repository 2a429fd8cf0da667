import { InvalidArgumentError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'

/**
 * A session token: what a caller has written or observed, as a compact string it can hand to
 * another process. `raftIndex` is the highest Raft log index the session has seen; read-your-writes
 * and causal reads on raft collections wait until the serving replica has applied it. Quorum
 * collections add a version vector here (the replication layer fills `vv`).
 */
export interface SessionState {
  raftIndex: number
  /** node id -> counter: the causal past of the session on quorum collections. */
  vv: Record<string, number>
}

const tokenVersion = 1
/** Tokens travel inside agents' messages; keep a hard cap so a forged one cannot be huge. */
export const sessionTokenCharsMax = 16_384

export function emptySession (): SessionState {
  return { raftIndex: 0, vv: {} }
}

export function encodeSession (state: SessionState): string {
  return Buffer.from(encode([tokenVersion, state.raftIndex, state.vv])).toString('base64url')
}

export function decodeSession (token: string): SessionState {
  if (typeof token !== 'string' || token.length === 0 || token.length > sessionTokenCharsMax || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new InvalidArgumentError(`session must be a token returned by quorumkv (base64url, at most ${sessionTokenCharsMax} characters)`)
  }
  let raw: unknown
  try {
    raw = decode(Buffer.from(token, 'base64url'))
  } catch {
    throw new InvalidArgumentError('session token is corrupt: pass the token exactly as quorumkv returned it')
  }
  if (!Array.isArray(raw) || raw[0] !== tokenVersion || !Number.isSafeInteger(raw[1]) || (raw[1] as number) < 0 ||
    raw[2] === null || typeof raw[2] !== 'object' || Array.isArray(raw[2])) {
    throw new InvalidArgumentError(`session token is not a version ${tokenVersion} token: pass the token exactly as quorumkv returned it`)
  }
  const vv: Record<string, number> = {}
  for (const [node, counter] of Object.entries(raw[2] as Record<string, unknown>)) {
    if (!Number.isSafeInteger(counter) || (counter as number) < 0) throw new InvalidArgumentError('session token is corrupt: bad version vector')
    vv[node] = counter as number
  }
  return { raftIndex: raw[1] as number, vv }
}

/** The least session that has seen everything both have seen. */
export function mergeSessions (a: SessionState, b: SessionState): SessionState {
  const vv = { ...a.vv }
  for (const [node, counter] of Object.entries(b.vv)) vv[node] = Math.max(vv[node] ?? 0, counter)
  return { raftIndex: Math.max(a.raftIndex, b.raftIndex), vv }
}
