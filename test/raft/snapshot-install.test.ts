import { afterEach, describe, expect, it } from 'vitest'
import { decode } from '../../src/codec/msgpack.js'
import type { StorageEngine } from '../../src/storage/engine.js'
import type { KvCommand } from '../../src/storage/kv-state-machine.js'
import { tempDir } from '../support/tmp.js'
import { DirectNetwork, MiniCluster, MiniNode } from './snapshot-harness.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

async function state (engine: StorageEngine): Promise<{ data: Record<string, unknown>, sessions: Record<string, unknown> }> {
  const data: Record<string, unknown> = {}
  const sessions: Record<string, unknown> = {}
  for await (const [k, v] of engine.entries('data')) data[k] = decode(v)
  for await (const [k, v] of engine.entries('sessions')) sessions[k] = decode(v)
  return { data, sessions }
}

function puts (from: number, count: number): KvCommand[] {
  return Array.from({ length: count }, (_, i) => ({
    op: 'put' as const,
    key: `k${(from + i) % 17}`,
    value: bytes(`v${from + i}-${'x'.repeat((from + i) % 300)}`),
    client: { id: `c${(from + i) % 5}`, seq: from + i, lo: from + i }
  }))
}

describe('snapshot install through the Raft core, the durable log and LevelDB', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function cluster (seed: number): Promise<{ c: MiniCluster, dirs: Map<string, string> }> {
    const net = new DirectNetwork(seed)
    const c = new MiniCluster(net)
    const dirs = new Map<string, string>()
    const conf = { voters: ['L', 'A', 'F'], learners: [] }
    for (const id of conf.voters) {
      const dir = await tempDir()
      cleanups.push(dir.cleanup)
      dirs.set(id, dir.path)
      c.nodes.set(id, await MiniNode.open(id, dir.path, net.transport(id), conf, { chunkBytes: 512, catchUpEntries: 5 }))
    }
    cleanups.push(async () => { for (const n of c.nodes.values()) await n.close() })
    // L campaigns first.
    for (let i = 0; i < 30 && c.node('L').core.status().role !== 'leader'; i++) {
      c.node('L').core.tick()
      await c.stabilize()
    }
    expect(c.node('L').core.status().role).toBe('leader')
    return { c, dirs }
  }

  it('a follower behind the compacted log receives a snapshot over a lossy link, installs it and catches up from entries', async () => {
    const { c, dirs } = await cluster(1)
    const L = c.node('L')
    c.net.isolated.add('F')
    await c.propose('L', puts(0, 40))
    await c.propose('L', puts(40, 40))
    const snap = await L.snapshot()
    expect(L.core.status().firstIndex).toBeGreaterThan(c.node('F').core.status().lastIndex + 1)
    // Applied past the recorded snapshot: the view sent is of the live state at a later index.
    await c.propose('L', puts(80, 5))

    c.net.isolated.delete('F')
    c.net.lossProbability = 0.3
    // The leader keeps writing while the snapshot streams; the follower continues from entries.
    await c.tickAll(2)
    await c.propose('L', puts(85, 10))
    for (let i = 0; i < 50 && c.node('F').sm.appliedIndex < L.sm.appliedIndex; i++) await c.tickAll(1)

    const F = c.node('F')
    expect(c.net.lost).toBeGreaterThan(0)
    expect(F.installs.length).toBe(1)
    expect(F.installs[0]).toBeGreaterThan(snap.index)
    expect(L.reports.filter(r => r.ok).map(r => r.to)).toEqual(['F'])
    expect(F.sm.appliedIndex).toBe(L.sm.appliedIndex)
    expect(await state(F.engine)).toEqual(await state(L.engine))

    // The install survives a restart: the log's snapshot and the state machine agree.
    const applied = F.sm.appliedIndex
    await F.close()
    const reopened = await MiniNode.open('F', dirs.get('F') as string, c.net.transport('F'), { voters: [], learners: [] }, { chunkBytes: 512, catchUpEntries: 5 })
    c.nodes.set('F', reopened)
    expect(reopened.sm.appliedIndex).toBe(applied)
    expect(reopened.log.view.snapshot().index).toBe(F.installs[0])
    expect(await state(reopened.engine)).toEqual(await state(L.engine))
    await c.propose('L', puts(95, 5))
    await c.tickAll(2)
    expect(reopened.sm.appliedIndex).toBe(L.sm.appliedIndex)
  })

  it('a follower within the catch-up entries catches up without a snapshot', async () => {
    const { c } = await cluster(2)
    await c.propose('L', puts(0, 10))
    c.net.isolated.add('F')
    await c.propose('L', puts(10, 3))
    await c.node('L').snapshot()
    c.net.isolated.delete('F')
    await c.tickAll(3)
    expect(c.node('F').installs).toEqual([])
    expect(c.node('F').sm.appliedIndex).toBe(c.node('L').sm.appliedIndex)
  })
})
