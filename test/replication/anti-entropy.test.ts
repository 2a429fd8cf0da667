import { describe, expect, it } from 'vitest'
import { emptyVersionVector } from '../../src/clock/version-vector.js'
import { applyRegisterWrite, emptyState, readView, stateContext, stateDigest } from '../../src/replication/record.js'
import { ringPosition } from '../../src/replication/ring.js'
import { emptyQuorumSession } from '../../src/replication/session.js'
import { AntiEntropyCluster } from './anti-entropy-cluster.js'
import { dec, enc } from './cluster.js'
import { MemoryEngine } from './memory-engine.js'

/** Writes `value` into one replica's store only, as if every copy to the others was lost. */
async function writeOnOne (c: AntiEntropyCluster, id: string, key: string, value: string | null): Promise<void> {
  const r = c.node(id)
  const seq = await r.store.nextSeq()
  await r.store.update(key, 'lww', (cur) => {
    const w = applyRegisterWrite(cur?.state ?? emptyState('lww'), { node: id, seq, context: emptyVersionVector, hlc: r.clock.now(), value: value === null ? null : enc(value) }, { siblingsWarn: 5, siblingsMax: 8 })
    return { record: { state: w.state, deps: cur?.deps ?? emptyQuorumSession() }, result: undefined }
  })
}

async function started (nodes = 3, seed = 1): Promise<AntiEntropyCluster> {
  const c = new AntiEntropyCluster({ nodes, seed })
  await c.start()
  return c
}

async function metric (c: AntiEntropyCluster, id: string, name: string): Promise<number> {
  const m = await (c.registries.get(id)?.getSingleMetric(name)?.get())
  return m?.values.reduce((a, v) => a + v.value, 0) ?? 0
}

