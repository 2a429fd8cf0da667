// npm run bench:antientropy [-- --keys 1000000 --vnodes 64 --tree-depth 12 --bytes-per-second 0]
// Two replicas of one quorum collection (lww, n 2), each on its own LevelDB in a temp dir, in one
// process, talking through an in-process transport that msgpack-encodes every message as the wire
// would. Both load the same N keys; then replica b is made to differ in 1, 100 and 10,000 keys
// (half of them missing on b, half at a newer version on b, written after the trees are built so
// the incremental path is what is measured), and replica a runs anti-entropy rounds until every
// range's root hash is equal on both. Reported: time to converge and bytes exchanged.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { decode, encode } from '../src/codec/msgpack.js'
import { parseConfig } from '../src/config/parse.js'
import { emptyVersionVector } from '../src/clock/version-vector.js'
import { AntiEntropy } from '../src/replication/anti-entropy/service.js'
import { applyRegisterWrite, emptyState, encodeRecord } from '../src/replication/record.js'
import { QuorumReplica } from '../src/replication/replica.js'
import { emptyQuorumSession } from '../src/replication/session.js'
import type { BatchOp } from '../src/storage/engine.js'
import { StorageEngine } from '../src/storage/engine.js'
import type { MessageHandler, Transport } from '../src/transport/types.js'
import { numberFlag, printJsonLine, printTable, type Row } from './lib/harness.js'

const keys = numberFlag('keys', 1_000_000)
const vnodes = numberFlag('vnodes', 64)
const treeDepth = numberFlag('tree-depth', 12)
/** 0: no rate limit (the largest the config allows), to measure the exchange itself. */
const bytesPerSecond = numberFlag('bytes-per-second', 0)
const differences = [1, 100, 10_000].filter(d => d <= keys)
const batchKeys = 2_000
const roundsMax = 10
const collection = 'b'

/** An in-process Transport: every message and reply goes through msgpack, as on the wire. */
class Hub {
  readonly handlers = new Map<string, Map<string, MessageHandler<unknown>>>()
  private readonly transports = new Map<string, Transport>()

  transport (id: string): Transport {
    const existing = this.transports.get(id)
    if (existing !== undefined) return existing
    const handlers = new Map<string, MessageHandler<unknown>>()
    this.handlers.set(id, handlers)
    const t: Transport = {
      localId: id,
      handle: <M>(protocol: string, handler: MessageHandler<M>) => { handlers.set(protocol, handler as MessageHandler<unknown>) },
      unhandle: (protocol: string) => { handlers.delete(protocol) },
      send: (to, protocol, message) => {
        const h = this.handlers.get(to)?.get(protocol)
        if (h?.onMessage === undefined) return false
        const m = h.parse(decode(encode(message)))
        queueMicrotask(() => { h.onMessage?.(id, m) })
        return true
      },
      request: async (to, protocol, message) => {
        const h = this.handlers.get(to)?.get(protocol)
        if (h?.onRequest === undefined) throw new Error(`${to} does not serve ${protocol}`)
        const reply = await h.onRequest(id, h.parse(decode(encode(message))), new AbortController().signal)
        return decode(encode(reply))
      }
    }
    this.transports.set(id, t)
    return t
  }
}

const config = parseConfig({
  schemaVersion: 1,
  dataDir: '/nonexistent',
  collections: { [collection]: { mode: 'quorum', merge: 'lww', n: 2, w: 1, r: 1 } },
  quorum: { ringVnodes: vnodes, handoffIntervalMs: 3_600_000 },
  antiEntropy: { enabled: false, rangesPerRoundMax: 100_000, treeDepth, bytesPerSecondMax: bytesPerSecond > 0 ? bytesPerSecond : 10 * 1024 * 1024 * 1024 }
})

function record (node: string, seq: number, wallMs: number, value: string): Uint8Array {
  const w = applyRegisterWrite(emptyState('lww'), { node, seq, context: emptyVersionVector, hlc: { wallMs, logical: 0, node }, value: Buffer.from(value) }, { siblingsWarn: 25, siblingsMax: 100 })
  return encodeRecord({ state: w.state, deps: emptyQuorumSession() })
}

interface Replica { id: string, dir: string, storage: StorageEngine, ae: AntiEntropy, replica: QuorumReplica, registry: Registry }

async function open (hub: Hub, id: string): Promise<Omit<Replica, 'replica'>> {
  const dir = await mkdtemp(join(tmpdir(), `quorumkv-ae-${id}-`))
  const storage = await StorageEngine.open(dir)
  const registry = new Registry()
  const ae = await AntiEntropy.open({ transport: hub.transport(id), engine: storage, registry }, { config })
  return { id, dir, storage, ae, registry }
}

