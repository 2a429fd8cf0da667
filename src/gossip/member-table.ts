import type { PeerId } from '../transport/types.js'
import type { AliveUpdate, Liveness, SuspicionUpdate } from './messages.js'

/** What this node believes about one other member. */
export interface MemberState {
  readonly peerId: PeerId
  liveness: Liveness
  incarnation: number
  addresses: readonly string[]
  /**
   * False while `addresses` are not confirmed for `incarnation`: at first (incarnation 0 is a
   * placeholder) and after an incarnation learned from a message header. An alive update at that
   * same incarnation may then fill them in.
   */
  known: boolean
  /** When `liveness` last changed (this node's clock). */
  stateChangeMs: number
  /** When this node last heard from the peer directly, or through an indirect ack. */
  lastSeenMs: number | undefined
  /** When a suspicion turns into death; Infinity unless suspect. */
  suspectDeadlineMs: number
}

/** What an applied update changed; undefined from an apply function means it was ignored. */
export interface Applied {
  previous: Liveness
  addressesChanged: boolean
}

/**
 * The members other than this node and the SWIM precedence rules for updates about them. An
 * update wins only with news: a higher incarnation, or at the same incarnation a worse state
 * (alive < suspect < dead). Only the member itself raises its incarnation (a refutation), so
 * "suspect at 4" can never hide "alive at 5", and every node converges on the same state per
 * incarnation whatever order the updates arrive in. The member set itself is not gossiped: it
 * comes from Raft through `setMembers`.
 */
export class MemberTable {
  private readonly members = new Map<PeerId, MemberState>()

  get size (): number {
    return this.members.size
  }

  get (peer: PeerId): MemberState | undefined {
    return this.members.get(peer)
  }

  values (): IterableIterator<MemberState> {
    return this.members.values()
  }

  /** Makes the table hold exactly `peers` (kept in that order); returns the peers removed. */
  setMembers (peers: readonly PeerId[], nowMs: number): PeerId[] {
    const wanted = new Set(peers)
    const removed: PeerId[] = []
    for (const peer of this.members.keys()) {
      if (!wanted.has(peer)) removed.push(peer)
    }
    const next = new Map<PeerId, MemberState>()
    for (const peer of peers) {
      next.set(peer, this.members.get(peer) ?? newMember(peer, nowMs))
    }
    this.members.clear()
    for (const [peer, state] of next) this.members.set(peer, state)
    return removed
  }

  seen (peer: PeerId, nowMs: number): void {
    const m = this.members.get(peer)
    if (m !== undefined) m.lastSeenMs = nowMs
  }
}

function newMember (peerId: PeerId, nowMs: number): MemberState {
  // Optimistic start, as memberlist's join: a member is alive until a probe says otherwise.
  return { peerId, liveness: 'alive', incarnation: 0, addresses: [], known: false, stateChangeMs: nowMs, lastSeenMs: undefined, suspectDeadlineMs: Infinity }
}

export function sameAddresses (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function applyAlive (m: MemberState, u: AliveUpdate, nowMs: number): Applied | undefined {
  const news = u.inc > m.incarnation || (u.inc === m.incarnation && m.liveness === 'alive' && !m.known)
  if (!news) return undefined
  const previous = m.liveness
  const addressesChanged = !sameAddresses(m.addresses, u.addresses)
  m.liveness = 'alive'
  m.incarnation = u.inc
  m.addresses = u.addresses.slice()
  m.known = true
  m.suspectDeadlineMs = Infinity
  if (previous !== 'alive') m.stateChangeMs = nowMs
  return { previous, addressesChanged }
}

export function applySuspect (m: MemberState, u: SuspicionUpdate, nowMs: number, timeoutMs: number): Applied | undefined {
  const news = m.liveness === 'alive' ? u.inc >= m.incarnation : u.inc > m.incarnation
  if (!news) return undefined
  const previous = m.liveness
  m.liveness = 'suspect'
  m.incarnation = u.inc
  m.suspectDeadlineMs = nowMs + timeoutMs
  if (previous !== 'suspect') m.stateChangeMs = nowMs
  return { previous, addressesChanged: false }
}

export function applyDead (m: MemberState, u: SuspicionUpdate, nowMs: number): Applied | undefined {
  const news = m.liveness === 'dead' ? u.inc > m.incarnation : u.inc >= m.incarnation
  if (!news) return undefined
  const previous = m.liveness
  m.liveness = 'dead'
  m.incarnation = u.inc
  m.suspectDeadlineMs = Infinity
  if (previous !== 'dead') m.stateChangeMs = nowMs
  return { previous, addressesChanged: false }
}
