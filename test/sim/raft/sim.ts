import { HistoryRecorder } from '../../../chaos/history.js'
import type { OpHandle } from '../../../chaos/history.js'
import { checkLinearizable } from '../../../chaos/checkers/linearizable.js'
import { QuorumKvError } from '../../../src/api/errors.js'
import { seededRandom } from '../../../src/runtime/random.js'
import type { Random } from '../../../src/runtime/random.js'
import { decodeConfEntry } from '../../../src/raft/core/index.js'
import type { Entry, RaftCoreOptions, RaftMessage, Ready, SnapshotMessage } from '../../../src/raft/core/index.js'
import type { SimConfig } from './configs.js'
import { EventQueue } from './event-queue.js'
import { Nemesis } from './nemesis.js'
import { RaftObserver } from './invariants.js'
import { decodeCommand, encodeCommand } from './kv.js'
import type { Command, KvStore } from './kv.js'
import { SimNode } from './sim-node.js'
import type { ClientRequest } from './sim-node.js'

/**
 * A deterministic simulation of a quorumkv Raft group at the core level: RaftCores exchange
 * messages through a simulated network, persist through simulated disks, and apply to an
 * in-memory KV state machine, while clients run put / cas / linearizable reads and a nemesis
 * drawn from the seed injects faults. Everything (delays, losses, timeouts, fault schedule) comes
 * from one seeded Random, so a seed replays exactly.
 */
export interface SimResult {
  seed: number
  config: string
  ok: boolean
  violations: string[]
  stats: {
    ops: number
    okOps: number
    infoOps: number
    elections: number
    maxApplied: number
    messages: number
    events: number
    snapshotsSent: number
    confChanges: number
    crashes: number
  }
}

interface Client {
  id: number
  leaderGuess: string | null
  seq: number
  opId: number
  op: OpHandle | null
  f: 'read' | 'write' | 'cas'
  key: string
  lastSeen: Map<string, string | null>
}

type Reply = { kind: 'ok', value: unknown } | { kind: 'fail', leader?: string | null } | { kind: 'info' }

const eventsMax = 5_000_000
const simOptions: Omit<RaftCoreOptions, 'id' | 'storage' | 'random' | 'applied'> = {
  electionTimeoutTicks: 10,
  heartbeatTicks: 2,
  inflightMessagesMax: 8,
  inflightBytesMax: 4096,
  uncommittedBytesMax: 6000,
  entriesPerMessageMax: 8,
  messageBytesMax: 1024,
  committedBytesPerReadyMax: 2048,
  readsPendingMax: 64,
  promoteLagEntriesMax: 5,
  diskStallTicksMax: 25
}

export class Simulation {
  readonly config: SimConfig
  readonly seed: number
  readonly rand: Random
  readonly q = new EventQueue()
  readonly nodes = new Map<string, SimNode>()
  readonly ids: string[] = []
  private readonly observer = new RaftObserver()
  private readonly history = new HistoryRecorder()
  private readonly clients: Client[] = []
  private readonly options: Omit<RaftCoreOptions, 'id' | 'storage' | 'random' | 'applied'>
  /** Blocked directed links "from>to". */
  blocked = new Set<string>()
  lossRate = 0
  dupRate = 0
  faultsOn = true
  private stopped = false
  spares: string[] = []
  /** Every node ever seen in a configuration: ids are never reused, a removed node is not re-added. */
  readonly everMember = new Set<string>()
  readonly stats: SimResult['stats'] = { ops: 0, okOps: 0, infoOps: 0, elections: 0, maxApplied: 0, messages: 0, events: 0, snapshotsSent: 0, confChanges: 0, crashes: 0 }
  private nodeSeed = 0
  private crashPointRate = 0
  private crashPointsLeft = 0
  /** Extra one-way latency per directed link "from>to" (some links are slow). */
  private readonly linkExtraMs = new Map<string, number>()
  private diskMinMs = 0.1
  private diskMaxMs = 1.5
  private readonly trace: string[] | null
  private readonly nemesis: Nemesis

