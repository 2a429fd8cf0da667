import { describe, expect, it } from 'vitest'
import { simConfigNames, simConfigs } from './configs.js'
import { Simulation } from './sim.js'

/**
 * The deterministic Raft simulation in CI: a fixed set of seeds per configuration (700 runs in
 * all), each checked for Raft's safety invariants, liveness after healing and linearizability of
 * the client history. A failure names the seed and the command that replays it with a trace.
 * Longer runs: `npm run sim -- --seeds 20000`.
 */
const seedsPerConfig = 100

describe('raft simulation', () => {
  for (const name of simConfigNames) {
    const config = simConfigs[name]
    if (config === undefined) continue
    it(`${name}: ${seedsPerConfig} seeded fault schedules keep every invariant and a linearizable history`, () => {
      const failures: string[] = []
      let ops = 0
      let elections = 0
      for (let seed = 1; seed <= seedsPerConfig; seed++) {
        const result = new Simulation(config, seed).run()
        ops += result.stats.ops
        elections += result.stats.elections
        if (!result.ok) {
          failures.push(`seed ${seed}:\n    ${result.violations.join('\n    ')}\n    replay: npm run sim -- --config ${name} --start ${seed} --seeds 1 --trace`)
        }
      }
      expect(failures, failures.join('\n')).toEqual([])
      // The runs did real work: clients ran and leaders changed.
      expect(ops).toBeGreaterThan(seedsPerConfig * 100)
      expect(elections).toBeGreaterThan(seedsPerConfig)
    })
  }
})
