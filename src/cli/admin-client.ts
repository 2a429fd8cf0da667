import { pino } from 'pino'
import { Registry } from 'prom-client'
import { ProtocolError } from '../api/errors.js'
import { adminProtocol, type AdminMember, type AdminRaftStatus, type AdminRequest, type AdminStatus } from '../service/admin-protocol.js'
import { loadIdentity } from '../transport/libp2p/identity.js'
import { Libp2pTransport } from '../transport/libp2p/transport.js'

/**
 * The CLI's side of the admin protocol: a libp2p peer that listens nowhere and asks nodes for
 * their status or a membership change. Everything a node answers is checked before use.
 */
export class AdminClient {
  private constructor (private readonly transport: Libp2pTransport, private readonly book: Map<string, string[]>) {}

  /** `peers`: multiaddrs ending in /p2p/<peerId>; `identity`: a key file allowed on the nodes. */
  static async open (identity: string, peers: string[]): Promise<AdminClient> {
    const book = addressBook(peers)
    const key = await loadIdentity(identity)
    const transport = new Libp2pTransport(
      { logger: pino({ level: 'silent' }), registry: new Registry() },
      { privateKey: key.privateKey, listen: [], peers: Object.fromEntries(book), isAllowed: (peer) => book.has(peer) }
    )
    await transport.start()
    return new AdminClient(transport, book)
  }

  get peers (): string[] {
    return [...this.book.keys()]
  }

  /** Learns addresses of members found in a node's answer, so they can be asked too. */
  addPeer (peerId: string, addrs: string[]): void {
    const usable = addrs.filter(a => a.endsWith(`/p2p/${peerId}`))
    if (usable.length === 0 || this.book.has(peerId)) return
    this.book.set(peerId, usable)
    this.transport.setPeerAddresses(peerId, usable)
  }

  async status (peer: string, timeoutMs: number): Promise<AdminStatus> {
    return parseStatus(await this.request(peer, { op: 'status' }, timeoutMs))
  }

  async members (peer: string, timeoutMs: number): Promise<AdminMember[]> {
    const raw = await this.request(peer, { op: 'members' }, timeoutMs) as { members?: unknown }
    return parseMembers(raw?.members)
  }

  async change (peer: string, request: Extract<AdminRequest, { peerId: string }>, timeoutMs: number): Promise<void> {
    const raw = await this.request(peer, request, timeoutMs) as { ok?: unknown }
    if (raw?.ok !== true) throw new ProtocolError('node sent a malformed answer to a membership change')
  }

  async close (): Promise<void> {
    await this.transport.stop()
  }

  private async request (peer: string, request: AdminRequest, timeoutMs: number): Promise<unknown> {
    return await this.transport.request(peer, adminProtocol, request, { timeoutMs })
  }
}

export function addressBook (peers: string[]): Map<string, string[]> {
  const book = new Map<string, string[]>()
  for (const addr of peers) {
    const peer = /\/p2p\/([1-9A-HJ-NP-Za-km-z]+)$/.exec(addr)?.[1]
    if (peer === undefined) continue
    book.set(peer, [...(book.get(peer) ?? []), addr])
  }
  return book
}

const listMax = 256
const bad = (what: string): ProtocolError => new ProtocolError(`node sent a malformed admin answer: ${what}`)
const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.length <= listMax && x.every(s => typeof s === 'string')
const isIndex = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0

export function parseStatus (raw: unknown): AdminStatus {
  const s = raw as Record<string, unknown>
  if (raw === null || typeof raw !== 'object') throw bad('status is not an object')
  if (typeof s.peerId !== 'string' || !(s.name === null || typeof s.name === 'string') || !isStrings(s.multiaddrs) ||
    !(s.httpAddr === null || typeof s.httpAddr === 'string') || !isIndex(s.appliedIndex)) throw bad('status fields')
  return {
    peerId: s.peerId,
    name: s.name,
    multiaddrs: s.multiaddrs,
    httpAddr: s.httpAddr,
    appliedIndex: s.appliedIndex,
    raft: s.raft === null ? null : parseRaft(s.raft),
    members: parseMembers(s.members)
  }
}

function parseRaft (raw: unknown): AdminRaftStatus {
  const r = raw as Record<string, unknown>
  if (raw === null || typeof raw !== 'object' || !(r.leader === null || typeof r.leader === 'string') || typeof r.role !== 'string' ||
    !isIndex(r.term) || !isIndex(r.commitIndex) || !isIndex(r.appliedIndex) || !isStrings(r.voters) || !isStrings(r.learners) ||
    r.matchIndex === null || typeof r.matchIndex !== 'object' || !Object.values(r.matchIndex).every(isIndex)) throw bad('raft status fields')
  return {
    leader: r.leader,
    role: r.role,
    term: r.term,
    commitIndex: r.commitIndex,
    appliedIndex: r.appliedIndex,
    voters: r.voters,
    learners: r.learners,
    matchIndex: r.matchIndex as Record<string, number>
  }
}

export function parseMembers (raw: unknown): AdminMember[] {
  if (!Array.isArray(raw) || raw.length > listMax) throw bad('members is not a list')
  return raw.map((x: unknown) => {
    const m = x as Record<string, unknown>
    if (x === null || typeof x !== 'object' || typeof m.peerId !== 'string' || !(m.name === null || typeof m.name === 'string') ||
      (m.role !== 'voter' && m.role !== 'learner') || (m.liveness !== 'alive' && m.liveness !== 'suspect' && m.liveness !== 'dead') ||
      !isIndex(m.incarnation) || !(m.lastSeenAgeMs === null || typeof m.lastSeenAgeMs === 'number') || !isStrings(m.addresses)) throw bad('member fields')
    return { peerId: m.peerId, name: m.name, role: m.role, liveness: m.liveness, incarnation: m.incarnation, lastSeenAgeMs: m.lastSeenAgeMs, addresses: m.addresses }
  })
}
