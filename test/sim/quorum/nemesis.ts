import { randomInt, type Random } from '../../../src/runtime/random.js'
import { reliableLink } from '../../../src/transport/sim/link.js'
import type { Cluster } from '../../replication/cluster.js'

/**
 * The fault schedule of a run, drawn from the seed: partitions (two-sided splits and isolated
 * nodes), crash-restarts, pauses, bursts of loss and duplication, and clock skew, including skew
 * beyond the hybrid clock's maxDriftMs. `healAll` ends every fault so the run can converge.
 */
export interface NemesisOptions {
  endMs: number
  maxDriftMs: number
}

export class Nemesis {
  readonly log: string[] = []
  /** The widest spread of the machines' clock offsets at any time (ms), for checking bounded reads. */
  clockSpreadMs = 0
  private readonly offsets = new Map<string, number>()
  crashes = 0
  partitions = 0
  private readonly down = new Set<string>()

  constructor (private readonly cluster: Cluster, private readonly random: Random, private readonly options: NemesisOptions) {}

  private now (): number {
    return this.cluster.clock.now()
  }

  private async sleep (ms: number): Promise<void> {
    await new Promise<void>(resolve => { this.cluster.clock.setTimeout(resolve, ms) })
  }

  private pick<T> (items: readonly T[]): T {
    return items[randomInt(this.random, items.length)] as T
  }

  private skew (id: string, offsetMs: number, rate: number): void {
    this.cluster.net.setClockSkew(id, { offsetMs, rate })
    this.offsets.set(id, offsetMs)
    const all = [...this.offsets.values()]
    // Rates differ by at most 1e-3: over a run of ~10 s that adds at most 10 ms.
    this.clockSpreadMs = Math.max(this.clockSpreadMs, Math.max(...all) - Math.min(...all) + 10)
  }

  private note (what: string): void {
    this.log.push(`${this.now().toFixed(0)} ${what}`)
  }

  /** Initial clock skews: small for most nodes, sometimes one node far beyond maxDriftMs. */
  skewClocks (): void {
    const { ids } = this.cluster
    for (const id of ids) {
      const offsetMs = Math.round((this.random.next() - 0.5) * this.options.maxDriftMs)
      const rate = 1 + (this.random.next() - 0.5) * 0.001
      this.skew(id, offsetMs, rate)
    }
    if (this.random.next() < 0.35) {
      const id = this.pick(ids)
      const offsetMs = (this.random.next() < 0.5 ? -1 : 1) * (this.options.maxDriftMs + 200 + randomInt(this.random, 3_000))
      this.skew(id, offsetMs, 1)
      this.note(`skew ${id} ${offsetMs} ms (beyond maxDriftMs)`)
    }
  }

  async run (): Promise<void> {
    const { ids, net } = this.cluster
    while (this.now() < this.options.endMs) {
      await this.sleep(150 + randomInt(this.random, 900))
      if (this.now() >= this.options.endMs) break
      const dice = this.random.next()
      if (dice < 0.25) {
        const shuffled = ids.slice().sort(() => this.random.next() - 0.5)
        const cut = 1 + randomInt(this.random, ids.length - 1)
        net.partition(shuffled.slice(0, cut), shuffled.slice(cut))
        this.partitions++
        this.note(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`)
      } else if (dice < 0.35) {
        const id = this.pick(ids)
        net.isolate(id)
        this.partitions++
        this.note(`isolate ${id}`)
      } else if (dice < 0.55) {
        net.heal()
        this.note('heal')
      } else if (dice < 0.70) {
        const up = ids.filter(id => !this.down.has(id))
        if (up.length > 1) {
          const id = this.pick(up)
          this.cluster.crash(id)
          this.down.add(id)
          this.crashes++
          this.note(`crash ${id}`)
        }
      } else if (dice < 0.82) {
        if (this.down.size > 0) {
          const id = this.pick([...this.down])
          this.down.delete(id)
          this.note(`restart ${id}`)
          await this.cluster.restartNow(id)
        }
      } else if (dice < 0.88) {
        const up = ids.filter(id => !this.down.has(id))
        const id = this.pick(up)
        const ms = 50 + randomInt(this.random, 600)
        net.pause(id, ms)
        this.note(`pause ${id} ${ms} ms`)
      } else if (dice < 0.95) {
        const dropProbability = this.pick([0, 0.02, 0.1, 0.3])
        const duplicateProbability = this.pick([0, 0.05, 0.2])
        net.setDefaults({ dropProbability, duplicateProbability })
        this.note(`links drop ${dropProbability} dup ${duplicateProbability}`)
      } else {
        const id = this.pick(ids)
        const beyond = this.random.next() < 0.3
        const offsetMs = Math.round((this.random.next() - 0.5) * (beyond ? 6 * this.options.maxDriftMs : this.options.maxDriftMs))
        this.skew(id, offsetMs, 1)
        this.note(`skew ${id} ${offsetMs} ms`)
      }
    }
  }

  /** Ends every fault: heal partitions, restart crashed nodes, make links reliable. */
  async healAll (): Promise<void> {
    const { net } = this.cluster
    net.heal()
    net.setDefaults({ dropProbability: 0, duplicateProbability: 0, delay: reliableLink.delay, reorderProbability: 0 })
    for (const id of [...this.down]) {
      this.down.delete(id)
      await this.cluster.restartNow(id)
    }
    this.note('heal all')
  }
}
