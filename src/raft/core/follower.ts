import type { AppendMessage, HeartbeatMessage, SnapshotMessage } from './messages.js'
import type { Raft } from './raft.js'

/** AppendEntries on a follower (§5.3): accept and answer, or reject with a hint to back up. */
export function handleAppend (r: Raft, m: AppendMessage): void {
  const log = r.log
  if (m.index < log.committed) {
    // Everything up to our commit index already matches the leader's log.
    r.send({ type: 'app-resp', to: m.from, index: log.committed, reject: false, hintIndex: 0, hintTerm: 0 })
    return
  }
  const result = log.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
  if (result !== undefined) {
    if (result.changedFrom !== 0) r.onLogChanged(result.changedFrom, m.entries)
    r.send({ type: 'app-resp', to: m.from, index: result.lastNewIndex, reject: false, hintIndex: 0, hintTerm: 0 })
    return
  }
  // Our log lacks (index, logTerm). Point the leader at the last index where our term is not
  // above logTerm: the leader can skip every entry of a term it does not share with us.
  const hintIndex = log.findConflictByTerm(Math.min(m.index, log.lastIndex()), m.logTerm)
  const hintTerm = log.term(hintIndex) ?? 0
  r.send({ type: 'app-resp', to: m.from, index: m.index, reject: true, hintIndex, hintTerm })
}

export function handleHeartbeat (r: Raft, m: HeartbeatMessage): void {
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()))
  r.send({ type: 'hb-resp', to: m.from, round: m.round })
}

/**
 * InstallSnapshot, once the driver holds the whole snapshot. Accepted only when it is ahead of our
 * commit index and our log does not already contain its last entry (then we only fast-forward the
 * commit index and keep our log).
 */
export function handleSnapshot (r: Raft, m: SnapshotMessage): void {
  const s = m.snapshot
  const log = r.log
  if (s.index <= log.committed) {
    r.send({ type: 'app-resp', to: m.from, index: log.committed, reject: false, hintIndex: 0, hintTerm: 0 })
    return
  }
  if (log.matchTerm(s.index, s.term)) {
    log.commitTo(s.index)
    r.send({ type: 'app-resp', to: m.from, index: log.committed, reject: false, hintIndex: 0, hintTerm: 0 })
    return
  }
  log.restore(s)
  r.confs.reset(s.index, s.conf)
  r.applyConf()
  r.send({ type: 'app-resp', to: m.from, index: log.lastIndex(), reject: false, hintIndex: 0, hintTerm: 0 })
}
