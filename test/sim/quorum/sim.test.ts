import { describe, expect, it } from 'vitest'
import { formatFailure, runQuorumSim } from './sim.js'

/**
 * 500 seeds of the quorum simulation (partitions, crash-restarts, loss, duplicates, reordering,
 * pauses, clock skew beyond maxDriftMs), each checked for lost mv/or-set writes, counter
 * exactness, convergence, session guarantees and causal order. A failing seed prints the command
 * that replays it. Set QUORUM_SIM_SEEDS to run more.
 */
const seeds = Number.parseInt(process.env.QUORUM_SIM_SEEDS ?? '500', 10)
const chunk = 100

describe('quorum replication under simulated faults', () => {
  for (let start = 1; start <= seeds; start += chunk) {
    const end = Math.min(seeds, start + chunk - 1)
    it(`seeds ${start}..${end}: no lost acknowledged mv or or-set write, exact counters, converged replicas, sessions and causality hold`, async () => {
      const failures: string[] = []
      let okOps = 0
      for (let seed = start; seed <= end; seed++) {
        const r = await runQuorumSim(seed)
        okOps += r.stats.okOps
        if (!r.ok) failures.push(...formatFailure(r))
      }
      if (failures.length > 0) console.log(failures.join('\n'))
      expect(failures).toEqual([])
      // Not vacuous: most calls succeed despite the faults.
      expect(okOps).toBeGreaterThan(100 * (end - start + 1))
    }, 300_000)
  }
})
