import type { AdminStatus } from '../service/admin-protocol.js'
import type { AdminClient } from './admin-client.js'

/**
 * The cluster as the CLI sees it: every member asked for its own status at once. `alive` means it
 * answered; `liveness` is what gossip on the answering nodes says. The leader is the one named
 * in the highest term any member reports.
 */
export interface MemberView {
  peerId: string
  name: string | null
  /** leader, follower, candidate, pre-candidate, learner, not-member; unknown when it did not answer. */
  role: string
  voter: boolean | null
  alive: boolean
  /** Gossip's view (from the leader, else any member that answered); null without gossip. */
  liveness: 'alive' | 'suspect' | 'dead' | null
  term: number | null
  commitIndex: number | null
  appliedIndex: number | null
  /** Entries the leader committed that this member has not applied yet. */
  lag: number | null
  addresses: string[]
  httpAddr: string | null
  error: string | null
  /** The error code when the member did not answer (UNAUTHORIZED, UNAVAILABLE, TIMEOUT, ...). */
  errorCode: string | null
}

export interface ClusterView {
  leader: string | null
  term: number | null
  members: MemberView[]
}

/** The shape `quorumkv status --json` prints (pinned by issue 7; extra fields may be added). */
export interface StatusJson {
  leader: string | null
  term: number | null
  members: Array<{ peerId: string, name: string | null, role: string, alive: boolean, appliedIndex: number | null, commitIndex: number | null, lag: number | null, liveness: string | null, voter: boolean | null }>
}

// Members found in answers but not in --peers / cluster.json are asked in one more round at most.
const discoveryRoundsMax = 2

export async function gatherClusterView (admin: AdminClient, names: Map<string, string>, timeoutMs: number): Promise<ClusterView> {
  const answers = new Map<string, AdminStatus | Error>()
  for (let round = 0; round < discoveryRoundsMax; round++) {
    const ask = admin.peers.filter(p => !answers.has(p))
    if (ask.length === 0) break
    const results = await Promise.all(ask.map(async p => await admin.status(p, timeoutMs).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)))))
    ask.forEach((p, i) => answers.set(p, results[i] as AdminStatus | Error))
    for (const a of answers.values()) {
      if (a instanceof Error) continue
      for (const m of a.members) admin.addPeer(m.peerId, m.addresses)
    }
  }
  return buildView(answers, names)
}

export function buildView (answers: Map<string, AdminStatus | Error>, names: Map<string, string>): ClusterView {
  const ok = [...answers.values()].filter((a): a is AdminStatus => !(a instanceof Error))
  let term: number | null = null
  let leader: string | null = null
  for (const a of ok) {
    if (a.raft === null) {
      // A node alone leads itself.
      if (term === null) { term = 0; leader = a.peerId }
      continue
    }
    if (term === null || a.raft.term > term || (a.raft.term === term && leader === null)) {
      term = a.raft.term
      leader = a.raft.leader
    }
  }
  const leaderStatus = ok.find(a => a.peerId === leader)
  const gossipSource = leaderStatus ?? ok[0]
  const conf = leaderStatus?.raft ?? ok.find(a => a.raft !== null)?.raft ?? undefined
  const peers = new Set<string>([...answers.keys(), ...(conf?.voters ?? []), ...(conf?.learners ?? [])])
  const members: MemberView[] = [...peers].map(peerId => {
    const a = answers.get(peerId)
    const gossip = gossipSource?.members.find(m => m.peerId === peerId)
    const status = a instanceof Error || a === undefined ? undefined : a
    const voter = conf === undefined ? (status !== undefined ? true : null) : conf.voters.includes(peerId) ? true : conf.learners.includes(peerId) ? false : null
    const raft = status?.raft
    // A node the configuration does not list (removed, or started to join and not added yet).
    const role = status === undefined ? 'unknown' : raft === null || raft === undefined ? 'leader' : conf !== undefined && voter === null ? 'not-member' : voter === false ? 'learner' : raft.role
    const leaderCommit = leaderStatus?.raft?.commitIndex
    return {
      peerId,
      name: status?.name ?? gossip?.name ?? names.get(peerId) ?? null,
      role,
      voter,
      alive: status !== undefined,
      liveness: gossip?.liveness ?? null,
      term: raft?.term ?? (status !== undefined ? 0 : null),
      commitIndex: raft?.commitIndex ?? null,
      appliedIndex: raft?.appliedIndex ?? status?.appliedIndex ?? null,
      lag: raft !== undefined && raft !== null && leaderCommit !== undefined ? Math.max(0, leaderCommit - raft.appliedIndex) : raft === null ? 0 : null,
      addresses: status?.multiaddrs ?? gossip?.addresses ?? [],
      httpAddr: status?.httpAddr ?? null,
      error: a instanceof Error ? a.message : a === undefined ? 'not asked: no address known' : null,
      errorCode: a instanceof Error ? String((a as { code?: unknown }).code ?? 'UNAVAILABLE') : a === undefined ? 'UNAVAILABLE' : null
    }
  })
  members.sort((x, y) => (x.name ?? x.peerId).localeCompare(y.name ?? y.peerId))
  return { leader, term, members }
}

export function statusJson (view: ClusterView): StatusJson {
  return {
    leader: view.leader,
    term: view.term,
    members: view.members.map(m => ({ peerId: m.peerId, name: m.name, role: m.role, alive: m.alive, appliedIndex: m.appliedIndex, commitIndex: m.commitIndex, lag: m.lag, liveness: m.liveness, voter: m.voter }))
  }
}

/** Columns padded for a terminal. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

export function formatView (view: ClusterView): string {
  const nameOf = (peer: string | null): string => {
    if (peer === null) return 'none known'
    const m = view.members.find(x => x.peerId === peer)
    return m?.name !== null && m?.name !== undefined ? `${m.name} (${peer})` : peer
  }
  const dash = (x: number | string | null): string => x === null ? '-' : String(x)
  const head = `leader: ${nameOf(view.leader)}   term: ${dash(view.term)}\n`
  const rows = view.members.map(m => [
    m.name ?? '-', m.peerId, m.role, m.alive ? 'yes' : 'no', dash(m.liveness), dash(m.term), dash(m.commitIndex), dash(m.appliedIndex), dash(m.lag), transportAddress(m.addresses[0])
  ])
  const notes = view.members.filter(m => m.error !== null).map(m => `  ${m.name ?? m.peerId}: ${m.error as string}\n`).join('')
  return head + table(['NAME', 'PEER ID', 'ROLE', 'ALIVE', 'GOSSIP', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'ADDRESS'], rows) + (notes === '' ? '' : `did not answer:\n${notes}`)
}

/** A multiaddr without its /p2p/<peerId> tail (the peer id has its own column). */
export function transportAddress (addr: string | undefined): string {
  return addr === undefined ? '-' : addr.replace(/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, '')
}
