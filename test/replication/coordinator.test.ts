import { describe, expect, it } from 'vitest'
import { ConflictError, ConsistencyError, InvalidArgumentError, PreconditionFailedError, QuorumUnavailableError } from '../../src/api/errors.js'
import { quorumProtocol } from '../../src/replication/messages.js'
import { emptyQuorumSession, sessionToWire } from '../../src/replication/session.js'
import { Cluster, dec, enc } from './cluster.js'

async function cluster (nodes = 3, options: ConstructorParameters<typeof Cluster>[0] = {}): Promise<Cluster> {
  const c = new Cluster({ nodes, ...options })
  await c.start()
  return c
}

function values (entry: { merge: string, values?: Uint8Array[], value?: unknown } | undefined): string[] {
  if (entry === undefined) return []
  if (entry.merge === 'mv') return (entry.values ?? []).map(dec).sort()
  if (entry.merge === 'lww') return [dec(entry.value as Uint8Array)]
  return []
}

describe('quorum coordinator: writes and reads', () => {
  it('a causal get after a put returns the value, through any node', async () => {
    const c = await cluster()
    const w = await c.run(async () => await c.node('n1').put('lww/a', enc('one')))
    for (const id of c.ids) {
      const r = await c.run(async () => await c.node(id).get('lww/a', { session: w.session }))
      expect(values(r.entry)).toEqual(['one'])
      expect(r.entry?.etag).toBe(w.etag)
    }
  })

  it('mv keeps concurrent blind puts as siblings; a put with the read context supersedes exactly them', async () => {
    const c = await cluster(5)
    await c.run(async () => await Promise.all([c.node('n1').put('mv/k', enc('a')), c.node('n4').put('mv/k', enc('b'))]))
    const read = await c.run(async () => await c.node('n2').get('mv/k', { r: 3 }))
    expect(values(read.entry)).toEqual(['a', 'b'])
    await c.run(async () => await c.node('n3').put('mv/k', enc('c'), { context: read.context }))
    const after = await c.run(async () => await c.node('n5').get('mv/k', { r: 3 }))
    expect(values(after.entry)).toEqual(['c'])
  })

  it('lww resolves concurrent puts to the same value everywhere', async () => {
    const c = await cluster(4)
    await c.run(async () => await Promise.all([c.node('n1').put('lww/k', enc('x')), c.node('n2').put('lww/k', enc('y')), c.node('n4').put('lww/k', enc('z'))]))
    await c.runFor(1_000)
    const seen = new Set<string>()
    for (const id of c.primaries('lww/k')) {
      const rec = await c.run(async () => await c.node(id).localRecord('lww/k'))
      expect(rec?.state.merge).toBe('lww')
      if (rec?.state.merge === 'lww') seen.add(JSON.stringify(rec.state.set.siblings.map(s => s.counter)))
    }
    expect(seen.size).toBe(1)
  })

  it('a write through a node that is not a primary is forwarded to a primary, whose dot it carries', async () => {
    const c = await cluster(5)
    const key = 'mv/forward'
    const outsider = c.others(key)[0] as string
    await c.run(async () => await c.node(outsider).put(key, enc('v')))
    const rec = await c.run(async () => await c.node(c.primaries(key)[0] as string).localRecord(key))
    const dots = rec?.state.merge === 'mv' ? rec.state.set.siblings.map(s => s.node) : []
    expect(dots.length).toBe(1)
    expect(c.primaries(key)).toContain(dots[0])
    expect(await c.run(async () => await c.node(outsider).localRecord(key))).toBeUndefined()
  })

  it('with a primary down, a w=2 write succeeds on a fallback that keeps a hint and hands it back on return', async () => {
    const c = await cluster(5)
    const key = 'mv/sloppy'
    const [p1, p2, p3] = c.primaries(key) as [string, string, string]
    c.crash(p2)
    c.crash(p3)
    await c.run(async () => await c.node(p1).put(key, enc('v')))
    await c.runFor(100)
    // Each down primary got a stand-in that holds the state with a hint for it.
    const holders = []
    for (const id of c.others(key)) if (await c.run(async () => await c.node(id).localRecord(key)) !== undefined) holders.push(id)
    expect(holders.length).toBe(2)
    for (const p of [p2, p3]) expect(holders.some(f => c.node(f).store.hasHint(p, key))).toBe(true)
    await c.restart(p2)
    await c.restart(p3)
    await c.runFor(2_000)
    for (const id of [p2, p3]) expect(await c.run(async () => await c.node(id).localRecord(key))).toBeDefined()
    for (const id of c.ids) expect(c.node(id).store.hintsPending).toBe(0)
    const text = await c.registries.get(p1)?.getSingleMetricAsString('quorumkv_hints_pending')
    expect(text).toContain('quorumkv_hints_pending 0')
  })

  it('pw counts only primaries: with a primary down, pw = 3 fails with QuorumUnavailableError', async () => {
    const c = await cluster(5)
    const key = 'mv/pw'
    const [p1, , p3] = c.primaries(key) as [string, string, string]
    c.crash(p3)
    await expect(c.run(async () => await c.node(p1).put(key, enc('v'), { w: 3, pw: 3 }))).rejects.toThrow(QuorumUnavailableError)
    await c.run(async () => await c.node(p1).put(key, enc('v'), { w: 3, pw: 2 }))
  })

  it('an eventual write is acknowledged by the first durable copy and still reaches the other replicas after a partition heals', async () => {
    const c = await cluster(3)
    const key = 'lww/eventual'
    c.net.isolate('n1')
    const w = await c.run(async () => await c.node('n1').put(key, enc('alone'), { consistency: 'eventual' }))
    expect(w.version).toMatch(/^[0-9a-f]{14}-/)
    expect(c.node('n1').store.hintsPending).toBe(2)
    c.net.heal()
    await c.runFor(2_000)
    for (const id of ['n2', 'n3']) {
      const r = await c.run(async () => await c.node(id).get(key, { r: 1, consistency: 'eventual' }))
      expect(values(r.entry)).toEqual(['alone'])
    }
    expect(c.node('n1').store.hintsPending).toBe(0)
  })

  it('read repair brings a replica found behind up to date', async () => {
    const c = await cluster(3, { config: { quorum: { ringVnodes: 16, handoffIntervalMs: 60_000 } } })
    const key = 'mv/repair'
    c.net.isolate('n3')
    await c.run(async () => await c.node('n1').put(key, enc('v'), { w: 2 }))
    c.net.heal()
    expect(await c.run(async () => await c.node('n3').localRecord(key))).toBeUndefined()
    await c.run(async () => await c.node('n1').get(key, { r: 3 }))
    await c.runFor(500)
    expect(await c.run(async () => await c.node('n3').localRecord(key))).toBeDefined()
  })

  it('a read asks only the replicas it needs, this node first, and one more beside a replica slow to answer', async () => {
    const c = await cluster(3, { config: { quorum: { handoffIntervalMs: 60_000 } } })
    const key = 'lww/few'
    await c.run(async () => await c.node('n1').put(key, enc('v'), { w: 3 }))
    await c.runFor(1_000)
    let sent = c.net.totals().sent
    const r1 = await c.run(async () => await c.node('n1').get(key, { r: 1, consistency: 'eventual' }))
    expect(values(r1.entry)).toEqual(['v'])
    expect(c.net.totals().sent - sent).toBe(0)
    sent = c.net.totals().sent
    const r2 = await c.run(async () => await c.node('n1').get(key, { r: 2, consistency: 'eventual' }))
    expect(values(r2.entry)).toEqual(['v'])
    // One request and its reply.
    expect(c.net.totals().sent - sent).toBe(2)
    // The replica asked second stalls for 5 s: the read asks the third beside it and does not wait.
    const second = c.primaries(key).filter(n => n !== 'n1')[0] as string
    c.net.pause(second, 5_000)
    const start = c.clock.now()
    const slow = await c.run(async () => await c.node('n1').get(key, { r: 2, consistency: 'eventual' }))
    expect(values(slow.entry)).toEqual(['v'])
    // Well before the peer request timeout (300 ms here) would have given up on it.
    expect(c.clock.now() - start).toBeLessThan(100)
  })

  it('strong is refused on a quorum collection before anything is read or written', async () => {
    const c = await cluster()
    await expect(c.run(async () => await c.node('n1').put('lww/s', enc('x'), { consistency: 'strong' }))).rejects.toThrow(ConsistencyError)
    await expect(c.run(async () => await c.node('n1').get('lww/s', { consistency: 'strong' }))).rejects.toThrow(ConsistencyError)
    expect(await c.run(async () => await c.node('n1').localRecord('lww/s'))).toBeUndefined()
  })

  it('a blind mv write past siblingsMax is refused with ConflictError; a write with the context resolves', async () => {
    const c = await cluster()
    for (let i = 0; i < 8; i++) await c.run(async () => await c.node('n1').put('mv/many', enc(`v${i}`)))
    await expect(c.run(async () => await c.node('n1').put('mv/many', enc('one more')))).rejects.toThrow(ConflictError)
    const r = await c.run(async () => await c.node('n1').get('mv/many'))
    expect(values(r.entry)).toHaveLength(8)
    await c.run(async () => await c.node('n1').put('mv/many', enc('resolved'), { context: r.context }))
    expect(values((await c.run(async () => await c.node('n2').get('mv/many'))).entry)).toEqual(['resolved'])
  })

  it('ifMatch writes only when the etag read from r replicas is current', async () => {
    const c = await cluster()
    const first = await c.run(async () => await c.node('n1').put('lww/cas', enc('1')))
    const second = await c.run(async () => await c.node('n2').put('lww/cas', enc('2'), { ifMatch: first.etag }))
    await expect(c.run(async () => await c.node('n3').put('lww/cas', enc('3'), { ifMatch: first.etag }))).rejects.toThrow(PreconditionFailedError)
    await c.run(async () => await c.node('n3').put('lww/cas', enc('3'), { ifMatch: second.etag }))
    await expect(c.run(async () => await c.node('n3').put('lww/none', enc('x'), { ifMatch: first.etag }))).rejects.toThrow(PreconditionFailedError)
  })

  it('a delete makes the key read as missing and keeps a tombstone', async () => {
    const c = await cluster()
    await c.run(async () => await c.node('n1').put('lww/d', enc('x')))
    await c.run(async () => await c.node('n2').delete('lww/d'))
    expect((await c.run(async () => await c.node('n3').get('lww/d'))).entry).toBeUndefined()
    expect(c.node('n1').store.tombstoneCount + c.node('n2').store.tombstoneCount + c.node('n3').store.tombstoneCount).toBeGreaterThan(0)
  })

  it('counters add every increment exactly once, wherever it was coordinated', async () => {
    const c = await cluster(4)
    await c.run(async () => await Promise.all(c.ids.flatMap(id => [c.node(id).increment('ctr/c', 2), c.node(id).increment('ctr/c', -1)])))
    const r = await c.run(async () => await c.node('n1').get('ctr/c', { r: 3 }))
    expect(r.entry).toMatchObject({ merge: 'counter', value: 4 })
    await expect(c.run(async () => await c.node('n1').put('ctr/c', enc('x')))).rejects.toThrow(InvalidArgumentError)
  })

  it('a forwarded write delivered twice (a network duplicate or a transport retry) is applied once', async () => {
    const c = await cluster(3)
    const t = c.net.transport('n1')
    if (t === undefined) throw new Error('n1 is down')
    const op = { id: 'n1/77', kind: 'increment', key: 'ctr/dup', delta: 5, level: 'causal', w: 2, pw: 0, session: sessionToWire(emptyQuorumSession()) }
    const primary = c.primaries('ctr/dup')[0] as string
    for (let i = 0; i < 2; i++) await c.run(async () => await t.request(primary, quorumProtocol, { t: 'coordinate', op, timeoutMs: 500 }, { timeoutMs: 1_000 }))
    const r = await c.run(async () => await c.node('n2').get('ctr/dup', { r: 3 }))
    expect(r.entry).toMatchObject({ merge: 'counter', value: 5 })
  })

  it('or-sets: a remove removes the adds it observed, a concurrent add survives', async () => {
    const c = await cluster()
    await c.run(async () => await c.node('n1').orsetAdd('set/s', 'a'))
    await c.run(async () => await c.node('n2').orsetAdd('set/s', 'b'))
    await c.run(async () => await c.node('n3').orsetRemove('set/s', 'a'))
    expect((await c.run(async () => await c.node('n1').orsetMembers('set/s'))).members).toEqual(['b'])
  })

  it('a single node serves every level but strong, and its one copy meets any w and r', async () => {
    const c = await cluster(1)
    for (const consistency of ['eventual', 'read-your-writes', 'causal'] as const) {
      const w = await c.run(async () => await c.node('n1').put('mv/solo', enc(consistency), { consistency, w: 3, pw: 3 }))
      const r = await c.run(async () => await c.node('n1').get('mv/solo', { consistency, r: 3, pr: 3, session: w.session }))
      expect(values(r.entry)).toContain(consistency)
    }
    const b = await c.run(async () => await c.node('n1').get('mv/solo', { consistency: 'bounded', maxStalenessMs: 10 }))
    expect(values(b.entry)).toHaveLength(3)
  })

  it('setMembers rebuilds the ring and refuses a member list without this node', async () => {
    const c = await cluster(3)
    const ring = c.node('n1').ring
    expect(ring.members).toEqual(['n1', 'n2', 'n3'])
    c.node('n1').setMembers(['n1', 'n2', 'n3', 'n9'])
    expect(c.node('n1').ring.members).toEqual(['n1', 'n2', 'n3', 'n9'])
    expect(() => { c.node('n1').setMembers(['n2', 'n3']) }).toThrow(InvalidArgumentError)
  })

  it('counts quorum-unavailable reads when fewer than r replicas answer', async () => {
    const c = await cluster(3)
    c.crash('n2')
    c.crash('n3')
    await expect(c.run(async () => await c.node('n1').get('lww/x', { r: 2, consistency: 'eventual' }))).rejects.toThrow(QuorumUnavailableError)
    const r = await c.run(async () => await c.node('n1').get('lww/x', { r: 1, consistency: 'eventual' }))
    expect(r.entry).toBeUndefined()
    expect(r.session).toEqual(emptyQuorumSession())
  })
})
