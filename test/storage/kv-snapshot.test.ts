import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ProtocolError, InternalError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { StorageEngine } from '../../src/storage/engine.js'
import { KvSnapshotParser, KvSnapshotWriter } from '../../src/storage/kv-snapshot-format.js'
import { KvSnapshotStaging, openKvSnapshot, recoverKvSnapshot, type KvSnapshotPoint } from '../../src/storage/kv-snapshot.js'
import { KvStateMachine, type KvCommand, type LogEntry } from '../../src/storage/kv-state-machine.js'
import { tempDir } from '../support/tmp.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

interface Dump {
  applied: number
  /** Raft records by key: value text and the index that wrote it. */
  data: Record<string, string>
  /** Everything else in `data` (quorum records), raw. */
  foreign: Record<string, string>
  sessions: Record<string, unknown>
}

async function dump (engine: StorageEngine): Promise<Dump> {
  const out: Dump = { applied: 0, data: {}, foreign: {}, sessions: {} }
  const applied = await engine.get('meta', 'applied')
  out.applied = applied === undefined ? 0 : Number(new DataView(applied.buffer, applied.byteOffset, 8).getBigUint64(0))
  for await (const [key, value] of engine.entries('data')) {
    const raw = decode(value) as { v?: Uint8Array, i?: number, q?: unknown }
    if (raw.q !== undefined) out.foreign[key] = Buffer.from(value).toString('hex')
    else out.data[key] = `${text(raw.v as Uint8Array)}@${String(raw.i)}`
  }
  for await (const [id, value] of engine.entries('sessions')) out.sessions[id] = decode(value)
  return out
}

async function stagedKeys (engine: StorageEngine): Promise<string[]> {
  const keys: string[] = []
  for await (const [key] of engine.entries('raft-state', { gte: 'kvsnap/', lt: 'kvsnap0' })) keys.push(key)
  return keys
}

/** A quorum collection's record: shares the `data` sublevel, never part of a raft snapshot. */
async function putForeign (engine: StorageEngine, key: string, tag: string): Promise<void> {
  await engine.write([{ type: 'put', sublevel: 'data', key, value: encode({ q: 1, s: tag }) }])
}

function put (key: string, value: string, client?: { id: string, seq: number }): KvCommand {
  return { op: 'put', key, value: bytes(value), ...(client !== undefined ? { client: { ...client, lo: client.seq } } : {}) }
}

async function applyAll (sm: KvStateMachine, commands: Array<KvCommand | null>): Promise<void> {
  const entries: LogEntry[] = commands.map((command, i) => ({ index: sm.appliedIndex + 1 + i, command }))
  await sm.apply(entries, { sync: true })
}

async function collect (chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of chunks) out.push(c)
  return out
}

/** Stages and installs `chunks` on `engine` as the driver does (the log's batch is simulated). */
async function install (engine: StorageEngine, point: KvSnapshotPoint, chunks: Uint8Array[], hooks: { afterBatch?: (n: number) => void } = {}, options: { batchOpsMax?: number } = {}): Promise<void> {
  const staging = new KvSnapshotStaging(engine, options)
  await staging.begin(point)
  for (const c of chunks) await staging.write(c)
  await staging.complete()
  await engine.write([...staging.commitOps(point), { type: 'put', sublevel: 'raft-state', key: 'snapshot', value: encode(point) }], { sync: true })
  await staging.finishInstall(hooks)
}

