import type { HistoryRecorder } from '../../../chaos/history.js'
import type { ConsistencyLevel } from '../../../src/api/consistency.js'
import { randomInt, type Random } from '../../../src/runtime/random.js'
import { emptyQuorumSession, joinSessions, type QuorumSession } from '../../../src/replication/session.js'
import type { QuorumReplica } from '../../../src/replication/replica.js'
import type { Cluster } from '../../replication/cluster.js'

/**
 * The clients of a simulation run: sequential processes that call random live nodes and record
 * every call in a Jepsen-style history. Four workloads at once, each on its own keys:
 *
 * - registers (`lww/r*`): causal writes of unique values, causal reads, a few deletes, each process
 *   keeping its session token; now and then a process joins another's token (a hand-over between
 *   agents) and records that with a marker write whose `deps` name what the other had seen;
 * - mv sets (`mv/s*`): blind puts of unique values, which must all survive as siblings;
 * - a counter (`ctr/c0`): increments by small deltas;
 * - an or-set (`set/o0`): adds of unique elements.
 */
export const registerKeys = ['lww/r0', 'lww/r1', 'lww/r2']
export const mvKeys = ['mv/s0', 'mv/s1', 'mv/s2']
export const counterKeys = ['ctr/c0']
export const orsetKeys = ['set/o0']

export interface WorkloadOptions {
  processes: number
  endMs: number
  /** Client-side give-up time for one call, past the call's own deadline (a call on a crashed node never settles). */
  guardMs: number
  timeoutMs: number
}

export interface ProcessState {
  id: number
  session: QuorumSession
  /** Per register key, the latest value this process wrote or read (unique values). */
  known: Map<string, string>
  seq: number
}

const enc = (s: string): Uint8Array => Buffer.from(s)
const dec = (b: Uint8Array): string => Buffer.from(b).toString()

type Outcome<T> = { kind: 'ok', value: T } | { kind: 'err', code: string, message: string } | { kind: 'hung' }

/** Codes after which a write's outcome is unknown (ADR 0001 §10). */
const unknownOutcome = new Set(['TIMEOUT', 'ABORTED', 'QUORUM_UNAVAILABLE', 'UNAVAILABLE', 'CLOSED', 'INTERNAL', 'STORAGE'])

export class Workload {
  readonly processes: ProcessState[]
  okOps = 0
  failedOps = 0
  unknownOps = 0

  constructor (
    private readonly cluster: Cluster,
    private readonly history: HistoryRecorder,
    private readonly random: Random,
    private readonly options: WorkloadOptions
  ) {
    this.processes = Array.from({ length: options.processes }, (_, id) => ({ id, session: emptyQuorumSession(), known: new Map(), seq: 0 }))
  }

  async run (): Promise<void> {
    await Promise.all(this.processes.map(async p => { await this.loop(p) }))
  }

  private now (): number {
    return this.cluster.clock.now()
  }

  private async sleep (ms: number): Promise<void> {
    await new Promise<void>(resolve => { this.cluster.clock.setTimeout(resolve, ms) })
  }

  private pickNode (): QuorumReplica | undefined {
    const up = [...this.cluster.replicas.values()]
    return up.length === 0 ? undefined : up[randomInt(this.random, up.length)]
  }

  private async loop (p: ProcessState): Promise<void> {
    while (this.now() < this.options.endMs) {
      await this.sleep(15 + randomInt(this.random, 50))
      const node = this.pickNode()
      if (node === undefined) continue
      const dice = this.random.next()
      if (dice < 0.28) await this.registerWrite(p, node)
      else if (dice < 0.52) await this.registerRead(p, node)
      else if (dice < 0.58) await this.registerDelete(p, node)
      else if (dice < 0.73) await this.mvAdd(p, node)
      else if (dice < 0.85) await this.counterAdd(p, node)
      else if (dice < 0.94) await this.orsetAdd(p, node)
      else await this.handOver(p, node)
    }
  }

  private async call<T> (fn: () => Promise<T>): Promise<Outcome<T>> {
    let timer: { cancel: () => void } | undefined
    const guard = new Promise<Outcome<T>>(resolve => { timer = this.cluster.clock.setTimeout(() => { resolve({ kind: 'hung' }) }, this.options.guardMs) })
    const work = fn().then(
      (value): Outcome<T> => ({ kind: 'ok', value }),
      (err: unknown): Outcome<T> => ({ kind: 'err', code: String((err as { code?: unknown }).code ?? 'NONE'), message: (err as Error).message })
    )
    const out = await Promise.race([work, guard])
    timer?.cancel()
    return out
  }

  private complete<T> (op: ReturnType<HistoryRecorder['invoke']>, out: Outcome<T>, write: boolean, ok: (value: T) => void): void {
    const t = this.now()
    if (out.kind === 'ok') {
      this.okOps++
      ok(out.value)
      return
    }
    const error = out.kind === 'hung' ? 'HUNG' : `${out.code}: ${out.message.slice(0, 120)}`
    if (!write) {
      this.failedOps++
      op.fail(t, { error })
    } else if (out.kind === 'hung' || unknownOutcome.has(out.code)) {
      this.unknownOps++
      op.info(t, { error })
    } else {
      this.failedOps++
      op.fail(t, { error })
    }
  }

  private unique (p: ProcessState): string {
    return `p${p.id}-${p.seq++}`
  }

