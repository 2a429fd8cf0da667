import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { installDriverClock } from './sim-driver.js'
import { runLeaseWorkload, type LeaseWorkloadOptions } from './lease-workload.js'

/**
 * Lease reads through RaftNode drivers under clock drift, checked for linearizability
 * (chaos/checkers/linearizable.ts). The drivers use a 1 s election timeout and a 100 ms drift
 * bound. The drift is adversarial: whenever the nemesis cuts the leader off, the leader's clock
 * runs slowest and the others' fastest, so its lease looks as long as possible to it and the
 * followers' election timeouts as short as possible. A failing seed replays exactly.
 */
describe('lease reads under clock drift', () => {
  let uninstall: () => void
  beforeAll(() => { uninstall = installDriverClock() })
  afterAll(() => { uninstall() })

  async function failingSeeds (seeds: number, options: Omit<LeaseWorkloadOptions, 'seed'>): Promise<{ failures: string[], okReads: number, okWrites: number }> {
    const failures: string[] = []
    let okReads = 0
    let okWrites = 0
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await runLeaseWorkload({ seed, ...options })
      okReads += r.okReads
      okWrites += r.okWrites
      if (r.linearizability.valid !== true) {
        failures.push(`seed ${seed}: ${r.linearizability.valid === false ? (r.linearizability.anomalies[0]?.explanation ?? 'not linearizable') : 'check inconclusive'}`)
      }
    }
    return { failures, okReads, okWrites }
  }

  it('stay linearizable over 50 seeds when clocks drift apart by up to 94 ms per second, within the 100 ms bound, with partitions and pauses', async () => {
    const { failures, okReads, okWrites } = await failingSeeds(50, { rateSpread: 0.045, drift: 'adversarial' })
    expect(failures, failures.join('\n')).toEqual([])
    // The runs did real work.
    expect(okReads).toBeGreaterThan(50 * 100)
    expect(okWrites).toBeGreaterThan(50 * 100)
  })

  it('are caught serving stale values when the drift far exceeds the bound (the check above can fail)', async () => {
    const { failures } = await failingSeeds(15, { rateSpread: 0.45, drift: 'adversarial', pauses: false })
    expect(failures.length).toBeGreaterThan(0)
    expect(failures.join('\n')).toMatch(/stale/)
  })

  it('replays a seed exactly: the same history twice', async () => {
    const a = await runLeaseWorkload({ seed: 7, rateSpread: 0.045, drift: 'adversarial' })
    const b = await runLeaseWorkload({ seed: 7, rateSpread: 0.045, drift: 'adversarial' })
    expect(a.history.length).toBeGreaterThan(100)
    expect(JSON.stringify(b.history)).toBe(JSON.stringify(a.history))
  })
})
