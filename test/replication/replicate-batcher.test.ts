import { describe, expect, it } from 'vitest'
import { OverloadedError, UnavailableError } from '../../src/api/errors.js'
import type { VersionVector } from '../../src/clock/version-vector.js'
import { ReplicateBatcher, type ReplicateItem } from '../../src/replication/replicate-batcher.js'
import { emptyRecord } from '../../src/replication/record.js'

interface Sent {
  to: string
  keys: string[]
  settle: (results: Array<VersionVector | Error> | Error) => void
}

/** A send whose batches the test answers by hand. */
function harness (limits = { inflightBatchesMax: 1, itemsPerBatchMax: 3, bytesPerBatchMax: 1 << 20, queuedMax: 100 }): { batcher: ReplicateBatcher, sent: Sent[] } {
  const sent: Sent[] = []
  const batcher = new ReplicateBatcher(async (to: string, items: ReplicateItem[]) => await new Promise((resolve, reject) => {
    sent.push({ to, keys: items.map(i => i.key), settle: (r) => { if (r instanceof Error) reject(r); else resolve(r) } })
  }), limits, (fn) => { setImmediate(fn) })
  return { batcher, sent }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

describe('ReplicateBatcher', () => {
  it('sends a lone state at once and queues the rest behind the batch in flight, per peer', async () => {
    const { batcher, sent } = harness()
    const rec = emptyRecord('mv')
    const a = batcher.replicate('n2', 'k1', rec, undefined, 100)
    await tick()
    expect(sent.map(s => s.keys)).toEqual([['k1']])
    const more = ['k2', 'k3', 'k4', 'k5'].map(k => batcher.replicate('n2', k, rec, undefined, 100))
    const other = batcher.replicate('n3', 'k9', rec, undefined, 100)
    const settled = Promise.allSettled([...more, other])
    await tick()
    // n3 has nothing in flight: its state goes at once; n2's wait for the first batch.
    expect(sent.map(s => [s.to, s.keys])).toEqual([['n2', ['k1']], ['n3', ['k9']]])
    ;(sent[0] as Sent).settle([{ n2: 1 }])
    expect(await a).toEqual({ n2: 1 })
    await tick()
    // At most itemsPerBatchMax states a batch.
    expect(sent.slice(2).map(s => s.keys)).toEqual([['k2', 'k3', 'k4']])
    ;(sent[2] as Sent).settle([{ n2: 2 }, new OverloadedError('too many hints'), { n2: 4 }])
    await tick()
    expect(sent.slice(3).map(s => s.keys)).toEqual([['k5']])
    ;(sent[3] as Sent).settle(new UnavailableError('connection lost'))
    ;(sent[1] as Sent).settle([{ n3: 1 }])
    const results = await settled
    expect(results.map(r => r.status === 'fulfilled' ? r.value : (r.reason as { code: string }).code)).toEqual([{ n2: 2 }, 'OVERLOADED', { n2: 4 }, 'UNAVAILABLE', { n3: 1 }])
  })

  it('bounds a batch by encoded bytes, sending a larger state alone', async () => {
    const { batcher, sent } = harness({ inflightBatchesMax: 1, itemsPerBatchMax: 100, bytesPerBatchMax: 40, queuedMax: 100 })
    const small = emptyRecord('mv')
    const first = batcher.replicate('n2', 'k0', small, undefined, 100)
    await tick()
    const calls = Array.from({ length: 6 }, (_, i) => batcher.replicate('n2', `k${i + 1}`, small, undefined, 100))
    ;(sent[0] as Sent).settle([{}])
    await first
    for (let round = 0; round < 6 && sent.flatMap(s => s.keys).length < 7; round++) {
      await tick()
      const last = sent[sent.length - 1] as Sent
      last.settle(last.keys.map(() => ({})))
    }
    await Promise.all(calls)
    const sizes = sent.slice(1).map(s => s.keys.length)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(6)
    expect(sizes.length).toBeGreaterThan(1)
  })

  it('sends states a caller waits for before background ones, and refuses past a full queue', async () => {
    const { batcher, sent } = harness({ inflightBatchesMax: 1, itemsPerBatchMax: 3, bytesPerBatchMax: 1 << 20, queuedMax: 4 })
    const rec = emptyRecord('mv')
    const first = batcher.replicate('n2', 'f0', rec, undefined, 100)
    await tick()
    const background = ['b1', 'b2', 'b3', 'b4'].map(k => batcher.replicate('n2', k, rec, undefined, 100, true))
    await expect(batcher.replicate('n2', 'b5', rec, undefined, 100, true)).rejects.toBeInstanceOf(OverloadedError)
    const foreground = ['f1', 'f2'].map(k => batcher.replicate('n2', k, rec, undefined, 100))
    const all = Promise.all([first, ...background, ...foreground])
    for (let round = 0; round < 4; round++) {
      const last = sent[sent.length - 1] as Sent
      last.settle(last.keys.map(() => ({})))
      await tick()
    }
    await all
    expect(sent.map(s => s.keys)).toEqual([['f0'], ['f1', 'f2', 'b1'], ['b2', 'b3', 'b4']])
  })
})
