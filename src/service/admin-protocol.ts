import { InvalidArgumentError, UnauthorizedError } from '../api/errors.js'
import type { MemberStatus, RaftStatusView } from '../api/types.js'
import { protocolId, type MessageHandler, type Transport } from '../transport/types.js'
import type { AccessControl } from './access.js'

/**
 * The operators' protocol (`quorumkv status`, `member ...`): a node reports its Raft and gossip
 * view and takes membership changes. It reads no data and writes none, but a membership change
 * can take a cluster apart, so only members and clients holding read-write on every key (prefix
 * '') may use it; everyone else gets UnauthorizedError.
 */
export const adminProtocol = protocolId('admin')

export type AdminRequest =
  | { op: 'status' }
  | { op: 'members' }
  | { op: 'add-member', peerId: string, multiaddrs: string[], timeoutMs?: number }
  | { op: 'promote-member', peerId: string, timeoutMs?: number }
  | { op: 'remove-member', peerId: string, timeoutMs?: number }

export type AdminRaftStatus = RaftStatusView

export type AdminMember = MemberStatus

export interface AdminStatus {
  peerId: string
  name: string | null
  multiaddrs: string[]
  /** The bound `host:port` of GET /metrics and /healthz, or null without one. */
  httpAddr: string | null
  /** What this node's state machine has applied (a node alone has no Raft status to say it). */
  appliedIndex: number
  /** Null for a node alone (no Raft). */
  raft: AdminRaftStatus | null
  members: AdminMember[]
}

export type AdminResponse = AdminStatus | { members: AdminMember[] } | { ok: true }

/** What the protocol needs of a node; `QuorumKvNode` has this shape. */
export interface AdminTarget {
  readonly peerId: string
  readonly multiaddrs: string[]
  readonly config: { readonly name?: string | undefined }
  members: () => AdminMember[]
  raftStatus: () => AdminRaftStatus | null
  addMember: (member: { peerId: string, multiaddrs: string[] }, options?: { timeoutMs?: number }) => Promise<void>
  promoteMember: (peerId: string, options?: { timeoutMs?: number }) => Promise<void>
  removeMember: (peerId: string, options?: { timeoutMs?: number }) => Promise<void>
}

const multiaddrsMax = 16
const multiaddrCharsMax = 512
const membershipTimeoutMsMax = 120_000
const peerIdPattern = /^[1-9A-HJ-NP-Za-km-z]{1,64}$/

export function parseAdminRequest (raw: unknown): AdminRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidArgumentError('admin request must be an object')
  const r = raw as Record<string, unknown>
  const allowed = r.op === 'add-member' ? ['op', 'peerId', 'multiaddrs', 'timeoutMs'] : r.op === 'promote-member' || r.op === 'remove-member' ? ['op', 'peerId', 'timeoutMs'] : ['op']
  for (const k of Object.keys(r)) if (!allowed.includes(k)) throw new InvalidArgumentError(`unknown field ${JSON.stringify(k)} in admin request ${JSON.stringify(r.op)}`)
  switch (r.op) {
    case 'status': return { op: 'status' }
    case 'members': return { op: 'members' }
    case 'add-member': return { op: 'add-member', peerId: parsePeerId(r.peerId), multiaddrs: parseMultiaddrs(r.multiaddrs), ...parseTimeout(r.timeoutMs) }
    case 'promote-member': return { op: 'promote-member', peerId: parsePeerId(r.peerId), ...parseTimeout(r.timeoutMs) }
    case 'remove-member': return { op: 'remove-member', peerId: parsePeerId(r.peerId), ...parseTimeout(r.timeoutMs) }
    default: throw new InvalidArgumentError(`unknown admin op ${JSON.stringify(r.op)}: use status, members, add-member, promote-member or remove-member`)
  }
}

export function registerAdminProtocol (transport: Transport, access: AccessControl, target: AdminTarget, extra: { httpAddr?: string | null, appliedIndex?: () => number } = {}): void {
  const handler: MessageHandler<AdminRequest> = {
    parse: parseAdminRequest,
    onRequest: async (from, request): Promise<AdminResponse> => {
      checkAdmin(access, from)
      switch (request.op) {
        case 'status':
          return {
            peerId: target.peerId,
            name: target.config.name ?? null,
            multiaddrs: target.multiaddrs,
            httpAddr: extra.httpAddr ?? null,
            appliedIndex: extra.appliedIndex?.() ?? target.raftStatus()?.appliedIndex ?? 0,
            raft: target.raftStatus(),
            members: target.members()
          }
        case 'members':
          return { members: target.members() }
        case 'add-member':
          await target.addMember({ peerId: request.peerId, multiaddrs: request.multiaddrs }, timeout(request))
          return { ok: true }
        case 'promote-member':
          await target.promoteMember(request.peerId, timeout(request))
          return { ok: true }
        case 'remove-member':
          await target.removeMember(request.peerId, timeout(request))
          return { ok: true }
      }
    }
  }
  transport.handle(adminProtocol, handler)
}

function checkAdmin (access: AccessControl, peer: string): void {
  try {
    // Read-write on the empty key is exactly "read-write on prefix ''" (or membership).
    access.check(peer, 'write', '')
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err
    throw new UnauthorizedError(`peer ${peer} may not administer this cluster: it needs read-write on prefix '' in access.clients, or to be a member`, { peer })
  }
}

function timeout (request: { timeoutMs?: number }): { timeoutMs?: number } {
  return request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }
}

function parsePeerId (raw: unknown): string {
  if (typeof raw !== 'string' || !peerIdPattern.test(raw)) throw new InvalidArgumentError('peerId must be a libp2p peer id (base58 text, at most 64 characters)')
  return raw
}

function parseMultiaddrs (raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > multiaddrsMax) throw new InvalidArgumentError(`multiaddrs must list 1 to ${multiaddrsMax} addresses`)
  for (const a of raw) {
    if (typeof a !== 'string' || !a.startsWith('/') || a.length > multiaddrCharsMax) throw new InvalidArgumentError(`each multiaddr must be text starting with "/", at most ${multiaddrCharsMax} characters`)
  }
  return raw as string[]
}

function parseTimeout (raw: unknown): { timeoutMs?: number } {
  if (raw === undefined) return {}
  if (!Number.isSafeInteger(raw) || (raw as number) < 1 || (raw as number) > membershipTimeoutMsMax) throw new InvalidArgumentError(`timeoutMs must be an integer from 1 to ${membershipTimeoutMsMax}`)
  return { timeoutMs: raw as number }
}
