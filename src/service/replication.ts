import type { ConsistencyLevel } from '../api/consistency.js'
import type { RaftNode } from '../raft/raft-node.js'
import type { KvCommand, KvOutcome } from '../storage/kv-state-machine.js'
import type { LocalCommitter } from '../storage/local-committer.js'

/**
 * How a raft collection's writes reach agreement and when a local read may be served: alone (one
 * node numbers and applies writes itself) or through Raft.
 */
export interface Replication {
  submit: (command: KvCommand, bytes: number, signal: AbortSignal) => Promise<KvOutcome>
  /** Resolves once a read of this replica's state gives what `level` promises. */
  readable: (level: ConsistencyLevel, need: { sessionIndex: number, maxStalenessMs: number | undefined }, signal: AbortSignal) => Promise<void>
}

/** One node applies every write before acknowledging it: a local read is linearizable at every level. */
export function localReplication (committer: LocalCommitter): Replication {
  return {
    submit: async (command, bytes, signal) => await committer.submit(command, bytes, signal),
    readable: async () => {}
  }
}

export function raftReplication (raft: RaftNode): Replication {
  return {
    submit: async (command, _bytes, signal) => await raft.propose(command, signal),
    readable: async (level, need, signal) => {
      switch (level) {
        case 'strong':
          await raft.readBarrier(signal)
          return
        case 'bounded':
          if (!raft.freshWithin(need.maxStalenessMs ?? 0)) await raft.readBarrier(signal)
          return
        case 'read-your-writes':
        case 'causal':
          // The session names the highest log index it wrote or observed: applying up to it here
          // makes this replica's state include all of that (and reads stay monotonic).
          await raft.waitApplied(need.sessionIndex, signal)
          return
        case 'eventual':
          return
      }
    }
  }
}
