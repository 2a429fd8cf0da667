import { InvalidArgumentError } from '../../api/errors.js'
import type { PeerId } from '../types.js'
import type { AllowPredicate } from './gater.js'

/** At most this many peers in one cut: more than a cluster has members (16 locally, 256 in a cluster file). */
export const CUT_PEERS_MAX = 256

/**
 * Testing hook, for the partition harness only (cluster/node-main.ts over its IPC channel, never
 * from the network): cuts this node's links to some peers by narrowing the connection gater. A cut
 * peer's connections are closed, our dials to it are refused by our own gater (UnavailableError at
 * once, not a timeout) and its dials are refused on arrival. A partition is symmetric only when
 * both ends cut: one end alone still lets the other complete a handshake before being dropped.
 *
 * The gater keeps its normal access decision underneath: a cut narrows it, a heal restores it.
 */
export class LinkFaults {
  private readonly transport: { setAllowed: (isAllowed: AllowPredicate) => void }
  private readonly isAllowed: AllowPredicate
  private readonly self: PeerId
  private cut: ReadonlySet<PeerId> = new Set()

  constructor (transport: { localId: PeerId, setAllowed: (isAllowed: AllowPredicate) => void }, isAllowed: AllowPredicate) {
    this.transport = transport
    this.self = transport.localId
    this.isAllowed = isAllowed
  }

  /** The peers whose links are cut now. */
  get cutPeers (): PeerId[] {
    return [...this.cut]
  }

  /** Cuts the links to exactly these peers (replacing an earlier cut); an empty list heals. */
  cutLinks (peers: readonly PeerId[]): void {
    if (!Array.isArray(peers) || peers.length > CUT_PEERS_MAX || !peers.every(p => typeof p === 'string' && p.length > 0)) {
      throw new InvalidArgumentError(`cutLinks needs a list of at most ${CUT_PEERS_MAX} peer ids`)
    }
    if (peers.includes(this.self)) throw new InvalidArgumentError('a node cannot cut its link to itself')
    this.cut = new Set(peers)
    this.apply()
  }

  /** Restores every cut link; the peers may be dialled again at once. */
  healLinks (): void {
    this.cut = new Set()
    this.apply()
  }

  private apply (): void {
    const cut = this.cut
    const base = this.isAllowed
    this.transport.setAllowed(cut.size === 0 ? base : (peer) => !cut.has(peer) && base(peer))
  }
}
