import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNode, type Client, type QuorumKvNode } from '../../src/index.js'
import { silentLogger } from '../support/silent-logger.js'
import { tempDir } from '../support/tmp.js'

describe('bad input from a caller', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let node: QuorumKvNode
  let kv: Client
  let baseline: { version: string, etag: string }

  beforeAll(async () => {
    dir = await tempDir()
    node = await createNode({ schemaVersion: 1, dataDir: dir.path, limits: { valueBytesMax: 4096, keyBytesMax: 64, frameBytesMax: 80_000 }, raft: { snapshotChunkBytes: 4096 } }, { logger: silentLogger })
    kv = node.client()
    baseline = await kv.put('k/target', { original: true })
  })

  afterAll(async () => {
    await node.stop()
    await dir.cleanup()
  })

  class Point { constructor (public x: number) {} }
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic

  const badKeys: Array<[string, unknown, string]> = [
    ['an empty key', '', 'INVALID_ARGUMENT'],
    ['a key over keyBytesMax', 'k/' + 'x'.repeat(63), 'TOO_LARGE'],
    ['a key over keyBytesMax in UTF-8 bytes', 'k/' + 'é'.repeat(32), 'TOO_LARGE'],
    ['a key with a lone surrogate', 'k/\uD800', 'INVALID_ARGUMENT'],
    ['a key that starts with "/"', '/k', 'INVALID_ARGUMENT'],
    ['a number as key', 42, 'INVALID_ARGUMENT'],
    ['null as key', null, 'INVALID_ARGUMENT']
  ]
  for (const [what, key, code] of badKeys) {
    it(`refuses ${what} with ${code} on put, get and delete`, async () => {
      await expect(kv.put(key as string, 1)).rejects.toMatchObject({ code })
      await expect(kv.get(key as string)).rejects.toMatchObject({ code })
      await expect(kv.delete(key as string)).rejects.toMatchObject({ code })
    })
  }

  const badValues: Array<[string, unknown, string]> = [
    ['a value over valueBytesMax', 'x'.repeat(5000), 'TOO_LARGE'],
    ['undefined', undefined, 'INVALID_ARGUMENT'],
    ['a function', () => 1, 'INVALID_ARGUMENT'],
    ['a symbol', Symbol('s'), 'INVALID_ARGUMENT'],
    ['a nested function', { a: { b: () => 1 } }, 'INVALID_ARGUMENT'],
    ['a Map', new Map([[1, 2]]), 'INVALID_ARGUMENT'],
    ['a class instance', new Point(1), 'INVALID_ARGUMENT'],
    ['a bigint beyond 64 bits', 2n ** 70n, 'INVALID_ARGUMENT'],
    ['a cyclic object', cyclic, 'INVALID_ARGUMENT'],
    ['a string with a lone surrogate', 'x\uD800', 'INVALID_ARGUMENT'],
    ['a field name with a lone surrogate', { 'a\uDC00': 1 }, 'INVALID_ARGUMENT']
  ]
  for (const [what, value, code] of badValues) {
    it(`refuses ${what} with ${code} and leaves the key unchanged`, async () => {
      await expect(kv.put('k/target', value)).rejects.toMatchObject({ code })
      await expectUnchanged()
    })
  }

  const badWriteOptions: Array<[string, unknown]> = [
    ['an unknown consistency level', { consistency: 'linearizable' }],
    ['a negative timeoutMs', { timeoutMs: -1 }],
    ['a fractional timeoutMs', { timeoutMs: 1.5 }],
    ['a numeric ifMatch', { ifMatch: 5 }],
    ['an unknown option', { consistensy: 'strong' }],
    ['a signal that is not an AbortSignal', { signal: { aborted: false } }],
    ['a corrupt session token', { session: 'not a token!' }],
    ['a session token of the wrong shape', { session: Buffer.from('hello').toString('base64url') }],
    ['options that are not an object', 'strong'],
    ['w above 7', { w: 8 }]
  ]
  for (const [what, options] of badWriteOptions) {
    it(`refuses a write with ${what} (INVALID_ARGUMENT) and writes nothing`, async () => {
      await expect(kv.put('k/target', { changed: true }, options as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
      await expect(kv.delete('k/target', options as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
      await expectUnchanged()
    })
  }

  it('refuses bounded reads without maxStalenessMs and reads with bad options', async () => {
    await expect(kv.get('k/target', { consistency: 'bounded' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(kv.get('k/target', { r: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(kv.get('k/target', { ifMatch: 'x' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it('gives each error a message that says what to do', async () => {
    const err = await kv.put('', 1).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).name).toBe('InvalidArgumentError')
    expect((err as Error).message).toMatch(/key must not be empty/)
  })

  it('consumed no version for any refused call', async () => {
    const next = await kv.put('k/other', 1)
    expect(Number(next.version)).toBe(Number(baseline.version) + 1)
  })

  async function expectUnchanged (): Promise<void> {
    const e = await kv.get('k/target')
    expect(e).toMatchObject({ value: { original: true }, version: baseline.version, etag: baseline.etag })
  }
})
