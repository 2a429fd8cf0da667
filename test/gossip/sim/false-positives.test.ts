import { describe, expect, it } from 'vitest'
import { GossipCluster } from './harness.js'

interface Row {
  loss: number
  suspicions: number
  refutations: number
  falseDeadEvents: number
  falseDeadIncidents: number
  probes: { ok: number, indirect: number, failed: number }
  messagesPerNodeSecond: number
}

/**
 * Every node is alive for the whole run, so every "dead" is a false positive. Figures are printed
 * (and copied into docs/gossip.md); the only assertion is the loose safety bound at 5% loss.
 */
describe('false positives under message loss', () => {
  it('counts suspicions and false deaths over long runs at 5-30% loss, with none at 5% (default config, N=8)', async () => {
    const size = 8
    const seeds = 5
    const durationMs = 600_000
    const rows: Row[] = []
    for (const loss of [0.05, 0.1, 0.2, 0.3]) {
      const row: Row = { loss, suspicions: 0, refutations: 0, falseDeadEvents: 0, falseDeadIncidents: 0, probes: { ok: 0, indirect: 0, failed: 0 }, messagesPerNodeSecond: 0 }
      for (let seed = 1; seed <= seeds; seed++) {
        const c = new GossipCluster({ seed, size, link: { dropProbability: loss } })
        await c.runFor(durationMs)
        const dead = c.trace.filter((e) => e.liveness === 'dead')
        row.falseDeadEvents += dead.length
        row.falseDeadIncidents += new Set(dead.map((e) => `${e.peer}@${e.incarnation}`)).size
        row.suspicions += new Set(c.trace.filter((e) => e.liveness === 'suspect').map((e) => `${e.peer}@${e.incarnation}`)).size
        for (const s of c.services.values()) row.refutations += s.incarnation
        const probes = await c.probeResults()
        row.probes.ok += probes.ok
        row.probes.indirect += probes.indirect
        row.probes.failed += probes.failed
        row.messagesPerNodeSecond += c.messagesPerNodeSecond() / seeds
      }
      rows.push(row)
    }
    const nodeHours = size * seeds * durationMs / 3_600_000
    console.log([
      `false positives, N=${size}, ${seeds} seeds x ${durationMs / 60_000} min (${nodeHours.toFixed(1)} node-hours per row), every node alive throughout:`,
      'loss | probes ok / indirect / failed | suspicions (peer@inc) | refutations | false dead: incidents (observer events) | msgs/node/s',
      ...rows.map((r) => `${(r.loss * 100).toFixed(0).padStart(3)}% | ${r.probes.ok} / ${r.probes.indirect} / ${r.probes.failed} | ${r.suspicions} | ${r.refutations} | ${r.falseDeadIncidents} (${r.falseDeadEvents}) | ${r.messagesPerNodeSecond.toFixed(2)}`)
    ].join('\n  '))
    expect(rows[0]?.loss).toBe(0.05)
    expect(rows[0]?.falseDeadEvents).toBe(0)
  })
})