  constructor (config: SimConfig, seed: number, trace = false) {
    this.config = config
    this.seed = seed
    this.rand = seededRandom(seed)
    this.trace = trace ? [] : null
    // Flow-control limits vary per seed: tiny windows split appends (old-term entries then get
    // acknowledged apart from the new leader's entry, the Figure 8 situation).
    const pickOf = <T>(list: readonly T[]): T => list[Math.floor(this.rand.next() * list.length)] as T
    this.options = {
      ...simOptions,
      preVote: config.preVote,
      checkQuorum: config.checkQuorum,
      readMode: config.readMode,
      entriesPerMessageMax: pickOf([1, 2, 4, 8, 64]),
      inflightMessagesMax: pickOf([1, 2, 4, 16]),
      messageBytesMax: pickOf([200, 1024, 8192])
    }
    this.crashPointRate = pickOf([0, 0.002, 0.01, 0.03])
    this.crashPointsLeft = 8
    const disk = pickOf([[0.05, 0.5], [0.1, 2], [1, 8]] as const)
    this.diskMinMs = disk[0]
    this.diskMaxMs = disk[1]
    const voters: string[] = []
    const learners: string[] = []
    let n = 0
    for (let i = 0; i < config.voters; i++) voters.push(`n${++n}`)
    for (let i = 0; i < config.learners; i++) learners.push(`n${++n}`)
    for (let i = 0; i < config.spares; i++) this.spares.push(`n${++n}`)
    for (const id of [...voters, ...learners]) {
      this.addNode(id, { voters, learners })
      this.everMember.add(id)
    }
    for (const id of this.spares) this.addNode(id, { voters: [], learners: [] })
    this.nemesis = new Nemesis(this)
  }

  log (text: string): void {
    if (this.trace !== null) this.trace.push(`${this.q.now.toFixed(1)} ${text}`)
  }

  traceLines (): string[] {
    return this.trace ?? []
  }

  random (): number { return this.rand.next() }
  between (lo: number, hi: number): number { return lo + this.random() * (hi - lo) }
  pick<T> (list: readonly T[]): T | undefined { return list.length === 0 ? undefined : list[Math.floor(this.random() * list.length)] }

  private addNode (id: string, conf: { voters: string[], learners: string[] }): void {
    const drift = this.config.clockDriftMax
    const period = this.config.tickMs * (1 + (drift > 0 ? this.between(-drift, drift) : 0))
    this.nodes.set(id, new SimNode(id, conf, period))
    this.ids.push(id)
  }

  // ---- node processes ----

  startNode (node: SimNode): void {
    node.start(this.options, this.seed * 1000 + ++this.nodeSeed)
    this.log(`${node.id} start`)
    this.scheduleTick(node, node.epoch)
  }

  private scheduleTick (node: SimNode, epoch: number): void {
    this.q.after(node.tickPeriodMs, () => {
      if (node.epoch !== epoch || node.state === 'down') return
      if (node.state === 'paused') node.missedTicks++
      else this.withCore(node, (core) => core.tick())
      this.scheduleTick(node, epoch)
    })
  }

  /** Runs `fn` on the node's process: dropped when down, queued while paused. */
  private atNode (node: SimNode, fn: () => void): void {
    if (node.state === 'down') return
    if (node.state === 'paused') {
      const epoch = node.epoch
      node.inbox.push(() => { if (node.epoch === epoch) fn() })
      return
    }
    fn()
    this.pump(node)
  }

  private withCore (node: SimNode, fn: (core: NonNullable<SimNode['core']>) => void): void {
    this.atNode(node, () => {
      const core = node.core
      if (core === null) return
      fn(core)
      this.observeRole(node)
    })
  }

  /** Checked the moment a node becomes leader, not when its Ready is processed (that may be much later). */
  private observeRole (node: SimNode): void {
    const core = node.core
    if (core === null) return
    if (core.role !== 'leader') {
      if (node.leading) this.log(`${node.id} steps down (term ${core.currentTerm})`)
      node.leading = false
      return
    }
    node.leading = true
    if (node.ledTerm === core.currentTerm) return
    node.ledTerm = core.currentTerm
    this.log(`${node.id} leads term ${core.currentTerm}`)
    this.observer.onLeader(node.id, core.currentTerm, core, this.q.now)
  }

  crash (node: SimNode): void {
    if (node.state === 'down') return
    this.log(`${node.id} crash`)
    this.stats.crashes++
    node.crash()
  }

