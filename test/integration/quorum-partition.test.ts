import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HistoryRecorder } from '../../chaos/history.js'
import type { LocalCluster } from '../../cluster/local.js'
import { connect, type Client } from '../../src/index.js'
import { checkFinalViews, compareReplicaDisks, finalValue, recordedCall, readReplicaViews, quorumTestMergeOf, reportDivergence, sleep, startHandoffOnlyCluster, waitForConvergence } from '../support/replica-views.js'
import { tempDir } from '../support/tmp.js'

/**
 * A 3-node cluster of real processes on 127.0.0.1 with quorum collections (lww registers, an
 * or-set, counters, mv registers). One node is cut off, by SIGSTOP (its links stay open but nothing
 * answers, and it keeps its state) or by SIGKILL; the majority keeps taking W=2 and W=1 writes, set
 * adds, increments and blind mv puts; then the node resumes (SIGCONT) or restarts from its disk. Read repair and anti-entropy are off: the
 * replicas must converge through hinted handoff.
 * Checked: every replica's view (value and etag, a digest of its causal context) becomes equal
 * within a bounded wait, read with r: 1 through a client pinned to each node (the first answer,
 * nearly always the node's own copy), then from each node's LevelDB after the processes stop (the
 * copy alone); no acknowledged set add, blind mv put or unique-key write is lost; counters are exact.
 */
const names = ['node1', 'node2', 'node3'] as const
const isolated = 'node3'
const sharedRegisterKeys = Array.from({ length: 6 }, (_, i) => `reg/k${i}`)
const setKeys = Array.from({ length: 3 }, (_, i) => `tags/s${i}`)
const counterKeys = Array.from({ length: 3 }, (_, i) => `hits/c${i}`)
/**
 * Blind mv puts: one process per node, at most mvPutsPerPhaseMax in each of 3 phases, spread over
 * the keys: 45 siblings a key at most, under limits.siblingsMax (100) past which they are refused.
 */
const mvKeys = Array.from({ length: 12 }, (_, i) => `notes/m${i}`)
const mvPutsPerPhaseMax = 60
const beforeMs = 1_500
const partitionMs = 3_000
const afterHealMs = 1_000
const opsPerProcessMax = 5_000
const requestTimeoutMs = 3_000
const convergeWaitMs = 15_000
const convergePollMs = 500

const mergeOf = quorumTestMergeOf

/**
 * pause: SIGSTOP, then SIGCONT (links stay open, nothing answers, memory kept).
 * crash: SIGKILL, then a restart from its data directory (only what was synced survives).
 */
const faults = ['pause', 'crash'] as const

