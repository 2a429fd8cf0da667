import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HistoryRecorder } from '../../chaos/history.js'
import type { LocalCluster } from '../../cluster/local.js'
import { compareHlc, hlcFromString } from '../../src/clock/hlc.js'
import { connect, type Client, type WriteOptions } from '../../src/index.js'
import { checkFinalViews, codeOf, compareReplicaDisks, finalValue, recordedCall, readReplicaViews, quorumTestMergeOf, reportDivergence, sleep, sortedValues, startHandoffOnlyCluster, waitForConvergence } from '../support/replica-views.js'
import { tempDir } from '../support/tmp.js'

/**
 * A 3-node cluster of real processes on 127.0.0.1 with quorum collections (n = 3): lww registers,
 * mv registers, counters, an or-set. The links are cut into {node1} | {node2, node3}
 * (LocalCluster.partition: each node's connection gater refuses the other side), and BOTH sides
 * keep writing to the same keys: clients of node1 with `eventual` (W = 1: node1's own durable copy,
 * with hints for the two replicas it cannot reach), clients of node2 and node3 with W = 2. Then the
 * links heal. Read repair and anti-entropy are off: what must converge the replicas is hinted
 * handoff alone (every coordinator keeps a hint for each primary that did not acknowledge).
 *
 * Checked: a W = 2 write on node1's side fails with QUORUM_UNAVAILABLE; a read-your-writes and a
 * causal read on each side see that side's writes (and not the other side's); after the heal every
 * replica's view (value and etag) becomes equal within a bounded wait, read with r: 1 through a
 * client pinned to each node and then from each LevelDB copy once the processes stopped; every
 * acknowledged blind mv put is a sibling and every acknowledged set add is present; counters equal
 * the sum of acknowledged increments (unknown outcomes bracketed); each lww key holds one value,
 * the acknowledged write with the highest timestamp when an acknowledged write won.
 */
const names = ['node1', 'node2', 'node3'] as const
type Side = 'minority' | 'majority'
const sideOf = (node: string): Side => node === 'node1' ? 'minority' : 'majority'
const registerKeys = Array.from({ length: 4 }, (_, i) => `reg/k${i}`)
const setKeys = Array.from({ length: 3 }, (_, i) => `tags/s${i}`)
const counterKeys = Array.from({ length: 3 }, (_, i) => `hits/c${i}`)
/** Blind puts keep every value as a sibling: at most 3 x mvPutsPerProcessMax / 8 + 1 = 16 a key, far under limits.siblingsMax (100). */
const mvKeys = Array.from({ length: 8 }, (_, i) => `notes/m${i}`)
const mvPutsPerProcessMax = 40
/** Written by one session on each side, then read back on that side while the links are cut. */
const rywRegister = 'reg/ryw'
const rywNote = 'notes/ryw'
/** node1's W = 2 write: refused, yet it stays on node1 (the coordinator wrote it first) and spreads after the heal. */
const minorityW2Key = 'reg/minority-w2'
const partitionMs = 3_000
const opsPerProcessMax = 2_000
const requestTimeoutMs = 3_000
const readyWaitMs = 15_000
const convergeWaitMs = 20_000
const convergePollMs = 500

const mergeOf = quorumTestMergeOf
/** How each side writes: node1 alone can only hold its own copy. */
const writeOptions = (side: Side): WriteOptions => side === 'minority' ? { consistency: 'eventual' } : { w: 2 }

