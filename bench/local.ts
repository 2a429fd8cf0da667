// npm run bench:local [-- --duration-ms 3000 --warmup-ms 500]
// A single embedded node: synced puts and gets of 256 B values at 1 and 64 concurrent callers, and
// in the same run raw `level` (the engine underneath) doing the same synced writes, as the floor.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { pino } from 'pino'
import { createNode } from '../src/index.js'
import { numberFlag, printJsonLine, printTable, runLoad, type Row } from './lib/harness.js'

const durationMs = numberFlag('duration-ms', 3000)
const warmupMs = numberFlag('warmup-ms', 500)
const keys = 100_000
const value = 'v'.repeat(256)
const bytes = new TextEncoder().encode(value)
const opsPerClientMax = 2_000_000
const rows: Row[] = []

async function withDir<T> (fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'quorumkv-bench-'))
  try { return await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

function key (client: number, i: number): string {
  return `bench/${(client * 7919 + i * 104729) % keys}`
}

await withDir(async (dir) => {
  const node = await createNode({ schemaVersion: 1, dataDir: dir }, { logger: pino({ level: 'silent' }) })
  const kv = node.client()
  for (const clients of [1, 64]) {
    const r = await runLoad({ clients, durationMs, warmupMs, opsPerClientMax }, async (c, i) => await kv.put(key(c, i), value))
    rows.push({ workload: 'put', clients, system: 'quorumkv', ...r })
  }
  for (const clients of [1, 64]) {
    const r = await runLoad({ clients, durationMs, warmupMs, opsPerClientMax }, async (c, i) => await kv.get(key(c, i)))
    rows.push({ workload: 'get', clients, system: 'quorumkv', ...r })
  }
  await node.stop()
})

await withDir(async (dir) => {
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  for (const clients of [1, 64]) {
    const r = await runLoad({ clients, durationMs, warmupMs, opsPerClientMax }, async (c, i) => { await db.put(key(c, i), bytes, { sync: true }) })
    rows.push({ workload: 'put', clients, system: 'level', ...r })
  }
  // Batches of 100 synced puts from one caller: what one fsync can carry. Latency is per batch.
  const batch = await runLoad({ clients: 1, durationMs, warmupMs, opsPerClientMax }, async (c, i) => {
    await db.batch(Array.from({ length: 100 }, (_, j) => ({ type: 'put' as const, key: key(c, i * 100 + j), value: bytes })), { sync: true })
  })
  rows.push({ workload: 'put-batch100', clients: 1, system: 'level', ...batch, ops: batch.ops * 100, opsPerSec: batch.opsPerSec * 100, cpuMsPerOp: batch.cpuMsPerOp / 100 })
  for (const clients of [1, 64]) {
    const r = await runLoad({ clients, durationMs, warmupMs, opsPerClientMax }, async (c, i) => await db.get(key(c, i)))
    rows.push({ workload: 'get', clients, system: 'level', ...r })
  }
  await db.close()
})

const levelBatch = rows.find(r => r.system === 'level' && r.workload === 'put-batch100')?.opsPerSec as number
const single = rows.find(r => r.system === 'quorumkv' && r.workload === 'put' && r.clients === 1)?.opsPerSec as number
for (const row of rows) {
  const ref = rows.find(r => r.system === 'level' && r.workload === row.workload && r.clients === row.clients)
  if (row.system === 'quorumkv' && ref !== undefined) row.vsLevel = (row.opsPerSec as number) / (ref.opsPerSec as number)
  if (row.system === 'quorumkv' && row.workload === 'put') row.vsLevelBatch100 = (row.opsPerSec as number) / levelBatch
  if (row.system === 'quorumkv' && row.workload === 'put') row.vsOneAtATime = (row.opsPerSec as number) / single
}
printTable('bench:local — one embedded node, 256 B values, synced writes', rows,
  ['workload', 'clients', 'system', 'opsPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'cpuMsPerOp', 'vsLevel', 'vsLevelBatch100', 'vsOneAtATime'])
printJsonLine('local', rows.map(({ elapsedMs: _e, ...r }) => r))
