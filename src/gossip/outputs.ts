import type { PeerId } from '../transport/types.js'
import type { GossipMessage, Liveness } from './messages.js'

/** What the SWIM core hands its driver: messages to send, changes to report, counts to export. */
export interface Outbound {
  to: PeerId
  message: GossipMessage
}

/** How a probe ended: acked by the target, acked through a helper, or not at all. */
export type ProbeResult = 'ok' | 'indirect' | 'failed'

export interface LivenessChange {
  peerId: PeerId
  liveness: Liveness
  /** Equal to `liveness` when only the advertised addresses changed. */
  previous: Liveness
  incarnation: number
  addresses: readonly string[]
  /** The core's clock (the driver's monotonic view of its TimeSource), not wall-clock time. */
  atMs: number
}

/** What the driver must do after a tick or step (etcd-raft's Ready): send, report, count. */
export interface Ready {
  messages: Outbound[]
  changes: LivenessChange[]
  probes: ProbeResult[]
  /** Times this node raised its incarnation to answer a suspicion or death notice about itself. */
  refutations: number
  /** Outbound messages or changes lost to OUTBOX_MAX / CHANGES_MAX (a bug if ever non-zero). */
  dropped: number
}

/** One member as the core sees it; times are on the core's clock. */
export interface MemberView {
  peerId: PeerId
  liveness: Liveness
  incarnation: number
  addresses: readonly string[]
  lastSeenMs: number | undefined
  stateChangeMs: number
}
