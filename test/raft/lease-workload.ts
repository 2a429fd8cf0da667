import { HistoryRecorder, type HistoryEvent } from '../../chaos/history.js'
import { checkLinearizable, type LinearizabilityResult } from '../../chaos/checkers/linearizable.js'
import { QuorumKvError } from '../../src/api/errors.js'
import type { RaftSettings } from '../../src/raft/raft-node.js'
import { seededRandom } from '../../src/runtime/random.js'
import { DriverCluster } from './sim-driver.js'

/**
 * A client workload against RaftNode drivers on the simulated network: clients write unique
 * values and read strongly (read barrier, then the local state machine) on any node while a
 * nemesis partitions, isolates and pauses nodes, each node's clock running at its own rate. The
 * history goes to the linearizability checker.
 */
export interface LeaseWorkloadOptions {
  seed: number
  /** Each node's clock rate is 1 ± up to this (two clocks differ by up to twice it). */
  rateSpread: number
  /**
   * 'random': each node keeps a random rate within the spread. 'adversarial': whenever the nemesis
   * cuts the leader off, the leader's clock runs slowest (1 - spread) and everyone else's fastest
   * (1 + spread), the worst case for its lease.
   */
  drift?: 'random' | 'adversarial'
  raft?: Partial<RaftSettings>
  clients?: number
  keys?: number
  faultPhaseMs?: number
  healedPhaseMs?: number
  opTimeoutMs?: number
  pauses?: boolean
}

export interface LeaseWorkloadResult {
  history: HistoryEvent[]
  linearizability: LinearizabilityResult
  okReads: number
  okWrites: number
  rates: Record<string, number>
}

/** Ops one client may start at most: a bound on a run, whatever the schedule. */
const opsPerClientMax = 2_000

export async function runLeaseWorkload (options: LeaseWorkloadOptions): Promise<LeaseWorkloadResult> {
  const rand = seededRandom(options.seed * 7_919 + 1)
  const between = (lo: number, hi: number): number => lo + rand.next() * (hi - lo)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand.next() * list.length)] as T
  const c = new DriverCluster({ seed: options.seed, raft: { readMode: 'lease', ...options.raft } })
  await c.start()
  const rates: Record<string, number> = {}
  /** Changes a machine's rate from now on, without stepping its clock. */
  const setRate = (id: string, rate: number): void => {
    rates[id] = rate
    const local = c.net.transport(id)?.time.now()
    if (local !== undefined) c.net.setClockSkew(id, { offsetMs: local - c.clock.now(), rate })
  }
  for (const id of c.ids) setRate(id, 1 + between(-options.rateSpread, options.rateSpread))
  const history = new HistoryRecorder()
  const faultEndMs = c.clock.now() + (options.faultPhaseMs ?? 5_000)
  const endMs = faultEndMs + (options.healedPhaseMs ?? 1_500)
  const opTimeoutMs = options.opTimeoutMs ?? 400
  const keys = options.keys ?? 2
  let okReads = 0
  let okWrites = 0

  const sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => { c.clock.setTimeout(resolve, ms) }) }

  /** Runs `op` on node `id`'s process (after a 1 ms hop, waiting out a pause), bounded by the client's own timeout. */
  const onNode = async <T>(id: string, op: () => Promise<T>): Promise<{ ok: true, value: T } | { ok: false, error: unknown }> => {
    return await new Promise(resolve => {
      let done = false
      const finish = (r: { ok: true, value: T } | { ok: false, error: unknown }): void => { if (!done) { done = true; timer.cancel(); resolve(r) } }
      const timer = c.clock.setTimeout(() => { finish({ ok: false, error: new Error('client timeout') }) }, opTimeoutMs)
      const time = c.net.transport(id)?.time
      if (time === undefined) { finish({ ok: false, error: new Error('down') }); return }
      time.setTimeout(() => {
        op().then(value => { finish({ ok: true, value }) }, (error: unknown) => { finish({ ok: false, error }) })
      }, 1)
    })
  }

  const client = async (process: number): Promise<void> => {
    let seq = 0
    for (let n = 0; n < opsPerClientMax && c.clock.now() < endMs; n++) {
      const key = `k${Math.floor(rand.next() * keys)}`
      const target = pick(c.ids.filter(id => c.nodes.has(id)))
      if (rand.next() < 0.5) {
        const op = history.invoke(process, 'read', key, null, c.clock.now())
        const r = await onNode(target, async () => await c.strongReadNow(target, key, opTimeoutMs))
        if (r.ok) { okReads++; op.ok(r.value, c.clock.now(), { replica: target }) } else op.fail(c.clock.now(), { error: errorCode(r.error) })
      } else {
        const value = `${process}-${++seq}`
        const op = history.invoke(process, 'write', key, value, c.clock.now())
        const r = await onNode(target, async () => { await c.putNow(target, key, value, opTimeoutMs) })
        // Any failure of a write leaves its outcome unknown to the client.
        if (r.ok) { okWrites++; op.ok(value, c.clock.now()) } else op.info(c.clock.now(), { error: errorCode(r.error) })
      }
      await sleep(between(0, 20))
    }
  }

  const nemesis = async (): Promise<void> => {
    while (c.clock.now() < faultEndMs) {
      await sleep(between(300, 1_500))
      const choice = rand.next()
      const leader = c.leaders()[0]
      if (choice < 0.3 && leader !== undefined) {
        c.net.partition([leader], c.ids.filter(id => id !== leader))
        if (options.drift === 'adversarial') for (const id of c.ids) setRate(id, id === leader ? 1 - options.rateSpread : 1 + options.rateSpread)
      }
      else if (choice < 0.5) c.net.isolate(pick(c.ids))
      else if (choice < 0.75 && options.pauses !== false) c.net.pause(pick(c.ids), between(100, 1_500))
      else c.net.heal()
    }
    c.net.heal()
  }

  try {
    await c.clock.run(async () => {
      await Promise.all([nemesis(), ...Array.from({ length: options.clients ?? 4 }, async (_, i) => { await client(i) })])
    }, { maxTimeMs: endMs - c.clock.now() + 10_000 })
  } finally {
    await c.stop()
  }
  const events = history.events()
  return { history: events, linearizability: checkLinearizable(events), okReads, okWrites, rates }
}

function errorCode (err: unknown): string {
  if (err instanceof QuorumKvError) return err.code
  return err instanceof Error ? err.message : String(err)
}