  pause (node: SimNode): void {
    if (node.state !== 'up') return
    this.log(`${node.id} pause`)
    node.state = 'paused'
  }

  resume (node: SimNode): void {
    if (node.state !== 'paused') return
    this.log(`${node.id} resume after ${node.missedTicks} ticks`)
    node.state = 'up'
    // A correct driver derives ticks from a monotonic clock: the missed ones come first.
    const core = node.core
    if (core !== null) for (; node.missedTicks > 0; node.missedTicks--) core.tick()
    node.missedTicks = 0
    this.observeRole(node)
    const inbox = node.inbox
    node.inbox = []
    for (const fn of inbox) {
      if (node.state !== 'up') {
        node.inbox.push(fn)
        continue
      }
      fn()
    }
    this.pump(node)
  }

  /** Hands the core's Readies to the simulated disk, at most pipelineDepth at a time. */
  pump (node: SimNode): void {
    const core = node.core
    if (core === null || node.state !== 'up') return
    while (node.readiesInFlight < this.config.pipelineDepth && core.hasReady()) {
      const rd = core.ready()
      for (const m of rd.messagesBeforePersist) this.send(node, m)
      if (this.crashPoint(node, rd)) return
      node.readiesInFlight++
      const latency = this.between(this.diskMinMs, this.diskMaxMs) + node.diskExtraMs
      const done = Math.max(this.q.now, node.diskFreeAt) + latency
      node.diskFreeAt = done
      const epoch = node.epoch
      this.q.at(done, () => {
        if (node.epoch !== epoch) return
        this.atNode(node, () => this.complete(node, rd))
      })
    }
  }

  /**
   * A crash point around persistence (as etcd's robustness tests do): the node dies after the
   * Ready's early messages left and before its fsync completed. Whatever it promised in
   * `messages` must not have left; whatever it counted of its own log must not have been used.
   */
  private crashPoint (node: SimNode, rd: Ready): boolean {
    if (!this.faultsOn || !this.config.faults.crashes || this.crashPointsLeft <= 0) return false
    const promises = rd.hardState !== undefined || rd.entries.length > 0
    if (!promises || this.random() >= this.crashPointRate) return false
    this.crashPointsLeft--
    this.log(`${node.id} crash point (ready ${rd.seq}: ${rd.entries.length} entries${rd.hardState === undefined ? '' : `, hard state term ${rd.hardState.term} vote ${String(rd.hardState.vote)}`})`)
    this.crash(node)
    this.q.after(this.between(1, 40), () => { if (node.state === 'down') this.startNode(node) })
    return true
  }

