import { Registry } from 'prom-client'
import { TimeoutError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { RaftNode, type RaftSettings } from '../../src/raft/raft-node.js'
import { seededRandom } from '../../src/runtime/random.js'
import type { TimeSource, TimerHandle } from '../../src/runtime/time.js'
import type { StorageEngine } from '../../src/storage/engine.js'
import { KvStateMachine } from '../../src/storage/kv-state-machine.js'
import { SimClock, SimNetwork, type SimNetworkOptions } from '../../src/transport/sim/index.js'
import { MemoryEngine } from '../replication/memory-engine.js'
import { silentLogger } from '../support/silent-logger.js'

/**
 * RaftNode drivers (not bare cores) on the deterministic simulated network, each over an
 * in-memory disk that survives its crashes.
 *
 * The driver takes its ticks from a `setInterval` timer (so that a wall-clock step cannot rush a
 * lease), not from its TimeSource, and measures them on its `monotonicNow` component, which the
 * cluster sets to the node's virtual clock. `installDriverClock` bridges the timer: while a node
 * starts, `setInterval` schedules on that node's ProcessTime. So each node ticks on virtual time
 * at its own clock rate (`SimNetwork.setClockSkew`), a crash kills its ticker, and everything
 * replays from the seed.
 */
let startingNode: TimeSource | undefined

class SimInterval {
  cancelled = false
  handle: TimerHandle | undefined
  cancel (): void {
    this.cancelled = true
    this.handle?.cancel()
  }

  unref (): this { return this }
  ref (): this { return this }
  hasRef (): boolean { return false }
}

/** Installs the bridge (once per test file, before any node starts); returns the function that removes it. */
export function installDriverClock (): () => void {
  const realSetInterval = globalThis.setInterval
  const realClearInterval = globalThis.clearInterval
  const g = globalThis as unknown as { setInterval: unknown, clearInterval: unknown }
  g.setInterval = (fn: () => void, ms: number): unknown => {
    const time = startingNode
    if (time === undefined) return realSetInterval(fn, ms)
    const interval = new SimInterval()
    const arm = (): void => {
      interval.handle = time.setTimeout(() => {
        if (interval.cancelled) return
        arm()
        fn()
      }, ms)
    }
    arm()
    return interval
  }
  g.clearInterval = (handle: unknown): void => {
    if (handle instanceof SimInterval) handle.cancel()
    else realClearInterval(handle as Parameters<typeof clearInterval>[0])
  }
  return () => {
    g.setInterval = realSetInterval
    g.clearInterval = realClearInterval
  }
}

export const simRaftSettings: RaftSettings = {
  electionTimeoutMs: 1_000,
  heartbeatIntervalMs: 100,
  preVote: true,
  checkQuorum: true,
  readMode: 'lease',
  clockDriftBoundMs: 100,
  votersMax: 7,
  inflightMessagesMax: 64,
  inflightBytesMax: 1024 * 1024,
  uncommittedBytesMax: 4 * 1024 * 1024,
  entriesPerMessageMax: 64,
  diskStallStepDownMs: 5_000,
  snapshotEveryEntries: 1_000_000,
  catchUpEntries: 1_000,
  snapshotChunkBytes: 64 * 1024
}

export interface DriverClusterOptions {
  voters?: string[]
  learners?: string[]
  seed?: number
  raft?: Partial<RaftSettings>
  network?: Partial<Omit<SimNetworkOptions, 'clock' | 'random'>>
}

export class DriverCluster {
  readonly clock = new SimClock()
  readonly net: SimNetwork
  readonly voters: string[]
  readonly learners: string[]
  readonly settings: RaftSettings
  readonly engines = new Map<string, MemoryEngine>()
  readonly nodes = new Map<string, RaftNode>()
  readonly machines = new Map<string, KvStateMachine>()
  private readonly seed: number
  private boots = 0

  constructor (options: DriverClusterOptions = {}) {
    this.seed = options.seed ?? 1
    this.voters = options.voters ?? ['n1', 'n2', 'n3']
    this.learners = options.learners ?? []
    this.settings = { ...simRaftSettings, ...options.raft }
    this.net = new SimNetwork({ clock: this.clock, random: seededRandom(this.seed), ...options.network })
  }

  get ids (): string[] {
    return [...this.voters, ...this.learners]
  }

  async start (): Promise<void> {
    for (const id of this.ids) {
      this.net.addNode(id)
      this.engines.set(id, new MemoryEngine())
    }
    for (const id of this.ids) await this.boot(id)
  }

  /** Opens and starts the driver of a node whose process is up. */
  async boot (id: string): Promise<RaftNode> {
    const transport = this.net.transport(id)
    if (transport === undefined) throw new Error(`${id} is down`)
    const engine = this.engines.get(id) as unknown as StorageEngine
    const stateMachine = await KvStateMachine.open(engine, { clientSessionsMax: 1_000 })
    const node = await RaftNode.open(
      { engine, stateMachine, transport, logger: silentLogger, time: transport.time, random: seededRandom(this.seed * 1_000 + ++this.boots), registry: new Registry(), monotonicNow: () => transport.time.now() },
      { id, bootstrap: { voters: this.voters, learners: this.learners }, raft: this.settings, batch: { batchOpsMax: 1_000, batchBytesMax: 1024 * 1024 } }
    )
    startingNode = transport.time
    try { node.start() } finally { startingNode = undefined }
    this.nodes.set(id, node)
    this.machines.set(id, stateMachine)
    return node
  }

  node (id: string): RaftNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`${id} is down`)
    return n
  }

  /** The nodes that believe they lead. */
  leaders (): string[] {
    return [...this.nodes].filter(([, n]) => n.isLeader).map(([id]) => id)
  }

  /** Runs virtual time until exactly one node leads and has applied an entry of its term. */
  async settleLeader (maxTimeMs = 10_000): Promise<string> {
    const ok = await this.clock.runUntilCondition(() => this.leaders().length === 1, { maxTimeMs })
    if (!ok) throw new Error(`no single leader within ${maxTimeMs} ms`)
    const id = this.leaders()[0] as string
    await this.put(id, '_settle', id)
    return id
  }

  /** A write through `id` (forwarded to the leader when it follows), run on virtual time. */
  async put (id: string, key: string, value: unknown, timeoutMs = 5_000): Promise<void> {
    await this.clock.run(async () => await this.putNow(id, key, value, timeoutMs), { maxTimeMs: timeoutMs + 1_000 })
  }

  /** A strong read on `id`, run on virtual time. */
  async strongRead (id: string, key: string, timeoutMs = 5_000): Promise<unknown> {
    return await this.clock.run(async () => await this.strongReadNow(id, key, timeoutMs), { maxTimeMs: timeoutMs + 1_000 })
  }

  /** For code already running on virtual time (clients of a workload). */
  async putNow (id: string, key: string, value: unknown, timeoutMs: number): Promise<void> {
    const node = this.node(id)
    await this.withDeadline(id, timeoutMs, async (signal) => {
      const outcome = await node.propose({ op: 'put', key, value: encode(value) }, signal)
      if (!outcome.ok) throw new Error(`put ${key} failed: ${outcome.message}`)
    })
  }

  /** The read barrier, then the local state machine: what KvService does for a strong read. */
  async strongReadNow (id: string, key: string, timeoutMs: number): Promise<unknown> {
    const node = this.node(id)
    const sm = this.machines.get(id) as KvStateMachine
    return await this.withDeadline(id, timeoutMs, async (signal) => {
      await node.readBarrier(signal)
      const record = await sm.read(key)
      return record === undefined ? null : decode(record.value)
    })
  }

  /** Runs `fn` with a signal that fires after `timeoutMs` of the node's own (virtual) time. */
  private async withDeadline<T> (id: string, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const time = this.net.transport(id)?.time
    if (time === undefined) throw new Error(`${id} is down`)
    const controller = new AbortController()
    const timer = time.setTimeout(() => { controller.abort(new TimeoutError(`no answer within ${timeoutMs} ms`, { timeoutMs })) }, timeoutMs)
    try {
      return await fn(controller.signal)
    } finally {
      timer.cancel()
    }
  }

  /** Messages sent so far by `from` to each other node. */
  sentBy (from: string): number {
    return this.ids.filter(id => id !== from).reduce((sum, to) => sum + this.net.stats(from, to).sent, 0)
  }

  crash (id: string): void {
    this.net.crash(id)
    this.nodes.delete(id)
    this.machines.delete(id)
  }

  async stop (): Promise<void> {
    for (const id of [...this.nodes.keys()]) this.crash(id)
  }
}
