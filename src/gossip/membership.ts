import type { PeerId } from '../transport/types.js'
import { BroadcastQueue } from './broadcast-queue.js'
import type { SwimConfig } from './config.js'
import { CHANGES_MAX, INCARNATION_MAX, MEMBERS_MAX } from './constants.js'
import { applyAlive, applyDead, applySuspect, MemberTable, sameAddresses, type Applied, type MemberState } from './member-table.js'
import type { Update } from './messages.js'
import type { LivenessChange, MemberView } from './outputs.js'
import { retransmitLimit, suspicionTimeoutMs } from './timing.js'

/**
 * What applying one update asked of the protocol: `refuted` (this node was accused and raised its
 * incarnation: Lifeguard counts it against local health), or `conflict` (the update's subject
 * must be told this node's view; see reportConflict in swim.ts).
 */
export type ApplyOutcome = 'refuted' | 'conflict' | undefined

/**
 * What this node believes about the members and itself, how updates change that belief, and the
 * queue of news still to spread. No timing and no messages: SwimCore decides when to probe and
 * whom to tell; this class decides what is true.
 */
export class Membership {
  private readonly table = new MemberTable()
  private readonly queue = new BroadcastQueue(MEMBERS_MAX + 1)
  private inc: number
  private addresses: readonly string[]
  private changes: LivenessChange[] = []
  private changesDropped = 0

  constructor (readonly self: PeerId, addresses: readonly string[], incarnation: number, private readonly config: SwimConfig) {
    this.inc = incarnation
    this.addresses = addresses.slice()
    // Tells the others this node's addresses (and, after a restart, that it is back).
    this.queue.enqueue(this.selfAlive())
  }

  get incarnation (): number {
    return this.inc
  }

  /** N of the log(N) bounds: the other members plus this node. */
  get memberCount (): number {
    return this.table.size + 1
  }

  get hasNews (): boolean {
    return this.queue.size > 0
  }

  get (peer: PeerId): MemberState | undefined {
    return this.table.get(peer)
  }

  values (): IterableIterator<MemberState> {
    return this.table.values()
  }

  /** Replaces the other members; returns the ones removed. */
  setMembers (others: readonly PeerId[], nowMs: number): PeerId[] {
    const removed = this.table.setMembers(others, nowMs)
    for (const peer of removed) this.queue.remove(peer)
    return removed
  }

  /** False when unchanged; otherwise the new addresses go out under a new incarnation. */
  setAddresses (addresses: readonly string[]): boolean {
    if (sameAddresses(addresses, this.addresses)) return false
    this.addresses = addresses.slice()
    this.raiseIncarnation(this.inc)
    return true
  }

  seen (peer: PeerId, nowMs: number): void {
    this.table.seen(peer, nowMs)
  }

  apply (u: Update, nowMs: number): ApplyOutcome {
    if (u.peer === this.self) return this.applyAboutSelf(u)
    const m = this.table.get(u.peer)
    if (m === undefined) return undefined
    let applied: Applied | undefined
    switch (u.kind) {
      case 'alive': applied = applyAlive(m, u, nowMs); break
      case 'suspect': applied = applySuspect(m, u, nowMs, this.suspicionTimeoutMs()); break
      case 'dead': applied = applyDead(m, u, nowMs); break
    }
    if (applied === undefined) {
      // Two stories about one member at one incarnation: a process restarted without
      // remembering its incarnation advertises new addresses at an old number.
      return u.kind === 'alive' && u.inc === m.incarnation && m.known && !sameAddresses(u.addresses, m.addresses) ? 'conflict' : undefined
    }
    this.record(m, applied, nowMs)
    this.queue.enqueue(u)
    return undefined
  }

  /**
   * A message's `inc` is first-hand: only its sender raises its own incarnation. Hearing a member
   * we suspect (or buried) speak at a higher incarnation is its refutation, even if the alive
   * update that carries it was lost. Applied here only, not re-gossiped: the header has no
   * addresses, so the member's own alive update stays the one that spreads.
   */
  heardFrom (from: PeerId, inc: number, nowMs: number): void {
    const m = this.table.get(from)
    if (m === undefined || inc <= m.incarnation) return
    this.record(m, applyAlive(m, { kind: 'alive', peer: from, inc, addresses: m.addresses.slice() }, nowMs), nowMs)
    // The addresses are the old incarnation's: let the member's own alive at `inc` replace them.
    m.known = false
  }

  /** This node's own probe of `peer` failed. */
  suspect (peer: PeerId, nowMs: number): void {
    const m = this.table.get(peer)
    if (m === undefined || m.liveness !== 'alive') return
    const u: Update = { kind: 'suspect', peer, inc: m.incarnation, from: this.self }
    this.record(m, applySuspect(m, u, nowMs, this.suspicionTimeoutMs()), nowMs)
    this.queue.enqueue(u)
  }

