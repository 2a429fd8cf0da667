import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkConvergence, type ConvergenceResult, type ReplicaState } from '../../chaos/checkers/convergence.js'
import { checkCounter, type CounterResult } from '../../chaos/checkers/counter.js'
import { checkSet, type SetResult } from '../../chaos/checkers/set.js'
import type { HistoryRecorder, ProcessId } from '../../chaos/history.js'
import { LocalCluster } from '../../cluster/local.js'
import type { Client } from '../../src/index.js'
import type { MergeKind } from '../../src/replication/record.js'
import { readReplicaDisk, type DiskView } from './replica-disk.js'

/**
 * Helpers of the real-process partition tests (test/integration/quorum-partition*.test.ts): what
 * each replica holds, read through a client pinned to it or from its LevelDB copy, and a bounded
 * wait until the replicas agree.
 */
export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** The error code of a failed call (its message when it has none). */
export const codeOf = (err: unknown): string => String((err as { code?: unknown }).code ?? (err as Error).message)

/**
 * One call of a partition workload, recorded in the history: its invoke, then `ok` (the invoke's
 * value) when acknowledged, `fail` when refused with nothing written (CONFLICT: an mv put past the
 * sibling limit), else `info` (its outcome is unknown). Returns the call's answer, or undefined
 * when it was not acknowledged.
 */
export async function recordedCall<T> (history: HistoryRecorder, p: ProcessId, f: string, key: string, value: unknown, now: () => number, call: () => Promise<T>): Promise<T | undefined> {
  const op = history.invoke(p, f, key, value, now())
  try {
    const answer = await call()
    op.ok(value, now())
    return answer
  } catch (err) {
    if (codeOf(err) === 'CONFLICT') op.fail(now(), { error: 'CONFLICT' })
    else op.info(now(), { error: codeOf(err) })
    return undefined
  }
}

export const sortedValues = (values: readonly unknown[]): unknown[] => [...values].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)

export type MergeOf = (key: string) => MergeKind

/** What a read of one key returned: null for a missing key, or the read's error code. */
export type ReadView = { value: unknown, etag: string } | { readFailed: string } | null

/**
 * One replica's view of `keys`, read with r: 1 through a client pinned to its node (the first
 * answer, nearly always the node's own copy); mv siblings sorted. The etag digests the copy's
 * causal context: equal etags mean the copies have seen the same writes.
 */
export async function readReplicaViews (kv: Client, keys: readonly string[], mergeOf: MergeOf): Promise<Map<string, ReadView>> {
  const values = await Promise.all(keys.map(async (key): Promise<ReadView> => {
    try {
      const entry = await kv.get(key, { consistency: 'eventual', r: 1 })
      if (entry === undefined) return null
      return { value: mergeOf(key) === 'mv' ? sortedValues(entry.siblings ?? [entry.value]) : entry.value, etag: entry.etag }
    } catch (err) {
      return { readFailed: codeOf(err) }
    }
  }))
  return new Map(keys.map((key, i) => [key, values[i] as ReadView]))
}

export interface ConvergenceWait {
  /** The last views read, replica -> key -> view. */
  states: Map<string, Map<string, ReadView>>
  convergence: ConvergenceResult
  /** Keys that differed at the first read. */
  firstRoundDivergent: number
  /** From the call to the last read. */
  elapsedMs: number
}

/** Reads every replica's view (`read(name)`) every `pollMs` until they agree or `waitMs` passed. */
export async function waitForConvergence (names: readonly string[], read: (name: string) => Promise<Map<string, ReadView>>, options: { waitMs: number, pollMs: number }): Promise<ConvergenceWait> {
  const start = Date.now()
  let states = new Map<string, Map<string, ReadView>>()
  let convergence = checkConvergence(states)
  let firstRoundDivergent = -1
  for (let round = 0; round <= Math.ceil(options.waitMs / options.pollMs); round++) {
    states = new Map(await Promise.all(names.map(async name => [name, await read(name)] as const)))
    convergence = checkConvergence(states as Map<string, ReplicaState>)
    if (firstRoundDivergent < 0) firstRoundDivergent = convergence.divergentKeyCount
    if (convergence.valid === true || Date.now() - start > options.waitMs) break
    await sleep(options.pollMs)
  }
  return { states, convergence, firstRoundDivergent, elapsedMs: Date.now() - start }
}

/** The value of `key` in a replica's last view (undefined when missing or unreadable). */
export function finalValue (states: ReadonlyMap<string, ReadonlyMap<string, ReadView>>, name: string, key: string): unknown {
  const view = states.get(name)?.get(key)
  return view !== null && view !== undefined && 'value' in view ? view.value : undefined
}

export interface DiskComparison {
  /** replica -> key -> its copy (value and context digest). */
  disk: Map<string, Map<string, DiskView>>
  /** replica -> key -> value of its copy alone. */
  values: Map<string, Map<string, unknown>>
  convergence: ConvergenceResult
  /** Keys whose copies hold different causal contexts. */
  contextsDiffer: string[]
}

