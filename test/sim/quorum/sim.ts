import { HistoryRecorder, type HistoryEvent } from '../../../chaos/history.js'
import { checkCausal } from '../../../chaos/checkers/causal.js'
import { buildCausalGraph } from '../../../chaos/checkers/causal-graph.js'
import { toOperations } from '../../../chaos/checkers/common.js'
import { checkConvergence } from '../../../chaos/checkers/convergence.js'
import { checkCounter } from '../../../chaos/checkers/counter.js'
import { checkSessions } from '../../../chaos/checkers/session.js'
import { checkSet } from '../../../chaos/checkers/set.js'
import { QuorumKvError } from '../../../src/api/errors.js'
import { readView, stateDigest, type ReplicaRecord } from '../../../src/replication/record.js'
import { randomInt, seededRandom } from '../../../src/runtime/random.js'
import { Cluster } from '../../replication/cluster.js'
import { Nemesis } from './nemesis.js'
import { counterKeys, mvKeys, orsetKeys, registerKeys, Workload } from './workload.js'

/**
 * One deterministic simulation run of the quorum layer: 3-5 QuorumReplicas on the simulated
 * network, clients running four workloads while a nemesis injects faults, then every fault healed
 * and time for hinted handoff, then the checks:
 *
 * - `mv` loses no acknowledged write (set checker over every primary's stored siblings);
 * - the or-set loses no acknowledged add (set checker);
 * - the counter is exact on every primary (counter checker);
 * - every key's primaries converged to the same state (convergence checker);
 * - register sessions hold read-your-writes and monotonic reads (session checker) and causal
 *   order, token hand-overs included (causal checker);
 * - no handler threw a non-quorumkv error.
 *
 * It also reports how many acknowledged lww writes were discarded although no later write had
 * seen them (concurrent writes lost to last-writer-wins, as documented).
 */
export interface QuorumSimResult {
  seed: number
  ok: boolean
  violations: string[]
  stats: {
    nodes: number
    ops: number
    okOps: number
    failedOps: number
    unknownOps: number
    crashes: number
    partitions: number
    lwwAcked: number
    lwwDiscardedConcurrent: number
    boundedReadsOk: number
    siblingsMax: number
    /** Summed over the nodes' metrics: how much of the machinery the run exercised. */
    hintsHandedOff: number
    readRepairs: number
    tombstonesReaped: number
    clockDriftRejected: number
    events: number
    virtualMs: number
  }
  nemesisLog: string[]
  history: HistoryEvent[]
}

const activeMs = 3_000
const quiesceMs = 4_000
const maxDriftMs = 500