  /** Suspicions nobody refuted in time become deaths. */
  expireSuspicions (nowMs: number): void {
    for (const m of this.table.values()) {
      if (m.suspectDeadlineMs > nowMs) continue
      const u: Update = { kind: 'dead', peer: m.peerId, inc: m.incarnation, from: this.self }
      this.record(m, applyDead(m, u, nowMs), nowMs)
      this.queue.enqueue(u)
    }
  }

  nextSuspicionDeadlineMs (): number {
    let at = Infinity
    for (const m of this.table.values()) if (m.suspectDeadlineMs < at) at = m.suspectDeadlineMs
    return at
  }

  anySuspect (): boolean {
    for (const m of this.table.values()) if (m.liveness === 'suspect') return true
    return false
  }

  /** `first`, then the least-sent queued news, up to updatesPerMessageMax in all. */
  piggyback (first: Update[]): Update[] {
    const max = this.config.updatesPerMessageMax
    if (first.length >= max) return first.slice(0, max)
    const taken = this.queue.take(max - first.length, retransmitLimit(this.config.retransmitMultiplier, this.memberCount))
    return first.length === 0 ? taken : first.concat(taken)
  }

  selfAlive (): Update {
    return { kind: 'alive', peer: this.self, inc: this.inc, addresses: this.addresses.slice() }
  }

  /** What this node holds against a suspect or dead member, to tell it. */
  accusation (m: MemberState): Update {
    return { kind: m.liveness === 'dead' ? 'dead' : 'suspect', peer: m.peerId, inc: m.incarnation, from: this.self }
  }

  member (peer: PeerId, nowMs: number): MemberView | undefined {
    if (peer === this.self) return this.selfView(nowMs)
    const m = this.table.get(peer)
    return m === undefined ? undefined : view(m)
  }

  /** This node first, then the others in member-set order. */
  members (nowMs: number): MemberView[] {
    const out = [this.selfView(nowMs)]
    for (const m of this.table.values()) out.push(view(m))
    return out
  }

  /** Liveness changes since the last call, and how many were lost to CHANGES_MAX. */
  takeChanges (): { changes: LivenessChange[], dropped: number } {
    const out = { changes: this.changes, dropped: this.changesDropped }
    this.changes = []
    this.changesDropped = 0
    return out
  }

  private applyAboutSelf (u: Update): ApplyOutcome {
    if (u.kind === 'alive') {
      // Another process of this peer id (the one before a restart) spoke at this incarnation or
      // later: move past it so this process's addresses win.
      if (u.inc > this.inc || (u.inc === this.inc && !sameAddresses(u.addresses, this.addresses))) this.raiseIncarnation(u.inc)
      return undefined
    }
    if (u.inc >= this.inc) {
      this.raiseIncarnation(u.inc)
      return 'refuted'
    }
    // A stale accusation is still going around: spread the current incarnation again.
    this.queue.enqueue(this.selfAlive())
    return undefined
  }

  private raiseIncarnation (atLeast: number): void {
    this.inc = Math.min(INCARNATION_MAX, Math.max(this.inc, atLeast) + 1)
    this.queue.enqueue(this.selfAlive())
  }

  private suspicionTimeoutMs (): number {
    return suspicionTimeoutMs(this.config.suspicionMultiplier, this.memberCount, this.config.probeIntervalMs)
  }

  private record (m: MemberState, applied: Applied | undefined, nowMs: number): void {
    if (applied === undefined) return
    if (applied.previous === m.liveness && !applied.addressesChanged) return
    if (this.changes.length >= CHANGES_MAX) {
      this.changesDropped++
      return
    }
    this.changes.push({ peerId: m.peerId, liveness: m.liveness, previous: applied.previous, incarnation: m.incarnation, addresses: m.addresses, atMs: nowMs })
  }

  private selfView (nowMs: number): MemberView {
    return { peerId: this.self, liveness: 'alive', incarnation: this.inc, addresses: this.addresses, lastSeenMs: nowMs, stateChangeMs: 0 }
  }
}

function view (m: MemberState): MemberView {
  return { peerId: m.peerId, liveness: m.liveness, incarnation: m.incarnation, addresses: m.addresses, lastSeenMs: m.lastSeenMs, stateChangeMs: m.stateChangeMs }
}

export function aliveOf (m: MemberState): Update {
  return { kind: 'alive', peer: m.peerId, inc: m.incarnation, addresses: m.addresses.slice() }
}