async function start (hub: Hub, r: Omit<Replica, 'replica'>): Promise<Replica> {
  const transport = hub.transport(r.id)
  const replica = new QuorumReplica({ transport, engine: r.ae.engine, registry: r.registry }, { config, members: ['a', 'b'] })
  await replica.start()
  await r.ae.start(replica)
  return { ...r, replica }
}

async function metric (r: Replica, name: string): Promise<number> {
  const m = await r.registry.getSingleMetric(name)?.get()
  return m?.values.reduce((a, v) => a + v.value, 0) ?? 0
}

function rootsEqual (a: Replica, b: Replica): boolean {
  const ta = a.ae.treeSet
  const tb = b.ae.treeSet
  if (ta === undefined || tb === undefined) return false
  return ta.ranges.every(r => r.tree.root.hash === tb.get(r.id)?.tree.root.hash)
}

async function main (): Promise<void> {
  const hub = new Hub()
  const a0 = await open(hub, 'a')
  const b0 = await open(hub, 'b')
  const t0 = performance.now()
  for (let i = 0; i < keys; i += batchKeys) {
    const ops: BatchOp[] = []
    for (let j = i; j < Math.min(keys, i + batchKeys); j++) ops.push({ type: 'put', sublevel: 'data', key: `${collection}/${j}`, value: record('a', j + 1, 1_000_000, `value-${j}`) })
    await a0.ae.engine.write(ops, { sync: false })
    await b0.ae.engine.write(ops, { sync: false })
  }
  const loadMs = performance.now() - t0
  const t1 = performance.now()
  const a = await start(hub, a0)
  const b = await start(hub, b0)
  const treeBuildMs = (performance.now() - t1) / 2
  console.log(`loaded ${keys} keys on each replica in ${(loadMs / 1000).toFixed(1)} s; trees built from the index in ${treeBuildMs.toFixed(0)} ms per replica; ${a.ae.treeSet?.ranges.length ?? 0} ranges, tree depth ${treeDepth}`)
  if (!rootsEqual(a, b)) throw new Error('the replicas differ before any difference was made')

  const rows: Row[] = []
  let next = 0
  for (const d of differences) {
    const ops: BatchOp[] = []
    for (let k = 0; k < d; k++) {
      const j = (next++ * 7_919) % keys
      const key = `${collection}/${j}`
      ops.push(k % 2 === 0 ? { type: 'del', sublevel: 'data', key } : { type: 'put', sublevel: 'data', key, value: record('b', keys + next, 2_000_000 + next, `newer-${j}`) })
    }
    for (let i = 0; i < ops.length; i += batchKeys) await b.ae.engine.write(ops.slice(i, i + batchKeys), { sync: false })
    if (rootsEqual(a, b)) throw new Error('the differences did not show in the trees')
    const bytes0 = await metric(a, 'quorumkv_antientropy_bytes_total')
    const repaired0 = await metric(a, 'quorumkv_antientropy_keys_repaired_total')
    const start = performance.now()
    let rounds = 0
    // A round of a over every range, without the slice of index checking a timed round also does.
    while (!rootsEqual(a, b) && rounds < roundsMax) {
      for (const r of a.ae.treeSet?.ranges ?? []) await a.ae.syncRange(r.id, 'b')
      rounds++
    }
    const convergeMs = performance.now() - start
    if (!rootsEqual(a, b)) throw new Error(`not converged after ${roundsMax} rounds with ${d} differences`)
    const bytesExchanged = await metric(a, 'quorumkv_antientropy_bytes_total') - bytes0
    const keysRepaired = await metric(a, 'quorumkv_antientropy_keys_repaired_total') - repaired0
    rows.push({ keys, differences: d, convergeMs, bytesExchanged, rounds, keysRepaired, bytesPerDifference: bytesExchanged / d, ranges: a.ae.treeSet?.ranges.length ?? 0, loadSeconds: loadMs / 1000 })
  }
  printTable(`anti-entropy: two replicas, ${keys} keys, ${vnodes} vnodes, tree depth ${treeDepth}`, rows, ['keys', 'differences', 'convergeMs', 'bytesExchanged', 'bytesPerDifference', 'rounds', 'keysRepaired'])
  for (const r of [a, b]) {
    await r.ae.stop()
    await r.replica.stop()
    await r.storage.close()
    await rm(r.dir, { recursive: true, force: true })
  }
  printJsonLine('antientropy', rows)
}

// The runtime's timers are unref'd (a node's sockets keep its process alive): hold it open here.
const keepAlive = setInterval(() => {}, 1_000)
try {
  await main()
} finally {
  clearInterval(keepAlive)
}
