import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StorageEngine } from '../../src/storage/engine.js'
import { KvStateMachine, parseKvCommand, type KvCommand } from '../../src/storage/kv-state-machine.js'
import { etagOfIndex } from '../../src/storage/records.js'
import { tempDir } from '../support/tmp.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('the raft-collection state machine', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let engine: StorageEngine

  beforeEach(async () => {
    dir = await tempDir()
    engine = await StorageEngine.open(dir.path)
  })

  afterEach(async () => {
    await engine.close()
    await dir.cleanup()
  })

  const put = (key: string, value: string, extra: Partial<KvCommand> = {}): KvCommand => ({ op: 'put', key, value: bytes(value), ...extra }) as KvCommand

  it('applies a retried request once and answers it with its first outcome', async () => {
    const sm = await KvStateMachine.open(engine, { clientSessionsMax: 10 })
    const client = { id: 'c1', seq: 7, lo: 7 }
    const [first] = await sm.apply([{ index: 1, command: put('a', 'one', { client }) }], { sync: true })
    await sm.apply([{ index: 2, command: put('a', 'two') }], { sync: true })
    const [retry] = await sm.apply([{ index: 3, command: put('a', 'one', { client }) }], { sync: true })
    expect(retry).toEqual(first)
    expect(new TextDecoder().decode((await sm.read('a'))?.value)).toBe('two')
  })

  it('remembers deduplication across a restart', async () => {
    const sm = await KvStateMachine.open(engine, { clientSessionsMax: 10 })
    const client = { id: 'c1', seq: 1, lo: 1 }
    await sm.apply([{ index: 1, command: put('a', 'one', { client }) }], { sync: true })
    await sm.apply([{ index: 2, command: put('a', 'two') }], { sync: true })
    await engine.close()
    engine = await StorageEngine.open(dir.path)
    const reopened = await KvStateMachine.open(engine, { clientSessionsMax: 10 })
    expect(reopened.appliedIndex).toBe(2)
    const [retry] = await reopened.apply([{ index: 3, command: put('a', 'one', { client }) }], { sync: true })
    expect(retry).toEqual({ ok: true, index: 1 })
    expect(new TextDecoder().decode((await reopened.read('a'))?.value)).toBe('two')
  })

  it('skips entries at or below the applied index, so replaying a log is safe', async () => {
    const sm = await KvStateMachine.open(engine, { clientSessionsMax: 10 })
    await sm.apply([{ index: 1, command: put('a', 'one') }, { index: 2, command: put('a', 'two') }], { sync: true })
    await sm.apply([{ index: 1, command: put('a', 'one') }, { index: 2, command: put('a', 'two') }, { index: 3, command: put('b', 'x') }], { sync: true })
    expect(sm.appliedIndex).toBe(3)
    expect((await sm.read('a'))?.index).toBe(2)
  })

  it('refuses a gap in the log', async () => {
    const sm = await KvStateMachine.open(engine, { clientSessionsMax: 10 })
    await expect(sm.apply([{ index: 2, command: put('a', 'x') }], { sync: true })).rejects.toMatchObject({ code: 'INTERNAL' })
  })

  it('checks ifMatch against writes earlier in the same batch', async () => {
    const sm = await KvStateMachine.open(engine, { clientSessionsMax: 10 })
    const outcomes = await sm.apply([
      { index: 1, command: put('a', 'one') },
      { index: 2, command: put('a', 'two', { ifMatch: etagOfIndex(1) }) },
      { index: 3, command: put('a', 'three', { ifMatch: etagOfIndex(1) }) },
      { index: 4, command: { op: 'delete', key: 'a', ifMatch: etagOfIndex(2) } }
    ], { sync: true })
    expect(outcomes.map(o => o.ok)).toEqual([true, true, false, true])
    expect(await sm.read('a')).toBeUndefined()
  })

  it('evicts the least recently used client session, the same way after a restart', async () => {
    const sm = await KvStateMachine.open(engine, { clientSessionsMax: 2 })
    let index = 0
    const touch = async (m: KvStateMachine, id: string, seq: number): Promise<void> => {
      await m.apply([{ index: ++index, command: put('k', id, { client: { id, seq, lo: seq } }) }], { sync: true })
    }
    await touch(sm, 'a', 1)
    await touch(sm, 'b', 1)
    await touch(sm, 'a', 2) // a is now more recent than b
    await engine.close()
    engine = await StorageEngine.open(dir.path)
    const reopened = await KvStateMachine.open(engine, { clientSessionsMax: 2 })
    await touch(reopened, 'c', 1) // evicts b, not a
    const [retryA] = await reopened.apply([{ index: ++index, command: put('k', 'zzz', { client: { id: 'a', seq: 2, lo: 2 } }) }], { sync: true })
    expect(retryA).toEqual({ ok: true, index: 3 })
    const [retryB] = await reopened.apply([{ index: ++index, command: put('k', 'b-again', { client: { id: 'b', seq: 1, lo: 1 } }) }], { sync: true })
    expect(retryB).toEqual({ ok: true, index })
  })

  it('validates commands decoded from outside', () => {
    expect(() => parseKvCommand(null)).toThrow(/must be an object/)
    expect(() => parseKvCommand({ op: 'put', key: 'a', value: 'not bytes' })).toThrow(/bytes/)
    expect(() => parseKvCommand({ op: 'drop', key: 'a' })).toThrow(/unknown command op/)
    expect(() => parseKvCommand({ op: 'delete', key: 'a', client: { id: 'x', seq: -1, lo: 0 } })).toThrow(/client stamp/)
    expect(parseKvCommand({ op: 'delete', key: 'a', ifMatch: 'r1' })).toEqual({ op: 'delete', key: 'a', ifMatch: 'r1' })
  })
})