export async function runQuorumSim (seed: number): Promise<QuorumSimResult> {
  const random = seededRandom(seed ^ 0x5bd1e995)
  const nodes = 3 + randomInt(random, 3)
  const cluster = new Cluster({
    nodes,
    seed,
    config: {
      quorum: { ringVnodes: 8, handoffIntervalMs: 200, tombstoneReapDelayMs: 1_000, hintsMax: 10_000, readRepair: true },
      timeouts: { requestTimeoutMs: 1_000, peerRequestTimeoutMs: 250 },
      limits: { siblingsWarn: 25, siblingsMax: 1_000 },
      clock: { maxDriftMs }
    },
    network: {
      defaults: {
        delay: random.next() < 0.5 ? { kind: 'uniform', minMs: 1, maxMs: 1 + randomInt(random, 15) } : { kind: 'long-tail', minMs: 1, medianMs: 3, maxMs: 120 },
        dropProbability: [0, 0.01, 0.05][randomInt(random, 3)] as number,
        duplicateProbability: [0, 0.02][randomInt(random, 2)] as number,
        reorderProbability: 0.1,
        reorderExtraMs: 20
      },
      onMessageThrow: 'record'
    }
  })
  const history = new HistoryRecorder()
  const nemesis = new Nemesis(cluster, random, { endMs: activeMs, maxDriftMs })
  await cluster.start()
  nemesis.skewClocks()
  const workload = new Workload(cluster, history, random, { processes: 5, endMs: activeMs, guardMs: 2_500, timeoutMs: 1_000 })
  const keys = [...registerKeys, ...mvKeys, ...counterKeys, ...orsetKeys, ...workload.processes.map(p => `lww/h${p.id}`)]
  const finals = await cluster.clock.run(async () => {
    await Promise.all([workload.run(), nemesis.run()])
    await nemesis.healAll()
    await new Promise<void>(resolve => { cluster.clock.setTimeout(resolve, quiesceMs) })
    const states = new Map<string, Map<string, ReplicaRecord | undefined>>()
    for (const key of keys) {
      const byNode = new Map<string, ReplicaRecord | undefined>()
      for (const id of cluster.node(cluster.ids[0] as string).ring.preferenceList(key, 3)) byNode.set(id, await cluster.node(id).localRecord(key))
      states.set(key, byNode)
    }
    return states
  }, { maxTimeMs: activeMs + quiesceMs + 30_000 })

  const violations: string[] = []
  const events = history.events()
  const byPrefix = (prefix: string): HistoryEvent[] => events.filter(e => e.key.startsWith(prefix))

  // Convergence of every key's primaries.
  const replicaStates: Record<string, Record<string, unknown>> = {}
  for (const [key, byNode] of finals) {
    for (const [id, rec] of byNode) {
      replicaStates[id] ??= {}
      if (rec !== undefined) (replicaStates[id] as Record<string, unknown>)[key] = { ctx: stateDigest(rec.state), view: describe(rec) }
    }
  }
  // Only the primaries of each key are compared: a node holds nothing of keys it does not replicate.
  const perKey: Record<string, Record<string, unknown>> = {}
  for (const [key, byNode] of finals) {
    for (const id of byNode.keys()) {
      perKey[`${key}@${id}`] = {}
      const state = replicaStates[id]?.[key]
      if (state !== undefined) (perKey[`${key}@${id}`] as Record<string, unknown>)[key] = state
    }
  }
  for (const [key, byNode] of finals) {
    const one: Record<string, Record<string, unknown>> = {}
    for (const id of byNode.keys()) one[id] = perKey[`${key}@${id}`] as Record<string, unknown>
    const conv = checkConvergence(one)
    if (conv.valid !== true) violations.push(...conv.anomalies.map(a => `convergence: ${a.explanation}`))
  }

  // mv and or-set: no acknowledged add lost, on any primary.
  const setFinals = (key: string, members: (rec: ReplicaRecord) => string[]): Array<{ key: string, replica: string, elements: string[] }> =>
    [...(finals.get(key) ?? new Map<string, ReplicaRecord | undefined>()).entries()].map(([id, rec]) => ({ key, replica: id, elements: rec === undefined ? [] : members(rec) }))
  for (const key of mvKeys) {
    const res = checkSet(events.filter(e => e.key === key), { finalReads: setFinals(key, rec => { const v = readView(rec.state); return v.merge === 'mv' ? v.values.map(b => Buffer.from(b).toString()) : [] }) })
    if (res.valid === false) violations.push(...res.anomalies.map(a => `mv set ${key}: ${a.explanation}`))
  }
  for (const key of orsetKeys) {
    const res = checkSet(events.filter(e => e.key === key), { finalReads: setFinals(key, rec => { const v = readView(rec.state); return v.merge === 'orset' ? v.members : [] }) })
    if (res.valid === false) violations.push(...res.anomalies.map(a => `or-set ${key}: ${a.explanation}`))
  }
  // Counters: exact on every primary.
  for (const key of counterKeys) {
    const finalReads = [...(finals.get(key) ?? new Map<string, ReplicaRecord | undefined>()).entries()].map(([id, rec]) => {
      const v = rec === undefined ? undefined : readView(rec.state)
      return { key, replica: id, value: v?.merge === 'counter' ? v.value : 0 }
    })
    const res = checkCounter(events.filter(e => e.key === key), { finalReads })
    if (res.valid === false) violations.push(...res.anomalies.map(a => `counter ${key}: ${a.explanation}`))
  }
  // Bounded reads: none misses a write acknowledged more than its bound (plus the clock spread) before it.
  const registersAll = byPrefix('lww/')
  violations.push(...checkBounded(registersAll, nemesis.clockSpreadMs))
  // Sessions and causality on the registers (bounded reads are not held to sessions).
  const registers = withoutBoundedReads(registersAll)
  const sessions = checkSessions(registers)
  if (sessions.valid === false) violations.push(...sessions.anomalies.map(a => `session ${a.kind}: ${a.explanation}`))
  const causal = checkCausal(registers)
  if (causal.valid === false) violations.push(...causal.anomalies.map(a => `causal ${a.kind}: ${a.explanation}`))
  for (const e of cluster.net.handlerErrors()) {
    if (!(e.error instanceof QuorumKvError)) violations.push(`handler on ${e.node} for ${e.protocol} threw ${String(e.error)}`)
  }

  const discard = lwwDiscards(registers, finals)
  const metric = async (name: string): Promise<number> => {
    let sum = 0
    for (const registry of cluster.registries.values()) {
      const m = registry.getSingleMetric(name)
      if (m !== undefined) for (const v of (await m.get()).values) sum += v.value
    }
    return sum
  }
  let siblingsMax = 0
  for (const key of mvKeys) for (const rec of finals.get(key)?.values() ?? []) if (rec?.state.merge === 'mv') siblingsMax = Math.max(siblingsMax, rec.state.set.siblings.length)
  return {
    seed,
    ok: violations.length === 0,
    violations,
    stats: {
      nodes,
      ops: workload.okOps + workload.failedOps + workload.unknownOps,
      okOps: workload.okOps,
      failedOps: workload.failedOps,
      unknownOps: workload.unknownOps,
      crashes: nemesis.crashes,
      partitions: nemesis.partitions,
      lwwAcked: discard.acked,
      lwwDiscardedConcurrent: discard.concurrent,
      boundedReadsOk: toOperations(registersAll).filter(o => o.f === 'read' && o.outcome === 'ok' && o.invoke.boundedMs !== undefined).length,
      siblingsMax,
      hintsHandedOff: await metric('quorumkv_hints_handed_off_total'),
      readRepairs: await metric('quorumkv_read_repairs_total'),
      tombstonesReaped: await metric('quorumkv_tombstones_reaped_total'),
      clockDriftRejected: await metric('quorumkv_clock_drift_rejected_total'),
      events: cluster.clock.eventsRunTotal,
      virtualMs: cluster.clock.now()
    },
    nemesisLog: nemesis.log,
    history: events
  }
}

