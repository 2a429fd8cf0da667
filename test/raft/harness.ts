import { seededRandom } from '../../src/runtime/random.js'
import { MemoryRaftStorage, RaftCore } from '../../src/raft/core/index.js'
import type { ConfState, Entry, RaftCoreOptions, RaftMessage, ReadState, Ready, Role } from '../../src/raft/core/index.js'

/**
 * A synchronous network of RaftCores for scenario tests: every Ready is persisted at once into a
 * MemoryRaftStorage, messages are queued and delivered in order when `stabilize()` runs, and a
 * filter can drop any of them. Readable transcripts, not randomized faults (that is test/sim/raft).
 */
export interface TestNode {
  id: string
  core: RaftCore
  storage: MemoryRaftStorage
  applied: Entry[]
  readStates: ReadState[]
  droppedReads: string[]
  /** Snapshot data the "driver" holds: the applied entries' data up to the snapshot index. */
  snapshotState: string[]
  roles: Role[]
}

export type Filter = (m: RaftMessage) => boolean

export type NodeOptions = Partial<Omit<RaftCoreOptions, 'id' | 'storage' | 'random'>>

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
export const str = (b: Uint8Array): string => new TextDecoder().decode(b)

export class Cluster {
  readonly nodes = new Map<string, TestNode>()
  queue: RaftMessage[] = []
  /** Return false to drop a message. */
  filter: Filter = () => true
  sent: RaftMessage[] = []
  private seed = 1
  /** Snapshot data by "index/term": what the drivers would stream. */
  readonly snapshots = new Map<string, string[]>()
  readonly options: NodeOptions

  constructor (conf: ConfState, options: NodeOptions = {}, extra: string[] = []) {
    this.options = options
    for (const id of [...conf.voters, ...conf.learners]) this.add(id, new MemoryRaftStorage(conf))
    for (const id of extra) this.add(id, new MemoryRaftStorage())
  }

  add (id: string, storage: MemoryRaftStorage, options: NodeOptions = {}): TestNode {
    const core = new RaftCore({ id, storage, random: seededRandom(this.seed++), ...this.options, ...options })
    const node: TestNode = { id, core, storage, applied: [], readStates: [], droppedReads: [], snapshotState: [], roles: [] }
    this.nodes.set(id, node)
    return node
  }

  /** A crash: everything not persisted is lost, then the node restarts from its storage. */
  restart (id: string, options: NodeOptions = {}): TestNode {
    const old = this.node(id)
    this.nodes.delete(id)
    const snap = old.storage.snapshot()
    const node = this.add(id, old.storage, { ...options, applied: snap.index })
    node.snapshotState = snap.index === 0 ? [] : [...(this.snapshots.get(`${snap.index}/${snap.term}`) ?? [])]
    return node
  }

  /** The node snapshots its state machine at its applied index and compacts, keeping `keep` entries. */
  snapshot (id: string, keep = 0): void {
    const n = this.node(id)
    const applied = n.core.status().applied
    const meta = n.core.snapshotMetaAt(applied)
    if (meta === undefined) throw new Error(`${id} cannot snapshot at ${applied}`)
    this.snapshots.set(`${meta.index}/${meta.term}`, [...n.snapshotState])
    n.storage.createSnapshot(meta)
    n.storage.compact(Math.max(n.storage.firstIndex() - 1, meta.index - keep))
  }

  node (id: string): TestNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  core (id: string): RaftCore {
    return this.node(id).core
  }

  isolate (id: string): void {
    this.filter = (m) => m.from !== id && m.to !== id
  }

  heal (): void {
    this.filter = () => true
  }

  /** Processes every Ready of one node: persist, queue messages, apply. */
  process (id: string): void {
    const n = this.node(id)
    for (let guard = 0; guard < 1000 && n.core.hasReady(); guard++) this.handle(id, n.core.ready())
  }

  /** Does what a driver does with one Ready (taken by the test to inspect it). */
  handle (id: string, rd: Ready): void {
    const n = this.node(id)
    this.enqueue(rd.messagesBeforePersist)
    this.persist(n, rd)
    this.enqueue(rd.messages)
    n.readStates.push(...rd.readStates)
    n.droppedReads.push(...rd.droppedReads)
    if (rd.softState !== undefined) n.roles.push(rd.softState.role)
    n.core.advance(rd)
  }

  private persist (n: TestNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot)
      const state = this.snapshots.get(`${rd.snapshot.index}/${rd.snapshot.term}`)
      if (state === undefined) throw new Error(`no snapshot data for ${rd.snapshot.index}`)
      n.snapshotState = [...state]
      n.applied = []
    }
    n.storage.append(rd.entries)
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState)
    for (const e of rd.committedEntries) {
      n.applied.push(e)
      n.snapshotState.push(e.type === 'normal' ? str(e.data) : '#conf')
    }
    if (rd.committedEntries.length > 0) n.core.appliedTo((rd.committedEntries[rd.committedEntries.length - 1] as Entry).index)
  }

  private enqueue (msgs: RaftMessage[]): void {
    for (const m of msgs) {
      this.sent.push(m)
      this.queue.push(m)
    }
  }

  /** Delivers queued messages (and the messages they cause) until nothing moves. */
  stabilize (rounds = 10_000): void {
    for (let i = 0; i < rounds; i++) {
      for (const id of this.nodes.keys()) this.process(id)
      if (this.queue.length === 0) return
      const batch = this.queue
      this.queue = []
      for (const m of batch) {
        const to = this.nodes.get(m.to)
        if (to === undefined || !this.filter(m)) continue
        to.core.step(m)
      }
    }
    throw new Error('cluster did not stabilize')
  }

  /** Ticks one node until it starts a campaign, then lets the cluster settle. */
  campaign (id: string): void {
    const core = this.core(id)
    for (let i = 0; i < 1000; i++) {
      core.tick()
      const role = core.status().role
      if (role === 'pre-candidate' || role === 'candidate') break
    }
    this.stabilize()
  }

  tick (id: string, n = 1): void {
    for (let i = 0; i < n; i++) this.core(id).tick()
  }

  tickAll (n = 1): void {
    for (let i = 0; i < n; i++) for (const node of this.nodes.values()) node.core.tick()
  }

  leader (): string | undefined {
    for (const [id, n] of this.nodes) if (n.core.status().role === 'leader') return id
    return undefined
  }

  propose (id: string, ...data: string[]): void {
    this.core(id).propose(data.map(text))
    this.stabilize()
  }

  /** The data of the normal, non-empty entries a node applied, in order. */
  appliedData (id: string): string[] {
    return this.node(id).applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0).map((e) => str(e.data))
  }

  logTerms (id: string): number[] {
    const core = this.core(id)
    const st = core.status()
    const out: number[] = []
    for (let i = st.firstIndex; i <= st.lastIndex; i++) out.push(core.term(i) ?? -1)
    return out
  }

  drain (): RaftMessage[] {
    const q = this.queue
    this.queue = []
    return q
  }
}

export function conf (voters: string[], learners: string[] = []): ConfState {
  return { voters, learners }
}
