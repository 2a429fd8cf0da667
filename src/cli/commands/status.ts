import type { AdminClient } from '../admin-client.js'
import { formatView, gatherClusterView, statusJson, table, transportAddress } from '../cluster-view.js'
import { CliError, ExitCode, UsageError } from '../errors.js'
import { parseMultiaddrs, parsePeerId } from '../parse.js'
import { describePeer, resolveTarget, type TargetOptions } from '../target.js'
import type { CliIo } from '../io.js'

export interface StatusOptions extends TargetOptions {
  json?: boolean
}

/** `quorumkv status`: every member's Raft view; exit 1 when no member answered. */
export async function runStatus (options: StatusOptions, io: CliIo): Promise<number> {
  const target = await resolveTarget(options)
  const admin = await openAdmin(target.identity, target.peers)
  try {
    const view = await gatherClusterView(admin, target.names, target.timeoutMs)
    const anyAlive = view.members.some(m => m.alive)
    if (options.json === true) io.out(`${JSON.stringify(statusJson(view))}\n`)
    else if (anyAlive) io.out(formatView(view))
    if (!anyAlive) {
      const first = view.members.find(m => m.error !== null)
      throw new CliError(first?.errorCode ?? 'UNAVAILABLE', `no member answered: ${first?.error ?? 'no address known'}`)
    }
    return ExitCode.Ok
  } finally {
    await admin.close()
  }
}

export interface MemberOptions extends TargetOptions {
  json?: boolean
  addr?: string[]
  debug?: boolean
}

/** `quorumkv member list`: the membership as the first node that answers sees it. */
export async function runMemberList (options: MemberOptions, io: CliIo): Promise<number> {
  const target = await resolveTarget(options)
  const admin = await openAdmin(target.identity, target.peers)
  try {
    const { peer, value: members } = await firstAnswer(admin, true, async (p) => await admin.members(p, target.timeoutMs))
    if (options.debug === true) io.err(`debug: members from ${describePeer(target, peer)}\n`)
    if (options.json === true) {
      io.out(`${JSON.stringify({ members })}\n`)
    } else {
      const age = (ms: number | null): string => ms === null ? 'never' : ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`
      io.out(table(['NAME', 'PEER ID', 'ROLE', 'LIVENESS', 'LAST SEEN', 'ADDRESSES'],
        members.map(m => [m.name ?? target.names.get(m.peerId) ?? '-', m.peerId, m.role, m.liveness, age(m.lastSeenAgeMs), m.addresses.map(transportAddress).join(',') || '-'])))
    }
    return ExitCode.Ok
  } finally {
    await admin.close()
  }
}

/**
 * `quorumkv member add|promote|remove`: sent to one node, which forwards it to the leader; resolves
 * once the change is applied. One change at a time (the cluster refuses a second while one is pending).
 */
export async function runMemberChange (op: 'add-member' | 'promote-member' | 'remove-member', rawPeerId: string, options: MemberOptions, io: CliIo): Promise<number> {
  const peerId = parsePeerId(rawPeerId)
  const addrs = op === 'add-member' ? parseMultiaddrs('--addr', options.addr ?? []) : []
  if (op === 'add-member' && addrs.length === 0) throw new UsageError('member add needs --addr MULTIADDR: where the new node listens (its quorumkv start output shows it)')
  const target = await resolveTarget({ ...options, timeoutMs: options.timeoutMs ?? '20000' })
  const admin = await openAdmin(target.identity, target.peers)
  try {
    const request = op === 'add-member'
      ? { op, peerId, multiaddrs: addrs.map(a => a.endsWith(`/p2p/${peerId}`) ? a : `${a}/p2p/${peerId}`), timeoutMs: target.timeoutMs }
      : { op, peerId, timeoutMs: target.timeoutMs }
    // A node's own deadline for the change, plus a margin for the hop to it.
    const { peer } = await firstAnswer(admin, false, async (p) => { await admin.change(p, request, target.timeoutMs + 2_000) })
    if (options.debug === true) io.err(`debug: ${op} served by ${describePeer(target, peer)}\n`)
    const verb = op === 'add-member' ? 'added (as a learner; promote it once it has caught up)' : op === 'promote-member' ? 'promoted to voter' : 'removed'
    io.out(`${peerId} ${verb}\n`)
    return ExitCode.Ok
  } finally {
    await admin.close()
  }
}

/**
 * Tries the nodes in turn while nothing was decided: an unreachable node, or (for reads only) one
 * that timed out; a membership change that timed out may have been applied, so it is not resent.
 */
async function firstAnswer<T> (admin: AdminClient, idempotent: boolean, fn: (peer: string) => Promise<T>): Promise<{ value: T, peer: string }> {
  const retryable = new Set(idempotent ? ['UNAVAILABLE', 'CLOSED', 'OVERLOADED', 'TIMEOUT'] : ['UNAVAILABLE', 'CLOSED', 'OVERLOADED'])
  let last: unknown
  for (const peer of admin.peers) {
    try {
      return { value: await fn(peer), peer }
    } catch (err) {
      last = err
      if (!retryable.has(String((err as { code?: unknown }).code))) throw err
    }
  }
  throw last ?? new CliError('UNAVAILABLE', 'no node to ask')
}

/** libp2p loads only once the arguments are known to be good. */
async function openAdmin (identity: string, peers: string[]): Promise<AdminClient> {
  const { AdminClient } = await import('../admin-client.js')
  return await AdminClient.open(identity, peers)
}
