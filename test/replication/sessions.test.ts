import { describe, expect, it } from 'vitest'
import { ClockDriftError } from '../../src/clock/hlc.js'
import { joinSessions } from '../../src/replication/session.js'
import { Cluster, dec, enc } from './cluster.js'

async function cluster (nodes = 5, options: ConstructorParameters<typeof Cluster>[0] = {}): Promise<Cluster> {
  const c = new Cluster({ nodes, ...options })
  await c.start()
  return c
}

async function settle<T> (p: Promise<T>): Promise<{ ok: true, value: T } | { ok: false, error: { code?: string } }> {
  try {
    return { ok: true, value: await p }
  } catch (error) {
    return { ok: false, error: error as { code?: string } }
  }
}

function lwwValue (entry: { merge: string, value?: unknown } | undefined): string | undefined {
  return entry?.merge === 'lww' ? dec(entry.value as Uint8Array) : undefined
}

describe('sessions on quorum collections', () => {
  it('read-your-writes never answers without the session\'s write: it fails while the only copy is cut off, then succeeds', async () => {
    const c = await cluster()
    const key = 'lww/ryw'
    const [p1] = c.primaries(key) as [string]
    c.net.isolate(p1)
    const w = await c.run(async () => await c.node(p1).put(key, enc('mine'), { consistency: 'eventual' }))
    const reader = c.others(key)[0] as string
    const stale = await c.run(async () => await settle(c.node(reader).get(key, { consistency: 'read-your-writes', session: w.session, timeoutMs: 1_500 })))
    expect(stale.ok).toBe(false)
    if (!stale.ok) expect(['TIMEOUT', 'QUORUM_UNAVAILABLE']).toContain(stale.error.code)
    // Without the session the same read is served, stale.
    const eventual = await c.run(async () => await c.node(reader).get(key, { consistency: 'eventual' }))
    expect(eventual.entry).toBeUndefined()
    c.net.heal()
    const fresh = await c.run(async () => await c.node(reader).get(key, { consistency: 'read-your-writes', session: w.session }))
    expect(lwwValue(fresh.entry)).toBe('mine')
  })

  it('causal: a reader that saw y, which causally follows x, never reads x stale, even on replicas that lack x', async () => {
    const c = await cluster()
    const x = 'mv/x'
    const [px1, px2, px3] = c.primaries(x) as [string, string, string]
    // x lands only on its first primary (and a stand-in that is then cut off).
    c.crash(px2)
    c.crash(px3)
    const wx = await c.run(async () => await c.node(px1).put(x, enc('x1'), { consistency: 'causal', w: 1 }))
    await c.restart(px2)
    await c.restart(px3)
    c.net.isolate(px1)
    for (const f of c.others(x)) c.net.isolate(f)
    // y is written by the same session afterwards, somewhere reachable.
    const y = ['mv/y0', 'mv/y1', 'mv/y2', 'mv/y3', 'mv/y4'].find(k => c.primaries(k).includes(px2) && c.primaries(k).includes(px3)) as string
    const wy = await c.run(async () => await c.node(px2).put(y, enc('y1'), { consistency: 'causal', session: wx.session }))
    expect(wy.key).toBe(y)
    // A second session (no token from the writer) reads y, then x.
    const ry = await c.run(async () => await c.node(px3).get(y, { consistency: 'causal' }))
    expect(ry.entry?.merge === 'mv' ? ry.entry.values.map(dec) : []).toEqual(['y1'])
    const rx = await c.run(async () => await settle(c.node(px3).get(x, { consistency: 'causal', session: ry.session, timeoutMs: 1_500 })))
    expect(rx.ok).toBe(false)
    // The same read without the dependency is served, and is stale: that is what the token prevents.
    const blind = await c.run(async () => await c.node(px3).get(x, { consistency: 'causal' }))
    expect(blind.entry).toBeUndefined()
    c.net.heal()
    const after = await c.run(async () => await c.node(px3).get(x, { consistency: 'causal', session: ry.session }))
    expect(after.entry?.merge === 'mv' ? after.entry.values.map(dec) : []).toEqual(['x1'])
  })

  it('a token handed to another process carries the sender\'s writes: the receiver\'s reads reflect them', async () => {
    const c = await cluster()
    const key = 'lww/handover'
    const [p1] = c.primaries(key) as [string]
    c.net.isolate(p1)
    const sender = await c.run(async () => await c.node(p1).put(key, enc('sent'), { consistency: 'eventual' }))
    const other = c.others(key)[0] as string
    const own = await c.run(async () => await c.node(other).put('lww/unrelated', enc('u')))
    const joined = joinSessions(own.session, sender.session)
    const cut = await c.run(async () => await settle(c.node(other).get(key, { session: joined, timeoutMs: 1_000 })))
    expect(cut.ok).toBe(false)
    c.net.heal()
    const r = await c.run(async () => await c.node(other).get(key, { session: joined }))
    expect(lwwValue(r.entry)).toBe('sent')
  })

  it('monotonic reads: after reading a newer version, a read never goes back to an older one', async () => {
    const c = await cluster(3, { config: { quorum: { ringVnodes: 16, handoffIntervalMs: 60_000, readRepair: false } } })
    const key = 'lww/mono'
    await c.run(async () => await c.node('n1').put(key, enc('old'), { w: 3 }))
    c.net.isolate('n3')
    await c.run(async () => await c.node('n1').put(key, enc('new'), { w: 2 }))
    const first = await c.run(async () => await c.node('n1').get(key, { r: 2 }))
    expect(lwwValue(first.entry)).toBe('new')
    c.net.heal()
    // n3 still holds only the old version; a read served by n3 alone must not return it.
    c.net.isolate('n1')
    c.net.isolate('n2')
    const r = await c.run(async () => await settle(c.node('n3').get(key, { r: 1, session: first.session, timeoutMs: 1_000 })))
    expect(r.ok).toBe(false)
    const unbound = await c.run(async () => await c.node('n3').get(key, { r: 1, consistency: 'eventual' }))
    expect(lwwValue(unbound.entry)).toBe('old')
  })

  it('an lww write at causal is stamped after every version its session saw, even from a node whose clock is behind', async () => {
    const c = await cluster(3)
    c.net.setClockSkew('n1', { offsetMs: 400, rate: 1 })
    const first = await c.run(async () => await c.node('n1').put('lww/ordered', enc('first')))
    const second = await c.run(async () => await c.node('n2').put('lww/ordered2', enc('other'), { session: first.session }))
    const third = await c.run(async () => await c.node('n3').put('lww/ordered', enc('second'), { session: second.session }))
    expect(third.version > first.version).toBe(true)
    const r = await c.run(async () => await c.node('n2').get('lww/ordered', { r: 3 }))
    expect(lwwValue(r.entry)).toBe('second')
  })

  it('a version stamped beyond the drift bound is stored, kept out of the clocks, and later writes to its key are refused', async () => {
    const c = await cluster(3)
    c.net.setClockSkew('n1', { offsetMs: 10_000, rate: 1 })
    await c.run(async () => await c.node('n1').put('lww/skewed', enc('future'), { w: 3 }))
    const text = await c.registries.get('n2')?.getSingleMetricAsString('quorumkv_clock_drift_rejected_total')
    expect(text).toMatch(/quorumkv_clock_drift_rejected_total [1-9]/)
    expect(c.node('n2').clock.peek().wallMs).toBeLessThan(5_000)
    await expect(c.run(async () => await c.node('n2').put('lww/skewed', enc('now')))).rejects.toThrow(ClockDriftError)
    const r = await c.run(async () => await c.node('n3').get('lww/skewed'))
    expect(lwwValue(r.entry)).toBe('future')
  })

  it('bounded: served once a primary shows it holds every write acknowledged before the bound, refused while a member is silent', async () => {
    const c = await cluster(4)
    const key = 'lww/bounded'
    await c.run(async () => await c.node('n1').put(key, enc('v')))
    await c.runFor(500)
    const ok = await c.run(async () => await c.node('n2').get(key, { consistency: 'bounded', maxStalenessMs: 1_000 }))
    expect(lwwValue(ok.entry)).toBe('v')
    const silent = c.others(key)[0] as string
    c.crash(silent)
    await c.runFor(3_000)
    const reader = c.primaries(key)[0] as string
    const refused = await c.run(async () => await settle(c.node(reader).get(key, { consistency: 'bounded', maxStalenessMs: 500, timeoutMs: 1_000 })))
    expect(refused.ok).toBe(false)
    const loose = await c.run(async () => await c.node(reader).get(key, { consistency: 'bounded', maxStalenessMs: 60_000 }))
    expect(lwwValue(loose.entry)).toBe('v')
  })
})
