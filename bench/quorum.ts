// npm run bench:quorum [-- --duration-ms 5000 --warmup-ms 1000 --clients 1,64 --workloads put-eventual,get-r1 --cpu-prof-dir DIR]
// A 3-node quorumkv cluster of separate processes on 127.0.0.1; a quorum collection `q` (n 3, w 2,
// r 2, lww) beside the default raft collection. Closed-loop clients of one remote client write and
// read 256 B values over 100k keys: eventual (W=1) and quorum (W=2) puts, and in the same run strong
// puts through Raft for the ratio; R=1 and R=2 gets, and causal gets with a token from a write.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalCluster } from '../cluster/local.js'
import { connect, type Client } from '../src/index.js'
import { numberFlag, printTable, runLoad, type Row } from './lib/harness.js'
import { cpuMsOf } from './lib/proc.js'

const durationMs = numberFlag('duration-ms', 5000)
const warmupMs = numberFlag('warmup-ms', 1000)
const keys = 100_000
const value = 'v'.repeat(256)
/** Each loop also stops here, so a run ends even if the clock misbehaves. */
const opsPerClientMax = 1_000_000
const requestTimeoutMs = 10_000
const logTailLinesMax = 40
const collection = 'q'
const collections = { [collection]: { mode: 'quorum', merge: 'lww', n: 3, w: 2, r: 2 } }

const stringFlag = (name: string): string | undefined => process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined
/** Run only these workloads, in this order (the gets read what the puts that ran before them wrote). */
const only = stringFlag('workloads')?.split(',')
/** Profile the node processes (V8 .cpuprofile files written there when they stop). */
const cpuProfDir = stringFlag('cpu-prof-dir')

/** Closed-loop client counts, each workload run at each (the figure is at 64). */
const clientCounts = (stringFlag('clients') ?? '1,64').split(',').map(Number)
if (clientCounts.some(c => !Number.isInteger(c) || c < 1 || c > 4096)) throw new Error('--clients must be a comma-separated list of integers from 1 to 4096')
const clientsMax = Math.max(...clientCounts)

const keyIndex = (c: number, i: number): number => (c * 7919 + i * 104729) % keys
const quorumKey = (c: number, i: number): string => `${collection}/${keyIndex(c, i)}`
const raftKey = (c: number, i: number): string => `bench/${keyIndex(c, i)}`

type Op = (c: number, i: number) => Promise<unknown>

/** A cluster at rest uses about 80 ms of CPU a second; this is the most a settled one may use. */
const settledCpuMsPerSecond = 200
const settleMsMax = 15_000
/**
 * Waits until the nodes are at rest, so that one workload's background work (the copies of eventual
 * writes, read repairs, hint clears) is not measured in the next one. Bounded by settleMsMax.
 */
async function settle (pids: number[]): Promise<void> {
  const end = Date.now() + settleMsMax
  while (Date.now() < end) {
    const before = await cpuMsOf(pids)
    await new Promise(resolve => setTimeout(resolve, 500))
    if (await cpuMsOf(pids) - before <= settledCpuMsPerSecond / 2) return
  }
}

/**
 * What the quorum puts wrote, per client loop, so gets find values, and the last session token
 * each loop got from a W=2 write, for the causal reads.
 */
const written = new Array<number>(clientsMax).fill(0)
const tokens = new Array<string | undefined>(clientsMax).fill(undefined)
/** A key client `c` wrote (its i-th get cycles over them); a loop that wrote nothing reads its first key. */
const writtenKey = (c: number, i: number): string => quorumKey(c, i % Math.max(1, written[c] as number))

function workloads (kv: Client): Array<[string, Op]> {
  const quorumPut = (options: { consistency: 'eventual' } | { w: number }): Op => async (c, i) => {
    const result = await kv.put(quorumKey(c, i), value, options)
    written[c] = Math.max(written[c] as number, i + 1)
    if ('w' in options) tokens[c] = result.session
    return result
  }
  return [
    ['put-eventual', quorumPut({ consistency: 'eventual' })],
    ['put-quorum', quorumPut({ w: 2 })],
    // Strong like eventual carries no session token (the client's grew to its bounds with the quorum calls).
    ['put-strong', async (c, i) => await kv.put(raftKey(c, i), value, { consistency: 'strong' })],
    ['get-r1', async (c, i) => await kv.get(writtenKey(c, i), { consistency: 'eventual', r: 1 })],
    ['get-r2', async (c, i) => await kv.get(writtenKey(c, i), { consistency: 'eventual', r: 2 })],
    ['get-causal', async (c, i) => {
      const session = tokens[c]
      return await kv.get(writtenKey(c, i), { consistency: 'causal', ...(session !== undefined ? { session } : {}) })
    }]
  ]
}