  /** The Ready's fsync finished: make it durable, send, apply, answer, advance. */
  private complete (node: SimNode, rd: Ready): void {
    const core = node.core
    if (core === null) return
    node.persist(rd)
    this.observer.onPersist(node.id, rd.entries, this.q.now)
    for (const m of rd.messages) this.send(node, m)
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) this.apply(node, e)
      core.appliedTo(node.applied)
    }
    for (const rs of rd.readStates) {
      const pending = node.pendingReads.get(rs.requestId)
      if (pending === undefined) continue
      node.pendingReads.delete(rs.requestId)
      node.readWaiters.push({ index: rs.index, req: pending.req, key: pending.key })
    }
    for (const id of rd.droppedReads) {
      const pending = node.pendingReads.get(id)
      if (pending === undefined) continue
      node.pendingReads.delete(id)
      this.reply(node, pending.req, { kind: 'fail', leader: core.status().leader })
    }
    this.serveReads(node)
    node.maybeSnapshot(this.config.snapshotEvery, this.config.catchUpEntries)
    core.advance(rd)
    node.readiesInFlight--
    this.observeRole(node)
  }

  private apply (node: SimNode, e: Entry): void {
    if (e.index <= node.applied) return
    if (e.index !== node.applied + 1) this.observer.onApplyGap(node.id, node.applied + 1, e.index, this.q.now)
    this.observer.onApply(node.id, e, this.q.now)
    node.applied = e.index
    const pending = node.pendingProposals.get(e.index)
    if (pending !== undefined) node.pendingProposals.delete(e.index)
    if (e.type === 'conf') {
      const conf = decodeConfEntry(e.data).conf
      for (const id of [...conf.voters, ...conf.learners]) this.everMember.add(id)
    }
    if (e.type !== 'normal' || e.data.byteLength === 0) {
      if (pending !== undefined) this.reply(node, pending.req, { kind: 'fail' })
      return
    }
    const cmd = decodeCommand(e.data)
    const effect = node.kv.apply(cmd)
    if (pending === undefined) return
    if (pending.term !== e.term) {
      // Another entry took the index: ours was overwritten and will never commit.
      this.reply(node, pending.req, { kind: 'fail' })
      return
    }
    if (cmd.o === 'w') this.reply(node, pending.req, { kind: 'ok', value: cmd.v })
    else this.reply(node, pending.req, effect ? { kind: 'ok', value: [cmd.e, cmd.v] } : { kind: 'fail' })
  }

  private serveReads (node: SimNode): void {
    if (node.readWaiters.length === 0) return
    const keep: typeof node.readWaiters = []
    for (const w of node.readWaiters) {
      if (w.index <= node.applied) this.reply(node, w.req, { kind: 'ok', value: node.kv.get(w.key) })
      else keep.push(w)
    }
    node.readWaiters = keep
  }

  // ---- network ----

  private linkDelay (from: string, to: string): number {
    const key = `${from}>${to}`
    let extra = this.linkExtraMs.get(key)
    if (extra === undefined) {
      extra = this.random() < 0.3 ? this.between(1, 6) : 0
      this.linkExtraMs.set(key, extra)
    }
    return extra + this.delay()
  }

  private linkUp (from: string, to: string): boolean {
    return !this.blocked.has(`${from}>${to}`)
  }

  private delay (): number {
    const r = this.random()
    if (r < 0.9) return this.between(0.2, 3)
    if (r < 0.99) return this.between(3, 20)
    return this.between(20, 80)
  }

  private send (from: SimNode, m: RaftMessage): void {
    this.stats.messages++
    if (m.type === 'snap') {
      this.sendSnapshot(from, m)
      return
    }
    if (!this.linkUp(m.from, m.to) || this.random() < this.lossRate) return
    const copies = this.random() < this.dupRate ? 2 : 1
    // Appends carry more bytes than heartbeats: they take longer on the wire.
    const transfer = m.type === 'app' ? m.entries.length * 0.05 : 0
    for (let i = 0; i < copies; i++) {
      this.q.after(this.linkDelay(m.from, m.to) + transfer, () => {
        const to = this.nodes.get(m.to)
        if (to === undefined) return
        this.withCore(to, (core) => core.step(m))
      })
    }
  }

  /**
   * The drivers' snapshot streaming: the leader's snapshot data crosses the network in chunks;
   * any lost chunk fails the transfer (the sender reports it and the core retries later). The
   * receiver steps the `snap` message into its core only once it holds every chunk.
   */
  private sendSnapshot (from: SimNode, m: SnapshotMessage): void {
    const data = from.disk.snapshot
    const key = `${m.snapshot.index}/${m.snapshot.term}`
    const sender = from.epoch
    const report = (ok: boolean, after: number): void => {
      this.q.after(after, () => {
        if (from.epoch !== sender) return
        this.withCore(from, (core) => core.reportSnapshot(m.to, ok))
      })
    }
    if (data.meta.index !== m.snapshot.index || data.meta.term !== m.snapshot.term) {
      report(false, 5)
      return
    }
    this.stats.snapshotsSent++
    const kv: KvStore = data.kv.clone()
    const chunks = 1 + Math.floor(kv.map.size / 2)
    let at = 0
    for (let i = 0; i < chunks; i++) {
      at += this.delay()
      if (!this.linkUp(m.from, m.to) || this.random() < this.lossRate) {
        report(false, at + 20)
        return
      }
    }
    this.log(`${m.from} streams snapshot ${key} to ${m.to} in ${chunks} chunks`)
    this.q.after(at, () => {
      const to = this.nodes.get(m.to)
      if (to === undefined) return
      this.withCore(to, (core) => {
        to.staged.set(key, kv)
        core.step(m)
      })
      report(to.state !== 'down', 1)
    })
  }

  // ---- clients ----

  private startClients (): void {
    for (let i = 0; i < this.config.clients; i++) {
      const c: Client = { id: i, leaderGuess: null, seq: 0, opId: 0, op: null, f: 'read', key: '', lastSeen: new Map() }
      this.clients.push(c)
      this.q.after(this.between(0, 20), () => this.nextOp(c))
    }
  }

  private nextOp (c: Client): void {
    if (this.stopped) return
    const key = `k${Math.floor(this.random() * this.config.keys)}`
    const r = this.random()
    const opId = ++c.opId
    const req: ClientRequest = { client: c.id, opId }
    // Clients mostly stay with their home node (followers forward), some chase the leader.
    const members = this.memberIds()
    const home = members[c.id % Math.max(1, members.length)]
    const r2 = this.random()
    let target = r2 < 0.5 ? home : r2 < 0.8 && c.leaderGuess !== null ? c.leaderGuess : this.pick(members)
    if (target === undefined) target = this.ids[0] as string
    const time = this.q.now
    c.key = key
    this.stats.ops++
    if (r < 0.4) {
      c.f = 'read'
      c.op = this.history.invoke(c.id, 'read', key, null, time)
      this.deliverRequest(target, () => this.handleRead(target, req, key))
    } else if (r < 0.75) {
      c.f = 'write'
      const v = `${c.id}-${++c.seq}`
      c.op = this.history.invoke(c.id, 'write', key, v, time)
      const cmd: Command = { c: c.id, s: c.seq, o: 'w', k: key, v }
      this.deliverRequest(target, () => this.handlePropose(target, req, cmd, true))
    } else {
      c.f = 'cas'
      const v = `${c.id}-${++c.seq}`
      const e = c.lastSeen.get(key) ?? null
      c.op = this.history.invoke(c.id, 'cas', key, [e, v], time)
      const cmd: Command = { c: c.id, s: c.seq, o: 'cas', k: key, e, v }
      this.deliverRequest(target, () => this.handlePropose(target, req, cmd, true))
    }
    this.q.after(this.config.opTimeoutMs, () => {
      if (c.opId !== opId || c.op === null) return
      c.op.info(this.q.now, { error: 'timeout' })
      this.stats.infoOps++
      c.op = null
      c.leaderGuess = null
      this.q.after(this.between(0, 10), () => this.nextOp(c))
    })
  }

  /** Nodes clients may talk to: every started node (a removed one answers NotLeader or forwards). */
  memberIds (): string[] {
    return this.ids.filter((id) => (this.nodes.get(id) as SimNode).started)
  }

  private deliverRequest (target: string, fn: () => void): void {
    if (this.random() < this.lossRate) return
    this.q.after(this.delay(), () => {
      const node = this.nodes.get(target) as SimNode
      this.atNode(node, fn)
    })
  }

  private handlePropose (id: string, req: ClientRequest, cmd: Command, mayForward: boolean): void {
    const node = this.nodes.get(id) as SimNode
    const core = node.core
    if (core === null) return
    const leader = core.leader
    if (mayForward && core.role !== 'leader' && leader !== null && leader !== id) {
      // The driver forwards writes to the leader it knows (one hop); the leader answers the client.
      if (!this.linkUp(id, leader) || this.random() < this.lossRate) return
      this.q.after(this.delay(), () => this.atNode(this.nodes.get(leader) as SimNode, () => this.handlePropose(leader, req, cmd, false)))
      return
    }
    try {
      const res = core.propose([encodeCommand(cmd)])
      node.pendingProposals.set(res.firstIndex, { term: res.term, req, f: cmd.o === 'w' ? 'write' : 'cas' })
    } catch (err) {
      if (!(err instanceof QuorumKvError)) throw err
      const leader = typeof err.details.leader === 'string' ? err.details.leader : null
      this.reply(node, req, { kind: 'fail', leader })
    }
  }

  private handleRead (id: string, req: ClientRequest, key: string): void {
    const node = this.nodes.get(id) as SimNode
    const core = node.core
    if (core === null) return
    // Unique per request, retries included: never reused.
    const requestId = `${id}:${node.epoch}:${++node.readCounter}`
    try {
      core.readIndex(requestId)
      node.pendingReads.set(requestId, { req, key })
    } catch (err) {
      if (!(err instanceof QuorumKvError)) throw err
      const leader = typeof err.details.leader === 'string' ? err.details.leader : null
      this.reply(node, req, { kind: 'fail', leader })
    }
  }

  private reply (node: SimNode, req: ClientRequest, reply: Reply): void {
    if (this.random() < this.lossRate) return
    const from = node.id
    this.q.after(this.delay(), () => {
      const c = this.clients[req.client] as Client
      if (c.opId !== req.opId || c.op === null) return
      const op = c.op
      c.op = null
      if (reply.kind === 'ok') {
        op.ok(reply.value, this.q.now)
        this.stats.okOps++
        if (c.f === 'read') c.lastSeen.set(c.key, reply.value as string | null)
        else if (c.f === 'write') c.lastSeen.set(c.key, reply.value as string)
        else c.lastSeen.set(c.key, (reply.value as [string | null, string])[1])
        c.leaderGuess = from
      } else if (reply.kind === 'fail') {
        op.fail(this.q.now)
        c.leaderGuess = reply.leader ?? null
      } else {
        op.info(this.q.now)
        this.stats.infoOps++
      }
      this.q.after(this.between(0, 10), () => this.nextOp(c))
    })
  }

  currentLeader (): SimNode | undefined {
    for (const n of this.nodes.values()) if (n.core !== null && n.state === 'up' && n.core.status().role === 'leader') return n
    return undefined
  }

  // ---- the run ----

  run (): SimResult {
    for (const n of this.nodes.values()) if (!this.spares.includes(n.id)) this.startNode(n)
    this.startClients()
    this.nemesis.start()
    const faultEnd = this.config.faultPhaseMs
    const end = faultEnd + this.config.finalPhaseMs
    let error: unknown = null
    try {
      this.stats.events += this.q.run(faultEnd, eventsMax)
      this.faultsOn = false
      this.nemesis.heal()
      this.lossRate = 0
      this.dupRate = 0
      for (const n of this.nodes.values()) {
        if (n.state === 'paused') this.resume(n)
        else if (n.state === 'down' && n.started) this.startNode(n)
        n.diskExtraMs = 0
      }
      const okBefore = this.stats.okOps
      this.stats.events += this.q.run(end, eventsMax)
      this.stopped = true
      if (this.stats.okOps === okBefore) this.observer.violations.push(`liveness: no operation succeeded in the ${this.config.finalPhaseMs} ms after every fault was healed`)
    } catch (err) {
      error = err
    }
    for (const n of this.nodes.values()) {
      const st = n.core?.status()
      this.log(`${n.id} ${n.state} ${st === undefined ? '' : `role=${st.role} term=${st.term} lead=${String(st.leader)} commit=${st.commit} applied=${st.applied} last=${st.lastIndex} voters=${st.conf.voters.join(',')} learners=${st.conf.learners.join(',')} ${JSON.stringify(st.progress)}`} inflight=${n.readiesInFlight} diskFreeAt=${n.diskFreeAt.toFixed(0)}`)
    }
    const violations = [...this.observer.violations]
    if (error !== null) violations.push(`exception: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error)}`)
    const storages = new Map([...this.nodes.values()].filter((n) => n.started).map((n) => [n.id, n.disk.storage]))
    this.observer.checkLogs(storages)
    for (const v of this.observer.violations) if (!violations.includes(v)) violations.push(v)
    // A step budget, not a time budget: the verdict must not depend on the machine's speed.
    const lin = checkLinearizable(this.history.events())
    if (lin.valid === false) {
      for (const a of lin.anomalies.slice(0, 3)) violations.push(`linearizability: ${a.kind} on ${a.key}: ${a.explanation}`)
    } else if (lin.valid === 'unknown') {
      violations.push(`linearizability: check inconclusive (${lin.unknownKeys.map((k) => k.reason).join('; ')})`)
    }
    this.stats.elections = this.observer.elections
    this.stats.maxApplied = this.observer.maxApplied
    return { seed: this.seed, config: this.config.name, ok: violations.length === 0, violations, stats: this.stats }
  }

  historyJsonLines (): string {
    return this.history.toJsonLines()
  }
}