describe('key-value snapshots', () => {
  let dirs: Array<Awaited<ReturnType<typeof tempDir>>>
  let engines: StorageEngine[]

  const engine = async (): Promise<StorageEngine> => {
    const dir = await tempDir()
    dirs.push(dir)
    const e = await StorageEngine.open(dir.path)
    engines.push(e)
    return e
  }

  const reopen = async (old: StorageEngine): Promise<StorageEngine> => {
    await old.close()
    const e = await StorageEngine.open(old.dataDir)
    engines.push(e)
    return e
  }

  beforeEach(() => {
    dirs = []
    engines = []
  })

  afterEach(async () => {
    for (const e of engines) await e.close()
    for (const d of dirs) await d.cleanup()
  })

  /** A leader-side state machine at index 8 with data, a delete, two client sessions and a quorum record. */
  async function leaderState (): Promise<{ engine: StorageEngine, sm: KvStateMachine }> {
    const e = await engine()
    const sm = await KvStateMachine.open(e, { clientSessionsMax: 10 })
    await putForeign(e, 'q/leader-only', 'leader')
    await applyAll(sm, [null, put('a', 'one', { id: 'c1', seq: 1 }), put('b', 'two'), put('c', 'three', { id: 'c2', seq: 5 })])
    await applyAll(sm, [put('a', 'uno', { id: 'c1', seq: 2 }), { op: 'delete', key: 'b' }, put('d/long', 'x'.repeat(1000)), put('e', 'five')])
    return { engine: e, sm }
  }

  /** A follower with older, different raft state and a quorum record of its own. */
  async function followerState (): Promise<StorageEngine> {
    const e = await engine()
    const sm = await KvStateMachine.open(e, { clientSessionsMax: 10 })
    await putForeign(e, 'q/follower-only', 'follower')
    await applyAll(sm, [put('a', 'stale', { id: 'c9', seq: 1 }), put('zz', 'gone'), put('b', 'old')])
    return e
  }

  it('a snapshot taken at the applied index installs on another node with equal data, sessions and applied index', async () => {
    const leader = await leaderState()
    const before = await dump(leader.engine)
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 64 })
    expect(source.index).toBe(8)
    const point = { index: 8, term: 3 }
    const chunks = await collect(source.chunks(point))

    const follower = await followerState()
    const foreignBefore = (await dump(follower)).foreign
    await install(follower, point, chunks)

    const after = await dump(follower)
    expect(after.applied).toBe(8)
    expect(after.data).toEqual(before.data)
    expect(after.sessions).toEqual(before.sessions)
    // Quorum records are neither sent nor touched.
    expect(after.foreign).toEqual(foreignBefore)
    expect(await stagedKeys(follower)).toEqual([])

    // The installed deduplication table answers a retry with its first outcome.
    const sm = await KvStateMachine.open(follower, { clientSessionsMax: 10 })
    const [retry] = await sm.apply([{ index: 9, command: put('a', 'uno', { id: 'c1', seq: 2 }) }], { sync: true })
    expect(retry).toEqual({ ok: true, index: 5 })
    expect(text((await sm.read('a'))?.value as Uint8Array)).toBe('uno')
  })

  it('cuts the stream into chunks of exactly snapshotChunkBytes but the last, a large value spanning several', async () => {
    const leader = await leaderState()
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 100 })
    const chunks = await collect(source.chunks({ index: 8, term: 1 }))
    expect(chunks.length).toBeGreaterThan(10) // the 1000-byte value alone needs 10
    for (const c of chunks.slice(0, -1)) expect(c.byteLength).toBe(100)
    expect((chunks.at(-1) as Uint8Array).byteLength).toBeGreaterThan(0)
    expect((chunks.at(-1) as Uint8Array).byteLength).toBeLessThanOrEqual(100)
  })

  it('a view opened before later writes does not contain them', async () => {
    const leader = await leaderState()
    const atOpen = await dump(leader.engine)
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 256 })
    await applyAll(leader.sm, [put('a', 'later', { id: 'c3', seq: 1 }), { op: 'delete', key: 'c' }, put('new', 'later')])
    const chunks = await collect(source.chunks({ index: 8, term: 2 }))

    const follower = await engine()
    await install(follower, { index: 8, term: 2 }, chunks)
    const installed = await dump(follower)
    expect(installed.data).toEqual(atOpen.data)
    expect(installed.sessions).toEqual(atOpen.sessions)
    expect(installed.applied).toBe(8)
  })

  it('a view opened while an apply is in flight matches the applied index it reports', async () => {
    const leader = await leaderState()
    const states = new Map<number, Dump>([[8, await dump(leader.engine)]])
    for (let round = 0; round < 6; round++) {
      const batch = Array.from({ length: 200 }, (_, i) => put(`k${i % 50}`, `r${round}-${i}`, { id: `c${i % 7}`, seq: round * 1000 + i }))
      const applying = applyAll(leader.sm, batch)
      const source = await openKvSnapshot(leader.engine, { chunkBytes: 4096 })
      await applying
      states.set(leader.sm.appliedIndex, await dump(leader.engine))
      const chunks = await collect(source.chunks({ index: source.index, term: 1 }))
      const follower = await engine()
      await install(follower, { index: source.index, term: 1 }, chunks)
      const installed = await dump(follower)
      const expected = states.get(source.index) as Dump
      expect(expected).toBeDefined()
      expect(installed.data).toEqual(expected.data)
      expect(installed.sessions).toEqual(expected.sessions)
    }
  })

  it('a crash in the middle of an install is finished on reopen, from the committed staging', async () => {
    const leader = await leaderState()
    const expected = await dump(leader.engine)
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 64 })
    const point = { index: 8, term: 4 }
    const chunks = await collect(source.chunks(point))

    let follower = await followerState()
    const foreign = (await dump(follower)).foreign
    const crash = new Error('simulated crash')
    await expect(install(follower, point, chunks, { afterBatch: n => { if (n === 3) throw crash } }, { batchOpsMax: 2 })).rejects.toBe(crash)
    follower = await reopen(follower)
    const half = await dump(follower)
    expect(half.applied).toBe(3) // still the old index: nothing claims the install is complete
    expect(half.data).not.toEqual(expected.data)

    expect(await recoverKvSnapshot(follower)).toEqual({ action: 'finished', point })
    const recovered = await dump(follower)
    expect(recovered.applied).toBe(8)
    expect(recovered.data).toEqual(expected.data)
    expect(recovered.sessions).toEqual(expected.sessions)
    expect(recovered.foreign).toEqual(foreign)
    expect(await stagedKeys(follower)).toEqual([])
    expect(await recoverKvSnapshot(follower)).toEqual({ action: 'none' })
  })

  it('a crash before the install is committed leaves the previous state, and the staging is dropped on reopen', async () => {
    const leader = await leaderState()
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 64 })
    const point = { index: 8, term: 4 }
    const chunks = await collect(source.chunks(point))

    for (const stage of ['receiving', 'complete'] as const) {
      let follower = await followerState()
      const previous = await dump(follower)
      const staging = new KvSnapshotStaging(follower)
      await staging.begin(point)
      for (const c of stage === 'receiving' ? chunks.slice(0, 5) : chunks) await staging.write(c)
      if (stage === 'complete') await staging.complete()
      follower = await reopen(follower)
      expect(await dump(follower)).toEqual(previous)
      expect(await recoverKvSnapshot(follower)).toEqual({ action: 'discarded' })
      expect(await dump(follower)).toEqual(previous)
      expect(await stagedKeys(follower)).toEqual([])
    }
  })

  it('a corrupted, truncated, extended or mislabelled stream is refused and the state machine is untouched', async () => {
    const leader = await leaderState()
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 64 })
    const point = { index: 8, term: 4 }
    const chunks = await collect(source.chunks(point))
    const follower = await followerState()
    const previous = await dump(follower)

    const flipped = chunks.map(c => c.slice())
    const victim = flipped[6] as Uint8Array
    victim[20] = (victim[20] as number) ^ 0x01
    const cases: Array<{ name: string, point: KvSnapshotPoint, chunks: Uint8Array[] }> = [
      { name: 'flipped bit', point, chunks: flipped },
      { name: 'truncated', point, chunks: chunks.slice(0, -1) },
      { name: 'missing middle chunk', point, chunks: [...chunks.slice(0, 4), ...chunks.slice(5)] },
      { name: 'trailing bytes', point, chunks: [...chunks, bytes('extra')] },
      { name: 'another point', point: { index: 9, term: 4 }, chunks },
      { name: 'empty', point, chunks: [] }
    ]
    for (const c of cases) {
      const staging = new KvSnapshotStaging(follower)
      await staging.begin(c.point)
      const outcome = await (async () => {
        for (const chunk of c.chunks) await staging.write(chunk)
        await staging.complete()
      })().then(() => 'accepted', (err: unknown) => err)
      expect(outcome, c.name).toBeInstanceOf(ProtocolError)
      expect(() => staging.commitOps(c.point), c.name).toThrow(InternalError)
      await staging.discard()
      expect(await dump(follower), c.name).toEqual(previous)
      expect(await stagedKeys(follower), c.name).toEqual([])
    }
  })

  it('commits only the snapshot that is completely staged', async () => {
    const leader = await leaderState()
    const source = await openKvSnapshot(leader.engine, { chunkBytes: 512 })
    const chunks = await collect(source.chunks({ index: 8, term: 4 }))
    const follower = await engine()
    const staging = new KvSnapshotStaging(follower)
    await staging.begin({ index: 8, term: 4 })
    for (const c of chunks) await staging.write(c)
    expect(() => staging.commitOps({ index: 8, term: 4 })).toThrow(InternalError)
    await staging.complete()
    expect(() => staging.commitOps({ index: 8, term: 5 })).toThrow(InternalError)
    expect(staging.commitOps({ index: 8, term: 4 })).toHaveLength(1)
  })

  it('refuses to open a view of a state machine that applied nothing', async () => {
    const e = await engine()
    await expect(openKvSnapshot(e, { chunkBytes: 64 })).rejects.toThrow(/applied nothing/)
  })
})

