import { QuorumKvError } from '../../../src/api/errors.js'
import type { ConfChange } from '../../../src/raft/core/index.js'
import type { SimNode } from './sim-node.js'
import type { Simulation } from './sim.js'

/**
 * The fault schedule of one run, drawn from the run's seed: partitions (random splits, one-way
 * links, an isolated leader), crashes (preferring nodes with writes in flight, sometimes two),
 * long pauses, stalled disks, bursts of message loss and membership changes under load. Each
 * configuration enables a subset (SimConfig.faults).
 */
export class Nemesis {
  private readonly sim: Simulation

  constructor (sim: Simulation) {
    this.sim = sim
  }

  start (): void {
    const f = this.sim.config.faults
    this.sim.lossRate = this.sim.random() * f.lossMax
    this.sim.dupRate = this.sim.random() * f.dupMax
    const step = (): void => {
      if (!this.sim.faultsOn) return
      this.step()
      this.sim.q.after(this.sim.random() < 0.3 ? this.sim.between(250, 600) : this.sim.between(20, 250), step)
    }
    this.sim.q.after(this.sim.between(100, 300), step)
  }

  private step (): void {
    const f = this.sim.config.faults
    const actions: Array<() => void> = [() => this.heal()]
    if (f.partitions) actions.push(() => this.partition(), () => this.isolateLeader(), () => this.isolateLeader())
    if (f.crashes) actions.push(() => this.crashOne())
    if (f.pauses) actions.push(() => this.pauseOne())
    if (f.membership) {
      actions.push(() => this.membershipChange(), () => this.membershipChange(), () => this.membershipChange(), () => {
        // A burst: the second and third must be refused while the first is uncommitted.
        this.membershipChange()
        this.membershipChange()
        this.membershipChange()
      })
    }
    if (f.diskStalls) actions.push(() => this.stallDisk())
    if (f.lossMax > 0) actions.push(() => { this.sim.lossRate = this.sim.random() * f.lossMax * 3 })
    const action = this.sim.pick(actions)
    action?.()
  }

  heal (): void {
    this.sim.log('heal')
    this.sim.blocked.clear()
    this.sim.lossRate = this.sim.random() * this.sim.config.faults.lossMax
  }

  private partition (): void {
    const running = this.sim.memberIds()
    const side = new Set(running.filter(() => this.sim.random() < 0.5))
    this.sim.blocked.clear()
    for (const a of this.sim.ids) {
      for (const b of this.sim.ids) {
        if (a !== b && side.has(a) !== side.has(b)) {
          // Sometimes only one direction fails.
          if (this.sim.random() < 0.9) this.sim.blocked.add(`${a}>${b}`)
        }
      }
    }
    this.sim.log(`partition ${[...side].join(',')} | rest`)
  }

  /** Cuts the leader off from everyone: a minority leader must not serve stale reads or commit. */
  private isolateLeader (): void {
    const leader = this.sim.currentLeader()
    if (leader === undefined) return
    this.sim.blocked.clear()
    for (const b of this.sim.ids) {
      if (b === leader.id) continue
      this.sim.blocked.add(`${leader.id}>${b}`)
      this.sim.blocked.add(`${b}>${leader.id}`)
    }
    this.sim.log(`isolate leader ${leader.id}`)
  }


  /**
   * Crashes one node, preferring one whose disk has writes in flight (what it sent early, or was
   * about to promise, is lost), sometimes a second one shortly after, and restarts them later.
   */
  private crashOne (): void {
    const up = this.sim.memberIds().map((id) => this.sim.nodes.get(id) as SimNode).filter((n) => n.state !== 'down')
    const busy = up.filter((n) => n.readiesInFlight > 0)
    const r = this.sim.random()
    const node = r < 0.3 ? this.sim.currentLeader() : r < 0.8 ? this.sim.pick(busy) : this.sim.pick(up)
    if (node === undefined || node.state === 'down') return
    this.sim.crash(node)
    const restartAfter = this.sim.random() < 0.5 ? this.sim.between(1, 30) : this.sim.between(30, 600)
    this.sim.q.after(restartAfter, () => { if (node.state === 'down') this.sim.startNode(node) })
    if (this.sim.random() < 0.25) {
      this.sim.q.after(this.sim.between(1, 60), () => {
        const other = this.sim.pick(this.sim.memberIds().map((id) => this.sim.nodes.get(id) as SimNode).filter((n) => n.state !== 'down' && n.readiesInFlight > 0))
        if (other === undefined) return
        this.sim.crash(other)
        this.sim.q.after(this.sim.between(1, 400), () => { if (other.state === 'down') this.sim.startNode(other) })
      })
    }
  }

  private pauseOne (): void {
    const node = this.sim.random() < 0.5 ? this.sim.currentLeader() : this.sim.nodes.get(this.sim.pick(this.sim.memberIds()) ?? '')
    if (node === undefined) return
    this.sim.pause(node)
    this.sim.q.after(this.sim.between(50, 800), () => this.sim.resume(node))
  }

  private stallDisk (): void {
    const node = this.sim.random() < 0.6 ? this.sim.currentLeader() : this.sim.nodes.get(this.sim.pick(this.sim.memberIds()) ?? '')
    if (node === undefined || node.state === 'down') return
    const epoch = node.epoch
    node.diskExtraMs = this.sim.between(100, 300)
    this.sim.log(`${node.id} disk stalls (${node.diskExtraMs.toFixed(0)} ms per write)`)
    this.sim.q.after(this.sim.between(100, 400), () => { if (node.epoch === epoch) node.diskExtraMs = 0 })
  }

  /**
   * Replaces voters one step at a time under load: start a spare and add it as a learner, promote
   * it once caught up, remove an old voter (the leader itself, sometimes), remove learners. Each
   * step is proposed at the current leader and may be refused (a change is pending, the leader is
   * new, the learner lags) or lost with the leader; the next step looks at the configuration again.
   */
  private membershipChange (): void {
    const leader = this.sim.currentLeader()
    if (leader === undefined || leader.core === null) return
    const core = leader.core
    const conf = core.status().conf
    const members = new Set([...conf.voters, ...conf.learners])
    const learners = conf.learners.filter((id) => (this.sim.nodes.get(id) as SimNode).started)
    const waiting = this.sim.ids.filter((id) => (this.sim.nodes.get(id) as SimNode).started && !members.has(id) && !this.sim.everMember.has(id))
    let change: ConfChange | undefined
    if (conf.voters.length > this.sim.config.voters) {
      change = { type: 'remove', node: this.sim.pick(conf.voters) as string }
    } else if (learners.length > 0 && this.sim.random() < 0.7) {
      change = { type: 'promote', node: this.sim.pick(learners) as string }
    } else if (waiting.length > 0) {
      change = { type: 'add-learner', node: waiting[0] as string }
    } else if (this.sim.spares.length > 0) {
      const id = this.sim.spares.shift() as string
      // Start the new member first, then add it as a learner: it holds no vote until caught up.
      this.sim.startNode(this.sim.nodes.get(id) as SimNode)
      change = { type: 'add-learner', node: id }
    } else if (learners.length > 0) {
      change = { type: 'remove', node: this.sim.pick(learners) as string }
    }
    if (change === undefined) return
    try {
      core.proposeConfChange(change)
      this.sim.stats.confChanges++
      this.sim.log(`${leader.id} proposes ${change.type} ${change.node}`)
      this.sim.pump(leader)
    } catch (err) {
      if (!(err instanceof QuorumKvError)) throw err
      this.sim.log(`${leader.id} refuses ${change.type} ${change.node}: ${err.code}`)
    }
  }
}