/** Each replica's own copy of `keys`, read from its data directory once its process stopped. */
export async function compareReplicaDisks (dataDirs: ReadonlyMap<string, string>, keys: readonly string[], mergeOf: MergeOf): Promise<DiskComparison> {
  const disk = new Map(await Promise.all([...dataDirs].map(async ([name, dataDir]) => [name, await readReplicaDisk(dataDir, keys.map(key => ({ key, merge: mergeOf(key) })))] as const)))
  const values = new Map([...disk].map(([name, views]) => [name, new Map([...views].map(([key, v]) => [key, v.value]))]))
  const contextsDiffer = keys.filter(key => new Set([...disk.values()].map(views => views.get(key)?.context)).size > 1)
  return { disk, values, convergence: checkConvergence(values), contextsDiffer }
}

/** Lines of the nodes' logs kept for a failure message. */
const logTailLinesMax = 40

/** The partition tests' quorum collections (n 3, w 2, r 2): registers, or-sets, counters, mv registers. */
export const quorumTestCollections = {
  reg: { mode: 'quorum', merge: 'lww', n: 3, w: 2, r: 2 },
  tags: { mode: 'quorum', merge: 'orset', n: 3, w: 2, r: 2 },
  hits: { mode: 'quorum', merge: 'counter', n: 3, w: 2, r: 2 },
  notes: { mode: 'quorum', merge: 'mv', n: 3, w: 2, r: 2 }
}

/** The merge policy of a key of `quorumTestCollections`. */
export const quorumTestMergeOf: MergeOf = (key) => key.startsWith('tags/') ? 'orset' : key.startsWith('hits/') ? 'counter' : key.startsWith('notes/') ? 'mv' : 'lww'

/**
 * Starts 3 node processes with `quorumTestCollections`, whose replicas converge through hinted handoff
 * alone (read repair and anti-entropy off, handoff every 200 ms), keeping the nodes' last log
 * lines: `logTail()` gives them for a failure message, and a failed start shows them.
 */
export async function startHandoffOnlyCluster (dir: string, options: { faultInjection?: boolean } = {}): Promise<{ cluster: LocalCluster, logTail: () => string }> {
  const tail: string[] = []
  const logTail = (): string => tail.join('\n')
  const cluster = await LocalCluster.start({
    nodes: 3,
    dir,
    logLevel: 'warn',
    ...(options.faultInjection === true ? { faultInjection: true } : {}),
    logs: (node, line) => { tail.push(`${node}: ${line}`); if (tail.length > logTailLinesMax) tail.shift() },
    configOverrides: {
      collections: quorumTestCollections,
      raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50 },
      quorum: { handoffIntervalMs: 200, readRepair: false },
      antiEntropy: { enabled: false },
      timeouts: { peerRequestTimeoutMs: 1_000 }
    }
  }).catch((err: unknown) => { throw new Error(`${(err as Error).message}; the nodes' last log lines:\n${logTail()}`, { cause: err }) })
  return { cluster, logTail }
}

/**
 * The no-lost-write checks over every node's final view: set adds (`set`), blind mv puts (`mv`,
 * history f `mv-put`) and exact counters (`increment`).
 */
export function checkFinalViews (history: HistoryRecorder, states: ReadonlyMap<string, ReadonlyMap<string, ReadView>>, names: readonly string[], keys: { sets: readonly string[], mv: readonly string[], counters: readonly string[] }): { sets: SetResult, blind: SetResult, counters: CounterResult } {
  const events = history.events()
  const finalReads = (forKeys: readonly string[]): Array<{ key: string, replica: string, elements: unknown[] }> =>
    names.flatMap(name => forKeys.map(key => ({ key, replica: name, elements: (finalValue(states, name, key) ?? []) as unknown[] })))
  return {
    sets: checkSet(events, { finalReads: finalReads(keys.sets) }),
    blind: checkSet(events, { addF: 'mv-put', finalReads: finalReads(keys.mv) }),
    counters: checkCounter(events, { addFunctions: ['increment'], finalReads: names.flatMap(name => keys.counters.map(key => ({ key, replica: name, value: (finalValue(states, name, key) ?? 0) as number }))) })
  }
}

/** When the replicas did not converge: the history to a file and the nodes' last log lines, for the failure report. */
export async function reportDivergence (convergence: ConvergenceResult, history: HistoryRecorder, testName: string, logTail: () => string): Promise<void> {
  if (convergence.valid === true) return
  const file = join(tmpdir(), `quorumkv-${testName}-${Date.now()}.jsonl`)
  await writeFile(file, history.toJsonLines())
  console.log(`history written to ${file}; first divergence: ${convergence.anomalies[0]?.explanation ?? ''}; the nodes' last log lines:\n${logTail()}`)
}