describe('a 3-node quorum cluster partitioned {node1} | {node2, node3} with writes on both sides, then healed', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let cluster: LocalCluster
  /** Per node: the workers' client and a session of its own for the read-your-writes checks, both pinned to it. */
  const clients = new Map<string, Client>()
  const sessions = new Map<string, Client>()
  /** The nodes' last warnings and errors, shown when something fails. */
  let logTail = (): string => ''

  beforeAll(async () => {
    dir = await tempDir()
    const started = await startHandoffOnlyCluster(dir.path, { faultInjection: true })
    cluster = started.cluster
    logTail = started.logTail
    for (const name of names) {
      const options = { peers: cluster.member(name).multiaddrs, identity: cluster.clientKey, requestTimeoutMs }
      clients.set(name, await connect(options))
      sessions.set(name, await connect(options))
    }
  })

  afterAll(async () => {
    for (const kv of [...clients.values(), ...sessions.values()]) await kv.close().catch(() => {})
    await cluster?.stopAll()
    await dir?.cleanup()
  })

  it('converges after the heal: no acknowledged mv put or set add lost, exact counters, one lww value per key', async () => {
    const client = (name: string): Client => clients.get(name) as Client
    const session = (name: string): Client => sessions.get(name) as Client
    const history = new HistoryRecorder()
    const start = Date.now()
    const now = (): number => Date.now() - start

    // Every replica reachable before the cut: a write acknowledged by all three.
    const ready = Date.now()
    for (let i = 0; ; i++) {
      try {
        await client('node1').put('reg/ready', i, { w: 3 })
        break
      } catch (err) {
        if (Date.now() - ready > readyWaitMs) throw new Error(`the cluster did not take a W = 3 write within ${readyWaitMs} ms: ${codeOf(err)}`)
        await sleep(200)
      }
    }

    await expect(cluster.partition([['node1'], ['node2']])).rejects.toThrow(/missing: node3/)
    await cluster.partition([['node1'], ['node2', 'node3']])
    const partitionedAt = now()

    // node1 alone cannot gather two acknowledgements. The client retries QUORUM_UNAVAILABLE and
    // then reports it; node1 keeps the value it wrote first, so the outcome is unknown, not failed.
    const refused = history.invoke(900, 'write', minorityW2Key, 'w2', now())
    const w2Error = await client('node1').put(minorityW2Key, 'w2', { w: 2 }).then(() => null, (err: unknown) => err)
    refused.info(now(), { error: codeOf(w2Error) })
    expect(codeOf(w2Error)).toBe('QUORUM_UNAVAILABLE')

    /** Acknowledged lww writes, with the timestamp the coordinator gave them. */
    const lwwAcks: Array<{ key: string, value: string, version: string, side: Side }> = []
    const okBySide = { minority: { register: 0, set: 0, counter: 0, mv: 0 }, majority: { register: 0, set: 0, counter: 0, mv: 0 } }
    let cut = true

    // Read-your-writes and causal reads on each side, while the links are cut: each side sees its
    // own writes and none of the other side's (nothing crosses the cut).
    const ownSideReads = async (node: 'node1' | 'node2', p: number): Promise<void> => {
      const side = sideOf(node)
      const kv = session(node)
      const r = side === 'minority' ? { r: 1 } : {}
      const reg = history.invoke(p, 'write', rywRegister, side, now())
      const put = await kv.put(rywRegister, side, writeOptions(side))
      reg.ok(side, now())
      lwwAcks.push({ key: rywRegister, value: side, version: put.version, side })
      const note = history.invoke(p, 'mv-put', rywNote, side, now())
      await kv.put(rywNote, side, writeOptions(side))
      note.ok(side, now())
      expect((await kv.get(rywRegister, { consistency: 'read-your-writes', ...r }))?.value).toBe(side)
      const siblings = await kv.get(rywNote, { consistency: 'causal', ...r })
      expect(sortedValues(siblings?.siblings ?? [siblings?.value])).toEqual([side])
    }

    const worker = async (node: string, kind: 'register' | 'set' | 'counter' | 'mv', p: number): Promise<void> => {
      const kv = client(node)
      const side = sideOf(node)
      const options = writeOptions(side)
      let mvPuts = 0
      const record = async <T>(f: string, key: string, value: unknown, call: () => Promise<T>): Promise<T | undefined> => await recordedCall(history, p, f, key, value, now, call)
      for (let n = 0; n < opsPerProcessMax && cut; n++) {
        if (kind === 'register') {
          const key = registerKeys[(p + n) % registerKeys.length] as string
          const value = `p${p}-${n}`
          const result = await record('write', key, value, async () => await kv.put(key, value, options))
          if (result === undefined) continue
          if (cut) okBySide[side].register++
          lwwAcks.push({ key, value, version: result.version, side })
        } else if (kind === 'set') {
          const key = setKeys[n % setKeys.length] as string
          const element = `p${p}-${n}`
          if (await record('add', key, element, async () => await kv.addToSet(key, element, options)) !== undefined && cut) okBySide[side].set++
        } else if (kind === 'mv') {
          if (++mvPuts > mvPutsPerProcessMax) { await sleep(50); continue }
          // A blind put (no context) supersedes nothing: every acknowledged one must stay a sibling.
          const key = mvKeys[n % mvKeys.length] as string
          const value = `p${p}-${n}`
          if (await record('mv-put', key, value, async () => await kv.put(key, value, options)) !== undefined && cut) okBySide[side].mv++
        } else {
          const key = counterKeys[n % counterKeys.length] as string
          const delta = 1 + (n % 3)
          if (await record('increment', key, delta, async () => await kv.increment(key, delta, options)) !== undefined && cut) okBySide[side].counter++
        }
      }
    }

    const kinds = ['register', 'set', 'counter', 'mv'] as const
    const workers = names.flatMap((node, i) => kinds.map(async (kind, j) => { await worker(node, kind, i * kinds.length + j) }))
    const timeline = (async () => {
      try {
        await Promise.all([ownSideReads('node1', 901), ownSideReads('node2', 902)])
        await sleep(partitionMs)
      } finally {
        // The workers stop before the heal: every write below was issued while the links were cut.
        cut = false
      }
    })()
    await Promise.all([timeline, ...workers])
    await cluster.heal()
    const healedAt = now()

    const keys = [...registerKeys, rywRegister, minorityW2Key, ...setKeys, ...counterKeys, ...mvKeys, rywNote]
    const { states, convergence, firstRoundDivergent, elapsedMs } = await waitForConvergence(
      names, async name => await readReplicaViews(client(name), keys, mergeOf), { waitMs: convergeWaitMs, pollMs: convergePollMs })
    const ops = history.events().filter(e => e.type !== 'invoke')
    console.log(`partition ${partitionedAt}-${healedAt} ms; acknowledged while cut: ${JSON.stringify(okBySide)}; ` +
      `${ops.filter(e => e.type === 'ok').length} ok, ${ops.filter(e => e.type === 'info').length} unknown outcome; ` +
      `${firstRoundDivergent} of ${keys.length} keys differed at the first read after the heal; ` +
      `${convergence.valid === true ? 'converged' : 'NOT converged'} ${elapsedMs} ms after the heal (hinted handoff only)`)
    await reportDivergence(convergence, history, 'quorum-partition-both-sides', logTail)
    expect(convergence.valid).toBe(true)

    // Both sides took every kind of write while cut.
    for (const side of ['minority', 'majority'] as const) {
      for (const kind of kinds) expect(okBySide[side][kind], `${side} ${kind}`).toBeGreaterThan(0)
    }

    const finalOf = (name: string, key: string): unknown => finalValue(states, name, key)
    const { sets, blind, counters } = checkFinalViews(history, states, names, { sets: setKeys, mv: [...mvKeys, rywNote], counters: counterKeys })
    expect(sets.anomalies.map(a => a.explanation)).toEqual([])
    expect(sets.valid).toBe(true)
    expect(blind.anomalies.map(a => a.explanation)).toEqual([])
    expect(blind.valid).toBe(true)
    // The two sides' blind puts to the same key are siblings of one another.
    expect(finalOf('node1', rywNote)).toEqual(['majority', 'minority'])
    expect(counters.anomalies.map(a => a.explanation)).toEqual([])
    expect(counters.valid).toBe(true)

    // lww: one value per key on every replica (convergence above), one that was written, and the
    // highest-stamped acknowledged write whenever an acknowledged write won.
    let discardedConcurrent = 0
    let superseded = 0
    for (const key of [...registerKeys, rywRegister, minorityW2Key]) {
      const final = finalOf('node1', key)
      const attempted = new Set(history.events().filter(e => e.type === 'invoke' && e.key === key).map(e => e.value))
      expect(attempted.has(final), `${key} holds ${String(final)}`).toBe(true)
      const acks = lwwAcks.filter(a => a.key === key)
      const winner = acks.find(a => a.value === final)
      if (winner !== undefined) {
        const highest = acks.reduce((best, a) => compareHlc(hlcFromString(a.version), hlcFromString(best.version)) > 0 ? a : best)
        expect(highest.value, `${key}: the highest-stamped acknowledged write`).toBe(final)
        // Nothing crossed the cut: every acknowledged write of the other side was concurrent with the winner, and lost.
        discardedConcurrent += acks.filter(a => a.side !== winner.side).length
      }
      superseded += acks.filter(a => a.value !== final).length
    }
    console.log(`lww: ${lwwAcks.length} acknowledged writes, ${superseded} superseded, of them ${discardedConcurrent} concurrent writes of the losing side discarded by last-writer-wins; ` +
      `sets: ${sets.acknowledged} adds acknowledged, ${sets.unknown} unknown; mv blind puts: ${blind.acknowledged} acknowledged, ${blind.unknown} unknown, siblings per key ${blind.finalReads.filter(r => r.replica === 'node1').map(r => r.size).join(' ')}`)

    // The same on disk: each replica's own copy, with no coordinator merging in other answers.
    await cluster.stopAll()
    const onDisk = await compareReplicaDisks(new Map(names.map(name => [name, cluster.member(name).dataDir])), keys, mergeOf)
    expect(onDisk.convergence.anomalies.map(a => a.explanation)).toEqual([])
    for (const key of keys) expect(onDisk.values.get('node1')?.get(key) ?? null).toEqual(finalOf('node1', key) ?? null)
    expect(onDisk.contextsDiffer).toEqual([])
  }, 90_000)
})