export function replayCommand (seed: number): string {
  return `node --import ./src/runtime/register.js test/sim/quorum/run.ts --start ${seed} --seeds 1 --verbose`
}

export function formatFailure (r: QuorumSimResult): string[] {
  return [`FAIL seed=${r.seed} (${r.stats.nodes} nodes)`, ...r.violations.slice(0, 20).map(v => `  ${v}`), `  replay: ${replayCommand(r.seed)}`]
}

/**
 * A bounded read with bound T invoked at time t must reflect every write of its key acknowledged
 * before t - T - spread, where spread is how far apart the machines' clocks were (the bound is
 * measured with those clocks, ADR 0001 §4). For lww, "reflects" means a version at least as great.
 */
function checkBounded (events: HistoryEvent[], spreadMs: number): string[] {
  const out: string[] = []
  const ops = toOperations(events)
  const writes = ops.filter(o => o.outcome === 'ok' && (o.f === 'write' || o.f === 'delete') && typeof o.complete?.version === 'string')
  // A null read is explained by any delete that may have happened before it returned.
  const deletes = ops.filter(o => o.f === 'delete' && o.outcome !== 'fail')
  for (const read of ops) {
    const bound = read.invoke.boundedMs
    if (read.f !== 'read' || read.outcome !== 'ok' || typeof bound !== 'number') continue
    const horizon = read.invokeTime - bound - spreadMs
    const before = writes.filter(w => w.key === read.key && (w.completeTime as number) < horizon)
    const got = read.complete?.version
    for (const w of before) {
      const wv = w.complete?.version as string
      if (typeof got === 'string' ? got >= wv : w.f === 'delete' || deletes.some(d => d.key === read.key && d.invokeTime < (read.completeTime as number) && (typeof d.complete?.version !== 'string' || d.complete.version > wv))) continue
      out.push(`bounded: read of ${read.key} at ${read.invokeTime.toFixed(0)} (bound ${bound} ms, clock spread ${spreadMs} ms) returned ${String(read.output)} (${String(got)}), older than ${String(w.input)} acknowledged at ${(w.completeTime as number).toFixed(0)} (${wv})`)
      break
    }
  }
  return out
}

/** The history without bounded reads (each invoke and its completion). */
function withoutBoundedReads (events: HistoryEvent[]): HistoryEvent[] {
  const open = new Map<unknown, boolean>()
  return events.filter(e => {
    if (e.type === 'invoke') {
      const bounded = e.boundedMs !== undefined
      open.set(e.process, bounded)
      return !bounded
    }
    return open.get(e.process) !== true
  })
}

function describe (rec: ReplicaRecord): unknown {
  const v = readView(rec.state)
  switch (v.merge) {
    case 'lww': return v.value === undefined ? null : Buffer.from(v.value).toString()
    case 'mv': return { siblings: v.values.map(b => Buffer.from(b).toString()) }
    case 'counter': return v.value
    case 'orset': return v.members
  }
}

/**
 * Acknowledged lww writes whose value did not survive although the surviving write had not seen
 * them: concurrent writes that last-writer-wins discarded.
 */
function lwwDiscards (registers: HistoryEvent[], finals: Map<string, Map<string, ReplicaRecord | undefined>>): { acked: number, concurrent: number } {
  const ops = toOperations(registers)
  const built = buildCausalGraph(ops)
  if (!built.ok) return { acked: 0, concurrent: 0 }
  const g = built.graph
  let acked = 0
  let concurrent = 0
  for (const [key, byNode] of finals) {
    if (!key.startsWith('lww/')) continue
    const rec = [...byNode.values()].find(r => r !== undefined)
    const winnerValue = rec === undefined ? null : describe(rec)
    const winners = g.writersOf(key, winnerValue)
    const winner = winners.length === 1 ? winners[0] : undefined
    for (const op of ops) {
      if (op.key !== key || op.outcome !== 'ok' || (op.f !== 'write' && op.f !== 'delete')) continue
      acked++
      const id = g.idOf(op)
      if (id === undefined || id === winner) continue
      if (winner === undefined || !g.before(id, winner)) concurrent++
    }
  }
  return { acked, concurrent }
}