describe('anti-entropy', () => {
  it('repairs a record that differs on one replica only, pulling it to the others and counting the repair', async () => {
    const c = await started()
    const key = 'lww/only-here'
    await c.run(async () => {
      for (let i = 0; i < 50; i++) await c.node('n1').put(`lww/k${i}`, enc(`v${i}`), { w: 3 })
      await writeOnOne(c, 'n2', key, 'lonely')
    })
    expect(await c.run(async () => await c.divergent([key]))).toEqual([key])
    // n1 asks n2 (or n3): either way one exchange by each node settles it.
    await c.run(async () => await c.round())
    expect(await c.run(async () => await c.divergent([key]))).toEqual([])
    for (const id of c.primaries(key)) {
      const rec = await c.run(async () => await c.node(id).localRecord(key))
      const view = rec === undefined ? undefined : readView(rec.state)
      expect(view?.merge === 'lww' && view.value !== undefined ? dec(view.value) : undefined).toBe('lonely')
    }
    let repaired = 0
    for (const id of c.ids) repaired += await metric(c, id, 'quorumkv_antientropy_keys_repaired_total')
    expect(repaired).toBeGreaterThanOrEqual(2)
    expect(await metric(c, 'n1', 'quorumkv_antientropy_rounds_total')).toBe(1)
    expect(await metric(c, 'n1', 'quorumkv_antientropy_bytes_total')).toBeGreaterThan(0)
  })

  it('finds nothing to do between equal replicas, and a complete round resets the full-sync age', async () => {
    const c = await started()
    await c.run(async () => { for (let i = 0; i < 30; i++) await c.node('n1').put(`mv/k${i}`, enc('x'), { w: 3 }) })
    await c.runFor(10_000)
    const ae = c.ae.get('n1')
    expect(ae?.oldestFullSyncAgeMs()).toBeGreaterThanOrEqual(10_000)
    expect(await c.run(async () => await c.round())).toBe(0)
    // The round itself takes some virtual time (simulated round trips), far less than the 10 s before.
    expect(ae?.oldestFullSyncAgeMs()).toBeLessThan(1_000)
    expect(await metric(c, 'n1', 'quorumkv_antientropy_oldest_full_sync_age_seconds')).toBeLessThan(1)
  })

  it('keeps both concurrent siblings of an mv key written on the two sides of a partition', async () => {
    const c = await started()
    const key = 'mv/split'
    const [a, b, other] = c.primaries(key) as [string, string, string]
    c.net.partition([a], [b, other])
    await c.run(async () => {
      await c.node(a).put(key, enc('left'), { consistency: 'eventual', timeoutMs: 500 })
      await c.node(b).put(key, enc('right'), { consistency: 'eventual', timeoutMs: 500 })
    })
    await c.runFor(2_000)
    c.net.heal()
    expect((await c.run(async () => await c.divergent([key]))).length).toBe(1)
    for (let i = 0; i < 2; i++) await c.run(async () => await c.round())
    expect(await c.run(async () => await c.divergent([key]))).toEqual([])
    for (const id of c.primaries(key)) {
      const rec = await c.run(async () => await c.node(id).localRecord(key))
      const view = rec === undefined ? undefined : readView(rec.state)
      expect(view?.merge === 'mv' ? view.values.map(dec).sort() : []).toEqual(['left', 'right'])
    }
  })

  it('does not resurrect a reaped tombstone: a replica that reaped gets at most the tombstone back, never the value', async () => {
    const c = await started()
    const key = 'lww/deleted'
    await c.run(async () => {
      await c.node('n1').put(key, enc('old'), { w: 3 })
      await c.node('n1').delete(key, { w: 3 })
    })
    const [a] = c.primaries(key) as [string]
    const before = await c.run(async () => await c.node(a).localRecord(key))
    expect(before).toBeDefined()
    // One replica reaps on its own (as if the reaper's round stopped half-way): the others still hold the tombstone.
    expect(await c.run(async () => await c.node(a).store.reap(key, 'lww', stateContext((before as NonNullable<typeof before>).state)))).toBe(true)
    for (let i = 0; i < 3; i++) await c.run(async () => await c.round())
    for (const id of c.primaries(key)) {
      const rec = await c.run(async () => await c.node(id).localRecord(key))
      if (rec === undefined) continue
      const view = readView(rec.state)
      expect(view.merge === 'lww' ? view.value : 'not lww').toBeUndefined()
    }
    // The reaper then removes it everywhere, and anti-entropy leaves it removed.
    await c.runFor(5_000)
    await c.run(async () => { for (const id of c.ids) await c.node(id).reapNow() })
    for (let i = 0; i < 3; i++) await c.run(async () => await c.round())
    for (const id of c.ids) expect(await c.run(async () => await c.node(id).localRecord(key))).toBeUndefined()
    expect((await c.run(async () => await c.node('n2').get(key))).entry).toBeUndefined()
  })

  it('repairs a key deleted on one replica only, and the versions of every kind of state', async () => {
    const c = await started()
    await c.run(async () => {
      await c.node('n1').put('lww/x', enc('1'), { w: 3 })
      await writeOnOne(c, c.primaries('lww/x')[2] as string, 'lww/x', null)
      await c.node('n1').increment('ctr/x', 5, { w: 3 })
      await c.node('n1').orsetAdd('set/x', 'a', { w: 3 })
    })
    const keys = ['lww/x', 'ctr/x', 'set/x']
    expect(await c.run(async () => await c.divergent(keys))).toEqual(['lww/x'])
    await c.run(async () => await c.round())
    expect(await c.run(async () => await c.divergent(keys))).toEqual([])
    expect((await c.run(async () => await c.node('n1').get('lww/x'))).entry).toBeUndefined()
    const digests = await c.run(async () => await c.digests('ctr/x'))
    expect(digests[0]).toBe(stateDigest((await c.run(async () => await c.node(c.primaries('ctr/x')[0] as string).localRecord('ctr/x')))?.state ?? emptyState('counter')))
  })

  it('rebuilds, after a restart, the same trees it kept incrementally, and indexes once a database written without the index', async () => {
    const c = await started()
    await c.run(async () => {
      for (let i = 0; i < 40; i++) await c.node('n1').put(`lww/r${i}`, enc(`v${i}`), { w: 3 })
      for (let i = 0; i < 10; i++) await c.node('n2').delete(`lww/r${i}`, { w: 3 })
    })
    const roots = (): Record<string, string> => Object.fromEntries((c.ae.get('n1')?.treeSet?.ranges ?? []).map(r => [r.id, r.tree.root.hash]))
    const before = roots()
    expect(Object.values(before).some(h => h !== '0000000000000000')).toBe(true)
    c.crash('n1')
    await c.restart('n1')
    expect(roots()).toEqual(before)
    // Drop the index, marker included: the next start indexes the data once, with the same result.
    const engine = c.engines.get('n1')
    c.crash('n1')
    await engine?.write((engine?.keys('antientropy') ?? []).map(key => ({ type: 'del' as const, sublevel: 'antientropy' as const, key })))
    expect(engine?.keys('antientropy')).toEqual([])
    await c.restart('n1')
    expect(roots()).toEqual(before)
    expect(await c.run(async () => await c.round())).toBe(0)
  })

  it('exchanges bytes that grow with the differences, not with the keys', async () => {
    const bytesFor = async (keys: number, differences: number): Promise<number> => {
      const c = await started()
      await c.run(async () => { for (let i = 0; i < keys; i++) await c.node('n1').put(`lww/b${i}`, enc('x'), { w: 3 }) })
      const target = 'n3'
      await c.run(async () => { for (let i = 0; i < differences; i++) await writeOnOne(c, target, `lww/b${i * 7}`, 'changed') })
      const total = async (): Promise<number> => { let n = 0; for (const id of c.ids) n += await metric(c, id, 'quorumkv_antientropy_bytes_total'); return n }
      const all = Array.from({ length: keys }, (_, i) => `lww/b${i}`)
      const before = await total()
      for (let round = 0; round < 3 && (await c.run(async () => await c.divergent(all))).length > 0; round++) await c.run(async () => await c.round())
      expect(await c.run(async () => await c.divergent(all))).toEqual([])
      return await total() - before
    }
    const small = await bytesFor(100, 1)
    const large = await bytesFor(1_000, 1)
    const many = await bytesFor(1_000, 50)
    // Ten times the keys: about the same bytes (a few more tree levels differ); fifty times the differences: several times the bytes.
    expect(large).toBeLessThan(small * 2)
    expect(many).toBeGreaterThan(large * 4)
  })

  it('refuses to answer for a range the asker does not replicate, and for keys outside the range', async () => {
    const c = await started(4)
    const ae = c.ae.get('n1')
    const range = ae?.treeSet?.ranges[0]
    expect(range).toBeDefined()
    if (range === undefined) return
    const outsider = c.ids.find(id => !range.arc.replicas.includes(id)) as string
    const ref = { n: range.n, s: range.arc.range.startExclusive, e: range.arc.range.endInclusive }
    const transport = c.net.transport(outsider)
    const member = range.arc.replicas.find(id => id !== outsider) as string
    const reply = await c.run(async () => await transport?.request(member, '/quorumkv/antientropy/1.0.0', { t: 'hashes', ...ref, segs: [[0, 0]], target: 1 }, { timeoutMs: 1_000 }))
    expect(reply).toEqual({ unknown: true })
    const insider = range.arc.replicas.find(id => id !== member) as string
    let outsideKey = 'lww/x0'
    for (let i = 0; range.tree.geometry.contains(ringPosition(outsideKey)); i++) outsideKey = `lww/x${i}`
    await expect(c.run(async () => await c.net.transport(insider)?.request(member, '/quorumkv/antientropy/1.0.0', { t: 'get', ...ref, keys: [outsideKey] }, { timeoutMs: 1_000 }))).rejects.toThrow(/outside the range/)
  })

  it('rebuilds its trees for the new ring after a membership change, and fills the replicas that gained ranges', async () => {
    const c = await started(4)
    const keys = Array.from({ length: 60 }, (_, i) => `mv/m${i}`)
    await c.run(async () => { for (const key of keys) await c.node('n1').put(key, enc(key), { w: 3 }) })
    const survivors = ['n1', 'n2', 'n3']
    const lacking = async (): Promise<number> => {
      let n = 0
      for (const key of keys) for (const id of survivors) if (await c.run(async () => await c.node(id).localRecord(key)) === undefined) n++
      return n
    }
    expect(await lacking()).toBeGreaterThan(0)
    c.crash('n4')
    for (const id of survivors) c.node(id).setMembers(survivors)
    const before = c.ae.get('n1')?.treeSet
    for (let i = 0; i < 2; i++) await c.run(async () => await c.round())
    expect(c.ae.get('n1')?.treeSet).not.toBe(before)
    expect(c.ae.get('n1')?.treeSet?.ring).toBe(c.node('n1').ring)
    expect(await lacking()).toBe(0)
  })

  it('runs rounds on its own every intervalMs when enabled, within the byte rate limit', async () => {
    const c = new AntiEntropyCluster({ nodes: 3, config: { antiEntropy: { enabled: true, intervalMs: 1_000, rangesPerRoundMax: 100, bytesPerSecondMax: 4_096, treeDepth: 8 } } })
    await c.start()
    const keys = Array.from({ length: 20 }, (_, i) => `lww/t${i}`)
    await c.run(async () => { for (const key of keys) await writeOnOne(c, 'n1', key, 'solo') })
    expect((await c.run(async () => await c.divergent(keys))).length).toBe(keys.length)
    await c.runFor(30_000)
    expect(await c.run(async () => await c.divergent(keys))).toEqual([])
    const rounds = await metric(c, 'n2', 'quorumkv_antientropy_rounds_total')
    const bytes = await metric(c, 'n1', 'quorumkv_antientropy_bytes_total')
    expect(rounds).toBeGreaterThanOrEqual(10)
    // The limiter lets at most one second of bytes ahead of the rate (plus the one request that overdraws it).
    expect(bytes).toBeLessThan(4_096 * 31 + 64 * 1024)
  })

  it('repairs a record written around the index (a restored file) and fixes the stale index entry, so the next pass finds nothing', async () => {
    const c = await started()
    const key = 'lww/restored'
    await c.run(async () => { await c.node('n1').put(key, enc('new'), { w: 3 }) })
    const [a, b] = c.primaries(key) as [string, string]
    // b's data goes back to an older version behind the index's back: its index still says "new".
    const older = await c.run(async () => {
      await writeOnOne(c, a, 'lww/scratch', 'old')
      return await c.engines.get(a)?.get('data', 'lww/scratch')
    })
    await c.engines.get(b)?.write([{ type: 'put', sublevel: 'data', key, value: older as Uint8Array }])
    await c.run(async () => { for (let i = 0; i < 3; i++) await c.round() })
    expect(await c.run(async () => await c.divergent([key]))).toEqual([])
    // The restored record was written later (a later timestamp), so lww keeps it, on every replica.
    for (const id of c.primaries(key)) {
      const rec = await c.run(async () => await c.node(id).localRecord(key))
      const view = rec === undefined ? undefined : readView(rec.state)
      expect(view?.merge === 'lww' && view.value !== undefined ? dec(view.value) : undefined).toBe('old')
    }
    expect(c.ae.get(b)?.scrubPasses).toBeGreaterThan(0)
    expect(await c.run(async () => await c.round())).toBe(0)
    const bytes = await metric(c, 'n1', 'quorumkv_antientropy_bytes_total')
    await c.run(async () => await c.round())
    // A pass over ranges in sync: only root checks (under 100 bytes per range).
    const ranges = c.ae.get('n1')?.treeSet?.ranges.length ?? 0
    expect(await metric(c, 'n1', 'quorumkv_antientropy_bytes_total') - bytes).toBeLessThan(100 * ranges)
  })

  it('restores every key a node should hold after it rejoins with an empty data directory', async () => {
    const c = await started(4)
    const keys = Array.from({ length: 300 }, (_, i) => `${['lww', 'mv', 'ctr', 'set'][i % 4] as string}/w${i}`)
    await c.run(async () => {
      for (const key of keys) {
        if (key.startsWith('ctr/')) await c.node('n2').increment(key, 3, { w: 3 })
        else if (key.startsWith('set/')) await c.node('n2').orsetAdd(key, key, { w: 3 })
        else await c.node('n2').put(key, enc(key), { w: 3 })
      }
    })
    c.crash('n1')
    c.engines.set('n1', new MemoryEngine())
    await c.restart('n1')
    const mine = keys.filter(k => c.primaries(k).includes('n1'))
    expect(mine.length).toBeGreaterThan(100)
    expect((await c.run(async () => await c.divergent(mine))).length).toBe(mine.length)
    let rounds = 0
    while ((await c.run(async () => await c.divergent(mine))).length > 0 && rounds < 5) {
      await c.run(async () => await c.ae.get('n1')?.roundNow())
      rounds++
    }
    expect(await c.run(async () => await c.divergent(mine))).toEqual([])
    expect(rounds).toBeLessThanOrEqual(2)
  })
})
