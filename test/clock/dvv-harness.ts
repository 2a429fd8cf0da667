import fc from 'fast-check'
import { dvvEvent, dvvSync, type DvvSet, type DvvWrite } from '../../src/clock/dvv.js'
import { compareDots, vvCovers, vvGet, type Dot, type VersionVector } from '../../src/clock/version-vector.js'

/**
 * A random history for one key: clients read from some replicas (or not at all), write through a
 * coordinator with the context they read, and replicas sync pairwise in a random schedule. The
 * oracle says which writes must survive: exactly those no later write's context covers.
 */
export const replicaNodes = ['a', 'b', '\u{10000}c', 'constructor']

export type DvvOp =
  | { kind: 'write', at: number, readFrom: number[], tombstone: boolean }
  | { kind: 'sync', from: number, to: number }

export function dvvOpArb (replicas: number): fc.Arbitrary<DvvOp> {
  const replica = fc.nat(replicas - 1)
  return fc.oneof(
    fc.record({
      kind: fc.constant('write' as const),
      at: replica,
      readFrom: fc.uniqueArray(replica, { maxLength: 2 }),
      tombstone: fc.boolean()
    }),
    fc.record({ kind: fc.constant('sync' as const), from: replica, to: replica })
  )
}

export interface WriteRecord {
  dot: Dot
  value: string
  tombstone: boolean
  context: VersionVector
}

export interface DvvRun {
  replicas: Array<DvvSet<string>>
  /** Every state any replica held, in order. */
  snapshots: Array<DvvSet<string>>
  writes: WriteRecord[]
}

export type EventFn = (set: DvvSet<string>, context: VersionVector, node: string, write: DvvWrite<string>) => DvvSet<string>
export type SyncFn = (a: DvvSet<string>, b: DvvSet<string>) => DvvSet<string>

export function runDvv (ops: readonly DvvOp[], replicaCount: number, event: EventFn = dvvEvent, sync: SyncFn = dvvSync): DvvRun {
  const empty: DvvSet<string> = { context: {}, siblings: [] }
  const replicas: Array<DvvSet<string>> = Array.from({ length: replicaCount }, () => empty)
  const snapshots: Array<DvvSet<string>> = [empty]
  const writes: WriteRecord[] = []
  for (const op of ops) {
    if (op.kind === 'sync') {
      replicas[op.to] = sync(replicas[op.to] as DvvSet<string>, replicas[op.from] as DvvSet<string>)
      snapshots.push(replicas[op.to] as DvvSet<string>)
      continue
    }
    // A quorum read: the client gets the merge of what the replicas it asked hold.
    const context = op.readFrom.map(i => replicas[i] as DvvSet<string>).reduce(sync, empty).context
    const node = replicaNodes[op.at] as string
    const value = `v${writes.length}`
    const write: DvvWrite<string> = op.tombstone ? { tombstone: true } : { tombstone: false, value }
    const next = event(replicas[op.at] as DvvSet<string>, context, node, write)
    writes.push({ dot: { node, counter: vvGet(next.context, node) }, value, tombstone: op.tombstone, context })
    replicas[op.at] = next
    snapshots.push(next)
  }
  return { replicas, snapshots, writes }
}

export function fullSync (replicas: ReadonlyArray<DvvSet<string>>, sync: SyncFn = dvvSync): Array<DvvSet<string>> {
  const all = replicas.reduce(sync)
  return replicas.map(r => sync(r, all))
}

/** The writes that must survive, as the siblings a fully synced replica holds. */
export function expectedSiblings (writes: readonly WriteRecord[]): Array<{ node: string, counter: number, tombstone: boolean, value?: string }> {
  return writes
    .filter(w => !writes.some(other => vvCovers(other.context, w.dot)))
    .sort((x, y) => compareDots(x.dot, y.dot))
    .map(w => w.tombstone
      ? { node: w.dot.node, counter: w.dot.counter, tombstone: true }
      : { node: w.dot.node, counter: w.dot.counter, tombstone: false, value: w.value })
}