for (const fault of faults) describe(`a 3-node quorum cluster with one node cut off (${fault}) and healed`, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let cluster: LocalCluster
  /** One client per node, pinned to it (its only peer). */
  const clients = new Map<string, Client>()
  let stoppedPid: number | null = null
  /** The nodes' last warnings and errors, shown when something fails. */
  let logTail = (): string => ''

  beforeAll(async () => {
    dir = await tempDir()
    const started = await startHandoffOnlyCluster(dir.path)
    cluster = started.cluster
    logTail = started.logTail
    for (const name of names) {
      clients.set(name, await connect({ peers: cluster.member(name).multiaddrs, identity: cluster.clientKey, requestTimeoutMs }))
    }
  })

  afterAll(async () => {
    // A stopped process ignores SIGTERM until it runs again.
    if (stoppedPid !== null) { try { process.kill(stoppedPid, 'SIGCONT') } catch { /* already gone */ } }
    for (const kv of clients.values()) await kv.close().catch(() => {})
    await cluster?.stopAll()
    await dir?.cleanup()
  })

  it('converges on every replica after the heal, losing no acknowledged set add or blind mv put, and counts exactly', async () => {
    const client = (name: string): Client => clients.get(name) as Client
    const history = new HistoryRecorder()
    const start = Date.now()
    const now = (): number => Date.now() - start
    let phase: 'before' | 'partition' | 'healed' | 'done' = 'before'
    /** Unique-key register writes that were acknowledged: each must be on every replica at the end. */
    const ackedUnique = new Map<string, string>()
    const okInPartition = { w2: 0, w1: 0, add: 0, increment: 0, mv: 0 }
    const uniqueKeys: string[] = []

    const worker = async (node: string, kind: 'register' | 'set' | 'counter' | 'mv', p: number): Promise<void> => {
      const kv = client(node)
      const mvPuts = { before: 0, partition: 0, healed: 0, done: 0 }
      const record = async <T>(f: string, key: string, value: unknown, call: () => Promise<T>): Promise<T | undefined> => await recordedCall(history, p, f, key, value, now, call)
      for (let n = 0; n < opsPerProcessMax && phase !== 'done'; n++) {
        // The cut-off node gets no new calls: a call to a stopped process can only time out.
        if (node === isolated && phase === 'partition') { await sleep(50); continue }
        const inPartition = phase === 'partition'
        if (kind === 'register') {
          const unique = n % 4 === 3
          const key = unique ? `reg/u-${p}-${n}` : sharedRegisterKeys[(p + n) % sharedRegisterKeys.length] as string
          const value = `p${p}-${n}`
          const eventual = n % 2 === 0
          if (unique) uniqueKeys.push(key)
          if (await record('write', key, value, async () => await kv.put(key, value, eventual ? { consistency: 'eventual' } : { w: 2 })) === undefined) continue
          if (unique) ackedUnique.set(key, value)
          if (inPartition) okInPartition[eventual ? 'w1' : 'w2']++
        } else if (kind === 'set') {
          const key = setKeys[n % setKeys.length] as string
          const element = `p${p}-${n}`
          if (await record('add', key, element, async () => await kv.addToSet(key, element)) !== undefined && inPartition) okInPartition.add++
        } else if (kind === 'mv') {
          if (++mvPuts[phase] > mvPutsPerPhaseMax) { await sleep(50); continue }
          // A blind put (no context) supersedes nothing: every acknowledged one must stay a sibling;
          // past the sibling limit one is refused with nothing written (recorded as a fail).
          const key = mvKeys[n % mvKeys.length] as string
          const value = `p${p}-${n}`
          if (await record('mv-put', key, value, async () => await kv.put(key, value, n % 2 === 0 ? { consistency: 'eventual' } : { w: 2 })) !== undefined && inPartition) okInPartition.mv++
        } else {
          const key = counterKeys[n % counterKeys.length] as string
          const delta = 1 + (n % 3)
          if (await record('increment', key, delta, async () => await kv.increment(key, delta)) !== undefined && inPartition) okInPartition.increment++
        }
      }
    }

    const kinds = ['register', 'set', 'counter', 'mv'] as const
    const workers = names.flatMap((node, i) => kinds.map(async (kind, j) => { await worker(node, kind, i * kinds.length + j) }))
    const chaos = (async () => {
      // Whatever happens here, the workers stop.
      try {
        await sleep(beforeMs)
        if (fault === 'pause') {
          stoppedPid = cluster.member(isolated).pid
          expect(stoppedPid).not.toBeNull()
          process.kill(stoppedPid as number, 'SIGSTOP')
        } else {
          await cluster.kill(isolated, 'SIGKILL')
        }
        phase = 'partition'
        const partitionedAt = now()
        await sleep(partitionMs)
        if (fault === 'pause') {
          process.kill(stoppedPid as number, 'SIGCONT')
          stoppedPid = null
        } else {
          await cluster.startMember(isolated)
        }
        phase = 'healed'
        const healedAt = now()
        await sleep(afterHealMs)
        return { partitionedAt, healedAt }
      } finally {
        phase = 'done'
      }
    })()
    const [{ partitionedAt, healedAt }] = await Promise.all([chaos, ...workers])

    // Every replica's view, read with r: 1 through the client pinned to it, until they agree.
    const keys = [...sharedRegisterKeys, ...uniqueKeys, ...setKeys, ...counterKeys, ...mvKeys]
    const { states, convergence, firstRoundDivergent, elapsedMs: convergedAfterMs } = await waitForConvergence(
      names, async name => await readReplicaViews(client(name), keys, mergeOf), { waitMs: convergeWaitMs, pollMs: convergePollMs })
    const ops = history.events().filter(e => e.type !== 'invoke')
    const unknownByError = new Map<string, number>()
    for (const e of ops) if (e.type === 'info') unknownByError.set(`p${String(e.process)} ${String(e.error)}`, (unknownByError.get(`p${String(e.process)} ${String(e.error)}`) ?? 0) + 1)
    console.log(`${fault}: partition ${partitionedAt}-${healedAt} ms; acknowledged during it: ${JSON.stringify(okInPartition)}; ` +
      `${ops.filter(e => e.type === 'ok').length} ok, ${ops.filter(e => e.type === 'info').length} unknown outcome ${JSON.stringify(Object.fromEntries(unknownByError))}; ` +
      `${firstRoundDivergent} of ${keys.length} keys differed at the first read after the heal; ` +
      `${convergence.valid === true ? 'converged' : 'NOT converged'} ${convergedAfterMs} ms after the workload stopped `)
    await reportDivergence(convergence, history, 'quorum-partition', logTail)
    expect(convergence.valid).toBe(true)

    // The majority side kept taking every kind of write while the third node was cut off.
    expect(okInPartition.w2).toBeGreaterThan(0)
    expect(okInPartition.w1).toBeGreaterThan(0)
    expect(okInPartition.add).toBeGreaterThan(0)
    expect(okInPartition.increment).toBeGreaterThan(0)
    expect(okInPartition.mv).toBeGreaterThan(0)

    const finalOf = (name: string, key: string): unknown => finalValue(states, name, key)
    const { sets, blind, counters } = checkFinalViews(history, states, names, { sets: setKeys, mv: mvKeys, counters: counterKeys })
    expect(sets.anomalies.map(a => a.explanation)).toEqual([])
    expect(sets.valid).toBe(true)
    expect(sets.acknowledged).toBeGreaterThan(0)
    console.log(`sets: ${sets.acknowledged} adds acknowledged, ${sets.unknown} unknown; mv blind puts: ${blind.acknowledged} acknowledged, ${blind.failed} refused, ${blind.unknown} unknown, siblings per key ${blind.finalReads.filter(r => r.replica === 'node1').map(r => r.size).join(' ')}`)
    expect(blind.anomalies.map(a => a.explanation)).toEqual([])
    expect(blind.valid).toBe(true)
    expect(blind.acknowledged).toBeGreaterThan(0)
    expect(counters.anomalies.map(a => a.explanation)).toEqual([])
    expect(counters.valid).toBe(true)
    const lostUnique = [...ackedUnique].filter(([key, value]) => names.some(name => finalOf(name, key) !== value))
    expect(lostUnique).toEqual([])

    // The same on disk: each replica's own copy, with no coordinator merging in other answers.
    await cluster.stopAll()
    const onDisk = await compareReplicaDisks(new Map(names.map(name => [name, cluster.member(name).dataDir])), keys, mergeOf)
    expect(onDisk.convergence.anomalies.map(a => a.explanation)).toEqual([])
    for (const key of keys) expect(onDisk.values.get('node1')?.get(key) ?? null).toEqual(finalOf('node1', key) ?? null)
    expect(onDisk.contextsDiffer).toEqual([])
  })
})
