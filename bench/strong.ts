// npm run bench:strong [-- --duration-ms 5000 --warmup-ms 1000 --clients 1,16,64,256 --skip-etcd]
// A 3-node quorumkv cluster of separate processes on 127.0.0.1 against a 3-member etcd (Debian's
// etcd-server, default settings) driven by the same closed-loop load generator: puts, strong
// (linearizable) gets and eventual (serializable) gets of 256 B values over 100k keys.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { LocalCluster } from '../cluster/local.js'
import { connect } from '../src/index.js'
import { etcdBinary, startEtcd } from './lib/etcd.js'
import { numberFlag, printJsonLine, printTable, runLoad, type LoadResult, type Row } from './lib/harness.js'
import { cpuMsOf } from './lib/proc.js'

const durationMs = numberFlag('duration-ms', 5000)
const warmupMs = numberFlag('warmup-ms', 1000)
const clientCounts = (process.argv.includes('--clients') ? process.argv[process.argv.indexOf('--clients') + 1] ?? '' : '1,16,64,256').split(',').map(Number)
const skipEtcd = process.argv.includes('--skip-etcd')
const keys = 100_000
const value = 'v'.repeat(256)
const opsPerClientMax = 1_000_000
const rows: Row[] = []
const key = (c: number, i: number): string => `bench/${(c * 7919 + i * 104729) % keys}`

type Op = (c: number, i: number) => Promise<unknown>
interface System { name: string, pids: () => number[], put: Op, getStrong: Op, getEventual: Op }

async function measure (system: System): Promise<void> {
  // Preload so gets find values.
  await runLoad({ clients: 64, durationMs: 1e9, warmupMs: 0, opsPerClientMax: Math.ceil(2000 / 64) }, system.put)
  for (const [workload, op] of [['put', system.put], ['get-strong', system.getStrong], ['get-eventual', system.getEventual]] as const) {
    for (const clients of clientCounts) {
      const before = await cpuMsOf(system.pids())
      const r: LoadResult = await runLoad({ clients, durationMs, warmupMs, opsPerClientMax }, op)
      const after = await cpuMsOf(system.pids())
      // Server CPU over warm-up and measurement, per measured op: an upper bound, stated as such.
      const serverCpuMsPerOp = r.ops === 0 ? 0 : (after - before) / r.ops * (durationMs / (durationMs + warmupMs))
      rows.push({ workload, clients, system: system.name, opsPerSec: r.opsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, cpuMsPerOp: r.cpuMsPerOp, serverCpuMsPerOp, errors: r.errors })
      console.error(`${system.name} ${workload} x${clients}: ${r.opsPerSec.toFixed(0)} ops/s`)
    }
  }
}

const dir = await mkdtemp(join(tmpdir(), 'quorumkv-bench-strong-'))
try {
  const cluster = await LocalCluster.start({ nodes: 3, dir, logLevel: 'warn' })
  const kv = await connect({ peers: cluster.peers, identity: cluster.clientKey, requestTimeoutMs: 10_000 })
  await kv.put('warm', 1)
  await measure({
    name: 'quorumkv',
    pids: () => cluster.members.map(m => m.pid ?? -1),
    put: async (c, i) => await kv.put(key(c, i), value),
    getStrong: async (c, i) => await kv.get(key(c, i), { consistency: 'strong' }),
    getEventual: async (c, i) => await kv.get(key(c, i), { consistency: 'eventual' })
  })
  await kv.close()
  await cluster.stopAll()

  if (!skipEtcd) {
    if (!existsSync(etcdBinary)) throw new Error(`etcd not found at ${etcdBinary}: apt-get install etcd-server (or pass --skip-etcd)`)
    const etcd = await startEtcd()
    const client = new Etcd3({ hosts: etcd.endpoints })
    await measure({
      name: 'etcd',
      pids: () => etcd.pids,
      put: async (c, i) => await client.put(key(c, i)).value(value),
      getStrong: async (c, i) => await client.get(key(c, i)).string(),
      getEventual: async (c, i) => await client.get(key(c, i)).serializable(true).string()
    })
    client.close()
    await etcd.stop()
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}

for (const row of rows) {
  const ref = rows.find(r => r.system === 'etcd' && r.workload === row.workload && r.clients === row.clients)
  if (row.system === 'quorumkv' && ref !== undefined) row.vsEtcd = (row.opsPerSec as number) / (ref.opsPerSec as number)
}
printTable('bench:strong: 3 nodes on 127.0.0.1, 256 B values, 100k keys, closed-loop clients', rows,
  ['workload', 'clients', 'system', 'opsPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'cpuMsPerOp', 'serverCpuMsPerOp', 'errors', 'vsEtcd'])
printJsonLine('strong', rows)