describe('the key-value snapshot stream format', () => {
  const point = { index: 5, term: 2 }
  const record = (n: number): { kind: 'data', key: string, value: Uint8Array } => ({ kind: 'data', key: `k${n}`, value: encode({ v: bytes(`v${n}`), i: n + 1 }) })

  function stream (chunkBytes: number, count: number): Uint8Array[] {
    const w = new KvSnapshotWriter(point, chunkBytes)
    const out: Uint8Array[] = []
    for (let i = 0; i < count; i++) out.push(...w.add(record(i)))
    out.push(...w.finish())
    return out
  }

  it('parses back every record whatever the chunk size', () => {
    for (const chunkBytes of [1, 3, 17, 64, 10_000]) {
      const parser = new KvSnapshotParser(point)
      const keys: string[] = []
      for (const c of stream(chunkBytes, 20)) for (const r of parser.push(c)) keys.push(r.key)
      expect(parser.end()).toEqual({ records: 20 })
      expect(keys).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`))
    }
  })

  it('refuses a frame longer than its limit before buffering it', () => {
    const parser = new KvSnapshotParser(point, { frameBytesMax: 1024 })
    const prefix = new Uint8Array(4)
    new DataView(prefix.buffer).setUint32(0, 1025)
    expect(() => parser.push(prefix)).toThrow(/a frame of 1025 bytes/)
  })

  it('refuses a data record that is not a raft record', () => {
    const w = new KvSnapshotWriter(point, 4096)
    const chunks = [...w.add({ kind: 'data', key: 'q', value: encode({ q: 1, v: bytes('x'), i: 3 }) }), ...w.finish()]
    const parser = new KvSnapshotParser(point)
    expect(() => { for (const c of chunks) parser.push(c) }).toThrow(/not a valid raft record/)
  })
})