const rows: Row[] = []
const dir = await mkdtemp(join(tmpdir(), 'quorumkv-bench-quorum-'))
try {
  // The nodes' last log lines (warnings and errors), shown when one fails to start.
  const logTail: string[] = []
  const logs = (node: string, line: string): void => { logTail.push(`${node}: ${line}`); if (logTail.length > logTailLinesMax) logTail.shift() }
  const cluster = await LocalCluster.start({ nodes: 3, dir, logLevel: 'warn', logs, configOverrides: { collections }, ...(cpuProfDir !== undefined ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] } : {}) })
    .catch((err: unknown) => { throw new Error(`${(err as Error).message}; the nodes' last log lines:\n${logTail.join('\n')}`, { cause: err }) })
  try {
    const kv = await connect({ peers: cluster.peers, identity: cluster.clientKey, requestTimeoutMs })
    try {
      // The first strong write waits for a leader; the first quorum write dials the peers.
      await kv.put('warm', 1)
      await kv.put(`${collection}/warm`, 1, { w: 3 })
      const pids = (): number[] => cluster.members.map(m => m.pid ?? -1)
      const all = workloads(kv)
      const unknown = only?.filter(w => !all.some(([name]) => name === w)) ?? []
      if (unknown.length > 0) throw new Error(`unknown workloads ${unknown.join(', ')}: use ${all.map(([name]) => name).join(', ')}`)
      for (const clients of clientCounts) {
        for (const [workload, op] of only === undefined ? all : only.map(w => all.find(([name]) => name === w) as [string, Op])) {
          await settle(pids())
          const before = await Promise.all(pids().map(async pid => await cpuMsOf([pid])))
          const r = await runLoad({ clients, durationMs, warmupMs, opsPerClientMax }, op)
          const after = await Promise.all(pids().map(async pid => await cpuMsOf([pid])))
          // Server CPU over warm-up and measurement, per measured op: an upper bound, stated as such.
          const perOp = (ms: number): number => r.ops === 0 ? 0 : ms / r.ops * (durationMs / (durationMs + warmupMs))
          const nodes = after.map((ms, i) => perOp(ms - (before[i] as number))).sort((a, b) => b - a)
          const serverCpuMsPerOp = nodes.reduce((a, b) => a + b, 0)
          // Each node's share, busiest first: the coordinator (or the leader) against the replicas.
          const nodesCpuMsPerOp = nodes.map(ms => ms.toFixed(3)).join(' / ')
          rows.push({ workload, clients, system: 'quorumkv', opsPerSec: r.opsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, cpuMsPerOp: r.cpuMsPerOp, serverCpuMsPerOp, nodesCpuMsPerOp, ops: r.ops, errors: r.errors })
          console.error(`quorumkv ${workload} x${clients}: ${r.opsPerSec.toFixed(0)} ops/s, ${r.errors} errors`)
        }
      }
      console.error(`session token: ${kv.session().length} characters`)
    } finally {
      await kv.close()
    }
  } finally {
    await cluster.stopAll()
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}

const opsPerSecOf = (workload: string, clients: number): number => (rows.find(r => r.workload === workload && r.clients === clients)?.opsPerSec as number | undefined) ?? 0
const ratioToStrong = (workload: string, clients: number): number => {
  const strong = opsPerSecOf('put-strong', clients)
  return strong === 0 ? 0 : opsPerSecOf(workload, clients) / strong
}
for (const row of rows) if (String(row.workload).startsWith('put-')) row.vsStrongPut = ratioToStrong(String(row.workload), row.clients as number)
/** Eventual over strong put throughput at each client count. */
const eventualToStrongPutRatio = Object.fromEntries(clientCounts.map(c => [c, ratioToStrong('put-eventual', c)]))

printTable(`bench:quorum: 3 nodes on 127.0.0.1, collection "${collection}" (quorum, lww, n 3, w 2, r 2), 256 B values, 100k keys, closed-loop clients`, rows,
  ['workload', 'clients', 'system', 'opsPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'cpuMsPerOp', 'serverCpuMsPerOp', 'nodesCpuMsPerOp', 'errors', 'vsStrongPut'])
for (const c of clientCounts) console.log(`eventual / strong put throughput at ${c} clients: ${(eventualToStrongPutRatio[c] as number).toFixed(2)}x`)
// The last line: one JSON object (bench/lib/harness.ts printJsonLine has no place for the ratio).
const round = (v: string | number): string | number => typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v
process.stdout.write(`${JSON.stringify({
  bench: 'quorum',
  rows: rows.map(r => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)]))),
  eventualToStrongPutRatio: Object.fromEntries(Object.entries(eventualToStrongPutRatio).map(([c, v]) => [c, round(v)]))
})}\n`)
