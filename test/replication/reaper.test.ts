import { describe, expect, it } from 'vitest'
import { stateContext } from '../../src/replication/record.js'
import { Cluster, enc } from './cluster.js'

async function cluster (nodes = 4): Promise<Cluster> {
  const c = new Cluster({ nodes })
  await c.start()
  return c
}

async function holders (c: Cluster, key: string): Promise<string[]> {
  const out = []
  for (const id of c.ids) if (c.replicas.has(id) && await c.run(async () => await c.node(id).localRecord(key)) !== undefined) out.push(id)
  return out
}

describe('tombstone reaping', () => {
  it('removes a deleted key from every replica once all hold the tombstone and the delay has passed', async () => {
    const c = await cluster()
    for (const key of ['mv/gone', 'lww/gone']) {
      await c.run(async () => await c.node('n1').put(key, enc('x'), { w: 3 }))
      const r = await c.run(async () => await c.node('n2').get(key))
      await c.run(async () => await c.node('n2').delete(key, { w: 3, ...(r.context !== undefined ? { context: r.context } : {}) }))
      expect((await holders(c, key)).length).toBe(3)
    }
    await c.runFor(1_000)
    expect((await holders(c, 'mv/gone')).length).toBe(3)
    await c.runFor(3_000)
    expect(await holders(c, 'mv/gone')).toEqual([])
    expect(await holders(c, 'lww/gone')).toEqual([])
    for (const id of c.ids) expect(c.node(id).store.tombstoneCount).toBe(0)
  })

  it('does not reap while any member is down, nor while a replica holds a write the tombstone did not see', async () => {
    const c = await cluster()
    const key = 'mv/kept'
    await c.run(async () => await c.node('n1').put(key, enc('x'), { w: 3 }))
    const r = await c.run(async () => await c.node('n1').get(key))
    await c.run(async () => await c.node('n1').delete(key, { w: 3, ...(r.context !== undefined ? { context: r.context } : {}) }))
    const down = c.ids.find(id => !c.primaries(key).includes(id)) as string
    c.crash(down)
    await c.runFor(5_000)
    expect((await holders(c, key)).length).toBe(3)
    await c.restart(down)
    // A concurrent write the tombstone did not see arrives: the key is live again, nothing is reaped.
    await c.run(async () => await c.node(down).put(key, enc('again'), { w: 3 }))
    await c.runFor(5_000)
    expect((await holders(c, key)).length).toBe(3)
    const after = await c.run(async () => await c.node('n1').get(key))
    expect(after.entry?.merge).toBe('mv')
  })

  it('brings a replica that missed the reap back in step at the next write to the key', async () => {
    const c = await cluster(3)
    const key = 'lww/partly'
    await c.run(async () => await c.node('n1').put(key, enc('x'), { w: 3 }))
    await c.run(async () => await c.node('n1').delete(key, { w: 3 }))
    const [a, b, missed] = c.primaries(key) as [string, string, string]
    // The reap reached two replicas; the third still holds the tombstone and its context.
    const tomb = await c.run(async () => await c.node(a).localRecord(key))
    if (tomb === undefined) throw new Error('no tombstone')
    for (const id of [a, b]) expect(await c.run(async () => await c.node(id).store.reap(key, 'lww', stateContext(tomb.state)))).toBe(true)
    // A new write starts from nothing where the key was reaped; the replica that missed the reap
    // merges it into a context that covers more, and hints the other primaries: handoff spreads it.
    await c.run(async () => await c.node(a).put(key, enc('y'), { w: 3 }))
    await c.runFor(2_000)
    const contexts = await Promise.all([a, b, missed].map(async id => {
      const rec = await c.run(async () => await c.node(id).localRecord(key))
      return rec === undefined ? undefined : stateContext(rec.state)
    }))
    expect(contexts[0]).toEqual(contexts[2])
    expect(contexts[1]).toEqual(contexts[2])
  })
})
