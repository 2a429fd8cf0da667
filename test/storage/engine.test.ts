import { describe, expect, it } from 'vitest'
import { StorageEngine, type BatchOp } from '../../src/storage/engine.js'
import { inTempDir } from '../support/tmp.js'

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8')
const text = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : Buffer.from(b).toString('utf8')

describe('StorageEngine group commit', () => {
  it('applies concurrent writes in call order, each one whole', async () => {
    await inTempDir(async (path) => {
      const engine = await StorageEngine.open(path)
      const writes: Array<Promise<void>> = []
      // Many writers at once: most of them queue behind the batch in flight and are merged.
      for (let i = 0; i < 300; i++) {
        const ops: BatchOp[] = [
          { type: 'put', sublevel: 'data', key: 'same', value: bytes(`v${i}`) },
          { type: 'put', sublevel: 'meta', key: `pair/${i}`, value: bytes(`v${i}`) },
          { type: 'put', sublevel: 'data', key: `k${i}`, value: bytes(`v${i}`) }
        ]
        if (i % 3 === 2) ops.push({ type: 'del', sublevel: 'data', key: `k${i - 1}` })
        writes.push(engine.write(ops, { sync: i % 2 === 0 }))
      }
      await Promise.all(writes)
      expect(text(await engine.get('data', 'same'))).toBe('v299')
      for (let i = 0; i < 300; i++) {
        expect(text(await engine.get('meta', `pair/${i}`))).toBe(`v${i}`)
        // Deleted by the write after it, which was called later, so it is applied later.
        expect(text(await engine.get('data', `k${i}`))).toBe(i % 3 === 1 ? undefined : `v${i}`)
      }
      await engine.close()
    })
  })

  it('writes everything called before close, and it is there after reopening', async () => {
    await inTempDir(async (path) => {
      const engine = await StorageEngine.open(path)
      const writes = Array.from({ length: 50 }, (_, i) => engine.write([{ type: 'put', sublevel: 'data', key: `k${i}`, value: bytes(`v${i}`) }]))
      await engine.close()
      await Promise.all(writes)
      await expect(engine.write([{ type: 'put', sublevel: 'data', key: 'late', value: bytes('x') }])).rejects.toMatchObject({ code: 'CLOSED' })
      const again = await StorageEngine.open(path)
      const values = await again.getMany('data', Array.from({ length: 50 }, (_, i) => `k${i}`))
      expect(values.map(text)).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`))
      await again.close()
    })
  })

  it('keeps each sublevel\'s keys to itself, and refuses a malformed operation without writing any of its batch', async () => {
    await inTempDir(async (path) => {
      const engine = await StorageEngine.open(path)
      await engine.write([
        { type: 'put', sublevel: 'data', key: 'k', value: bytes('data') },
        { type: 'put', sublevel: 'meta', key: 'k', value: bytes('meta') },
        { type: 'put', sublevel: 'hints', key: 'a\u0000k', value: bytes('hint') }
      ])
      expect(text(await engine.get('data', 'k'))).toBe('data')
      expect(text(await engine.get('meta', 'k'))).toBe('meta')
      const hints: string[] = []
      for await (const [k, v] of engine.entries('hints')) hints.push(`${k}=${text(v) ?? ''}`)
      expect(hints).toEqual(['a\u0000k=hint'])
      const data: string[] = []
      for await (const [k] of engine.entries('data')) data.push(k)
      expect(data).toEqual(['k'])
      const bad = [
        [{ type: 'put', sublevel: 'data', key: 'x', value: bytes('x') }, { type: 'put', sublevel: 'nope', key: 'y', value: bytes('y') }],
        [{ type: 'put', sublevel: 'data', key: 'x', value: bytes('x') }, { type: 'put', sublevel: 'data', key: 'y' }],
        [{ type: 'put', sublevel: 'data', key: 'x', value: bytes('x') }, { type: 'nope', sublevel: 'data', key: 'y' }]
      ] as unknown as BatchOp[][]
      for (const ops of bad) await expect(engine.write(ops)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
      expect(await engine.get('data', 'x')).toBeUndefined()
      await engine.close()
    })
  })

  it('fails every write queued behind a failed batch, and every write after it (fail-stop)', async () => {
    await inTempDir(async (path) => {
      const engine = await StorageEngine.open(path)
      // The disk fails (the simulated part): LevelDB's batch rejects.
      const native = engine as unknown as { nativeBatch: (...args: unknown[]) => Promise<void> }
      native.nativeBatch = async () => { throw new Error('EIO: the disk went away') }
      const writes = Array.from({ length: 20 }, (_, i) => engine.write([{ type: 'put', sublevel: 'data', key: `k${i}`, value: bytes('v') }]))
      const results = await Promise.allSettled(writes)
      expect(results.map(r => r.status === 'rejected' ? (r.reason as { code: string }).code : 'written')).toEqual(Array.from({ length: 20 }, () => 'STORAGE'))
      await expect(engine.write([{ type: 'put', sublevel: 'data', key: 'later', value: bytes('v') }])).rejects.toMatchObject({ code: 'STORAGE' })
      expect(engine.failed?.code).toBe('STORAGE')
      await engine.close()
    })
  })
})