  private async registerWrite (p: ProcessState, node: QuorumReplica, key = registerKeys[randomInt(this.random, registerKeys.length)] as string, deps?: Array<{ key: string, value: string }>): Promise<void> {
    const value = this.unique(p)
    const op = this.history.invoke(p.id, 'write', key, value, this.now(), { replica: node.node, ...(deps !== undefined ? { deps } : {}) })
    // w = 1 half the time: quorums then need not overlap, and only the session keeps reads fresh.
    const w = 1 + randomInt(this.random, 2)
    const out = await this.call(async () => await node.put(key, enc(value), { consistency: 'causal', w, session: p.session, timeoutMs: this.options.timeoutMs }))
    this.complete(op, out, true, (r) => {
      p.session = r.session
      p.known.set(key, value)
      op.ok(value, this.now(), { version: r.version })
    })
  }

  private async registerRead (p: ProcessState, node: QuorumReplica): Promise<void> {
    const key = registerKeys[randomInt(this.random, registerKeys.length)] as string
    // Mostly causal reads; some bounded ones, whose answers are checked against their bound
    // instead (and are not session reads: they are recorded under a session of their own).
    const bounded = this.random.next() < 0.15
    const level: ConsistencyLevel = bounded ? 'bounded' : 'causal'
    const maxStalenessMs = bounded ? 300 + randomInt(this.random, 700) : undefined
    const op = this.history.invoke(p.id, 'read', key, null, this.now(), { replica: node.node, ...(bounded ? { boundedMs: maxStalenessMs, session: `bounded-${p.id}-${p.seq++}` } : {}) })
    const r = 1 + randomInt(this.random, 2)
    const out = await this.call(async () => await node.get(key, { consistency: level, r, session: p.session, timeoutMs: this.options.timeoutMs, ...(maxStalenessMs !== undefined ? { maxStalenessMs } : {}) }))
    this.complete(op, out, false, (r) => {
      p.session = r.session
      if (r.entry?.merge === 'lww') {
        const value = dec(r.entry.value)
        // A bounded read carries no causal past (the value's dependencies are not joined into the
        // session), so what it saw is no dependency a later hand-over may claim.
        if (!bounded) p.known.set(key, value)
        op.ok(value, this.now(), { version: r.entry.version })
      } else {
        op.ok(null, this.now())
      }
    })
  }

  private async registerDelete (p: ProcessState, node: QuorumReplica): Promise<void> {
    const key = registerKeys[randomInt(this.random, registerKeys.length)] as string
    const op = this.history.invoke(p.id, 'delete', key, null, this.now(), { replica: node.node })
    const out = await this.call(async () => await node.delete(key, { consistency: 'causal', session: p.session, timeoutMs: this.options.timeoutMs }))
    this.complete(op, out, true, (r) => {
      p.session = r.session
      p.known.delete(key)
      op.ok(null, this.now(), { version: r.version })
    })
  }

  private async mvAdd (p: ProcessState, node: QuorumReplica): Promise<void> {
    const key = mvKeys[randomInt(this.random, mvKeys.length)] as string
    const value = this.unique(p)
    const consistency: ConsistencyLevel = this.random.next() < 0.5 ? 'eventual' : 'causal'
    const op = this.history.invoke(p.id, 'add', key, value, this.now(), { replica: node.node, consistency })
    const out = await this.call(async () => await node.put(key, enc(value), { consistency, session: p.session, timeoutMs: this.options.timeoutMs }))
    this.complete(op, out, true, (r) => {
      p.session = r.session
      op.ok(value, this.now())
    })
  }

  private async counterAdd (p: ProcessState, node: QuorumReplica): Promise<void> {
    const key = counterKeys[0] as string
    const delta = randomInt(this.random, 9) - 3
    const op = this.history.invoke(p.id, 'add', key, delta, this.now(), { replica: node.node })
    const out = await this.call(async () => await node.increment(key, delta, { consistency: this.random.next() < 0.5 ? 'eventual' : 'causal', session: p.session, timeoutMs: this.options.timeoutMs }))
    this.complete(op, out, true, (r) => {
      p.session = r.session
      op.ok(delta, this.now())
    })
  }

  private async orsetAdd (p: ProcessState, node: QuorumReplica): Promise<void> {
    const key = orsetKeys[0] as string
    const element = this.unique(p)
    const op = this.history.invoke(p.id, 'add', key, element, this.now(), { replica: node.node })
    const out = await this.call(async () => await node.orsetAdd(key, element, { consistency: 'causal', session: p.session, timeoutMs: this.options.timeoutMs }))
    this.complete(op, out, true, (r) => {
      p.session = r.session
      op.ok(element, this.now())
    })
  }

  /** Joins another process's token, then writes a marker whose deps say what that process had seen. */
  private async handOver (p: ProcessState, node: QuorumReplica): Promise<void> {
    const others = this.processes.filter(q => q !== p)
    const q = others[randomInt(this.random, others.length)] as ProcessState
    p.session = joinSessions(p.session, q.session)
    const deps = [...q.known.entries()].map(([key, value]) => ({ key, value }))
    for (const [key, value] of q.known) if (!p.known.has(key)) p.known.set(key, value)
    await this.registerWrite(p, node, `lww/h${p.id}`, deps)
  }
}
