import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/api/errors.js'
import type { SnapshotMessage, SnapshotMeta } from '../../src/raft/core/index.js'
import {
  SnapshotReceiver, SnapshotSender, parseSnapshotChunkRequest, raftSnapshotProtocol,
  type SnapshotSenderInit, type SnapshotSink, type SnapshotStream
} from '../../src/raft/snapshot.js'
import { seededRandom } from '../../src/runtime/random.js'
import { SimClock, SimNetwork, type LinkConfig, type SimTransport } from '../../src/transport/sim/index.js'

const meta: SnapshotMeta = { index: 10, term: 2, conf: { voters: ['L', 'F', 'X'], learners: [] } }
const chunkBytes = 1024

/** Staging in memory, with a log of what the receiver asked of it. */
class MemorySink implements SnapshotSink {
  parts: Uint8Array[] = []
  meta: SnapshotMeta | undefined
  completed = false
  readonly events: string[] = []

  async begin (m: SnapshotMeta): Promise<void> {
    this.meta = m
    this.parts = []
    this.completed = false
    this.events.push(`begin ${m.index}`)
  }

  async write (data: Uint8Array): Promise<void> {
    this.parts.push(data.slice())
  }

  async complete (): Promise<void> {
    this.completed = true
    this.events.push('complete')
  }

  async discard (): Promise<void> {
    this.parts = []
    this.meta = undefined
    this.completed = false
    this.events.push('discard')
  }

  bytes (): Buffer {
    return Buffer.concat(this.parts)
  }
}

function payload (n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n)
  const r = seededRandom(seed)
  for (let i = 0; i < n; i++) out[i] = Math.floor(r.next() * 256)
  return out
}

interface Source {
  open: () => Promise<SnapshotStream>
  pulled: number
  closed: boolean
  /** Chunks pulled before the previous one reached the sink: must stay empty. */
  aheadOfAcks: number[]
}

function source (bytes: Uint8Array, sink?: MemorySink, m: SnapshotMeta = meta): Source {
  const s: Source = {
    pulled: 0,
    closed: false,
    aheadOfAcks: [],
    open: async () => ({
      meta: m,
      chunks: (async function * () {
        for (let at = 0; at < bytes.byteLength; at += chunkBytes) {
          if (sink !== undefined && sink.parts.length < s.pulled) s.aheadOfAcks.push(s.pulled)
          s.pulled++
          yield bytes.slice(at, at + chunkBytes)
        }
      })(),
      close: async () => { s.closed = true }
    })
  }
  return s
}

interface World {
  clock: SimClock
  net: SimNetwork
  leaderT: SimTransport
  sink: MemorySink
  stepped: SnapshotMessage[]
  receiver: SnapshotReceiver
  sender: SnapshotSender
  follows: { id: string | null, term: number }
  /** Runs one transfer to F to its report. */
  send: (src: Source, term?: number, from?: SnapshotSender) => Promise<boolean>
}

function world (seed: number, options: { link?: Partial<LinkConfig>, sender?: Partial<SnapshotSenderInit>, snapshotBytesMax?: number } = {}): World {
  const clock = new SimClock()
  const net = new SimNetwork({ clock, random: seededRandom(seed), defaults: options.link ?? {} })
  const leaderT = net.addNode('L')
  const followerT = net.addNode('F')
  net.addNode('X')
  const sink = new MemorySink()
  const stepped: SnapshotMessage[] = []
  const w: Partial<World> = { clock, net, leaderT, sink, stepped, follows: { id: 'L', term: 3 } }
  const receiver = new SnapshotReceiver({
    transport: followerT,
    sink,
    leader: () => w.follows as { id: string | null, term: number },
    onSnapshot: m => { stepped.push(m) }
  }, { chunkBytesMax: chunkBytes, snapshotBytesMax: options.snapshotBytesMax ?? 1024 * 1024 })
  receiver.start()
  const sender = new SnapshotSender({ transport: leaderT, time: leaderT.time, random: seededRandom(seed + 1) }, {
    chunkBytesMax: chunkBytes, chunkTimeoutMs: 100, chunkRetryDelayMs: 5, chunkAttemptsMax: 5, ...options.sender
  })
  w.receiver = receiver
  w.sender = sender
  w.send = async (src, term = 3, from = sender) => await clock.run(async () => await new Promise<boolean>((resolve, reject) => {
    const r = from.start('F', term, src.open, resolve)
    if (r !== 'started') reject(new Error(`transfer not started: ${r}`))
  }), { maxTimeMs: 600_000 })
  return w as World
}

describe('snapshot transfer over the simulated network', () => {
  it('streams a snapshot through drops, duplicates and reordering; the core gets one done message', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const w = world(seed, {
        link: { dropProbability: 0.2, duplicateProbability: 0.2, delay: { kind: 'uniform', minMs: 1, maxMs: 20 }, reorderProbability: 0.3, reorderExtraMs: 40 },
        sender: { chunkAttemptsMax: 30 }
      })
      const bytes = payload(64 * 1024 + 100, seed)
      const src = source(bytes)
      expect(await w.send(src), `seed ${seed}`).toBe(true)
      expect(w.sink.bytes().equals(bytes), `seed ${seed}`).toBe(true)
      expect(w.sink.completed).toBe(true)
      // The faults happened: requests or replies were lost and resent, copies duplicated.
      const there = w.net.stats('L', 'F')
      const back = w.net.stats('F', 'L')
      expect(there.dropped + back.dropped).toBeGreaterThan(0)
      expect(there.sent).toBeGreaterThan(66)
      expect(there.duplicated).toBeGreaterThan(0)
      expect(w.stepped).toEqual([{ type: 'snap', from: 'L', to: 'F', term: 3, snapshot: meta, offset: 0, data: new Uint8Array(0), done: true }])
      expect(w.receiver.completed).toEqual(meta)
      expect(src.closed).toBe(true)
      // Late duplicates of chunks change nothing once the snapshot is staged.
      await w.clock.runFor(1_000)
      expect(w.stepped).toHaveLength(1)
      expect(w.sink.bytes().equals(bytes)).toBe(true)
    }
  })

  it('holds one chunk: the next is pulled only after the previous one was staged', async () => {
    const w = world(11)
    const src = source(payload(20 * chunkBytes), w.sink)
    expect(await w.send(src)).toBe(true)
    expect(src.pulled).toBe(20)
    expect(src.aheadOfAcks).toEqual([])
  })

  it('refuses a node that is not the leader, and a stale term, before anything is staged', async () => {
    const w = world(12)
    const stranger = new SnapshotSender({ transport: w.net.transport('X') as SimTransport, time: w.leaderT.time, random: seededRandom(3) }, { chunkBytesMax: chunkBytes })
    expect(await w.send(source(payload(3000)), 3, stranger)).toBe(false)
    w.follows = { id: 'L', term: 4 }
    expect(await w.send(source(payload(3000)), 3)).toBe(false)
    expect(w.sink.events).toEqual([])
    expect(w.stepped).toEqual([])
  })

  it('retries while the follower has not yet heard of the leader\'s term, and succeeds once it has', async () => {
    const w = world(13, { sender: { chunkAttemptsMax: 10 } })
    w.follows = { id: null, term: 2 }
    w.clock.setTimeout(() => { w.follows = { id: 'L', term: 3 } }, 30)
    expect(await w.send(source(payload(5000)))).toBe(true)
    expect(w.stepped).toHaveLength(1)
  })

  it('drops a transfer whose leader lost its term midway', async () => {
    const w = world(14, { link: { delay: { kind: 'fixed', ms: 5 } } })
    w.clock.setTimeout(() => { w.follows = { id: 'X', term: 4 } }, 52)
    expect(await w.send(source(payload(20 * chunkBytes)))).toBe(false)
    expect(w.sink.events).toEqual(['begin 10', 'discard'])
    expect(w.stepped).toEqual([])
  })

  it('refuses a stream that fails its checksum: nothing reaches the core and the staging is dropped', async () => {
    const w = world(15)
    const data = payload(1500)
    const chunk = (offset: number, part: Uint8Array, done: boolean): SnapshotMessage => ({ type: 'snap', from: 'L', to: 'F', term: 3, snapshot: meta, offset, data: part, done })
    const wrong = createHash('sha256').update(data.subarray(0, 1499)).digest()
    const err = await w.clock.run(async () => {
      await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't1', chunk: chunk(0, data.subarray(0, 1000), false), checksum: new Uint8Array(0) }, { timeoutMs: 100 })
      await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't1', chunk: chunk(1000, data.subarray(1000), false), checksum: new Uint8Array(0) }, { timeoutMs: 100 })
      return await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't1', chunk: chunk(1500, new Uint8Array(0), true), checksum: new Uint8Array(wrong) }, { timeoutMs: 100 }).catch((e: unknown) => e)
    }, { maxTimeMs: 1_000 })
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as Error).message).toMatch(/checksum/)
    expect(w.stepped).toEqual([])
    expect(w.sink.events).toEqual(['begin 10', 'discard'])
    expect(w.receiver.state).toBe('idle')
  })

  it('acknowledges a resent done chunk, also after the snapshot was released', async () => {
    const w = world(23)
    const data = payload(700)
    const chunk = (offset: number, part: Uint8Array, done: boolean): SnapshotMessage => ({ type: 'snap', from: 'L', to: 'F', term: 3, snapshot: meta, offset, data: part, done })
    const done = { transfer: 't1', chunk: chunk(700, new Uint8Array(0), true), checksum: new Uint8Array(createHash('sha256').update(data).digest()) }
    const replies = await w.clock.run(async () => {
      await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't1', chunk: chunk(0, data, false), checksum: new Uint8Array(0) }, { timeoutMs: 100 })
      const first = await w.leaderT.request('F', raftSnapshotProtocol, done, { timeoutMs: 100 })
      const again = await w.leaderT.request('F', raftSnapshotProtocol, done, { timeoutMs: 100 })
      await w.receiver.release()
      const afterRelease = await w.leaderT.request('F', raftSnapshotProtocol, done, { timeoutMs: 100 })
      return [first, again, afterRelease]
    }, { maxTimeMs: 1_000 })
    expect(replies).toEqual([{ next: 700, done: true }, { next: 700, done: true }, { next: 700, done: true }])
    expect(w.stepped).toHaveLength(1)
  })

  it('refuses a gap, and a chunk of a transfer it does not know', async () => {
    const w = world(16)
    const chunk = (offset: number): SnapshotMessage => ({ type: 'snap', from: 'L', to: 'F', term: 3, snapshot: meta, offset, data: new Uint8Array(10), done: false })
    const errors = await w.clock.run(async () => {
      const unknown = await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't1', chunk: chunk(10), checksum: new Uint8Array(0) }, { timeoutMs: 100 }).catch((e: unknown) => e)
      await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't2', chunk: chunk(0), checksum: new Uint8Array(0) }, { timeoutMs: 100 })
      const gap = await w.leaderT.request('F', raftSnapshotProtocol, { transfer: 't2', chunk: chunk(20), checksum: new Uint8Array(0) }, { timeoutMs: 100 }).catch((e: unknown) => e)
      return [unknown, gap]
    }, { maxTimeMs: 1_000 })
    expect(errors[0]).toBeInstanceOf(ProtocolError)
    expect(errors[1]).toBeInstanceOf(ProtocolError)
    expect(w.sink.events).toEqual(['begin 10', 'discard'])
  })

  it('refuses a snapshot larger than the follower accepts', async () => {
    const w = world(17, { snapshotBytesMax: 4096 })
    expect(await w.send(source(payload(8192)))).toBe(false)
    expect(w.sink.events).toEqual(['begin 10', 'discard'])
    expect(w.stepped).toEqual([])
  })

  it('reports failure and closes the view when aborted', async () => {
    const w = world(18, { link: { delay: { kind: 'fixed', ms: 5 } } })
    const src = source(payload(50 * chunkBytes))
    w.clock.setTimeout(() => { w.sender.abort('F') }, 40)
    expect(await w.send(src)).toBe(false)
    expect(src.closed).toBe(true)
    expect(src.pulled).toBeLessThan(50)
    expect(w.sender.isSending('F')).toBe(false)
  })

  it('gives up on an unreachable follower after the bounded retries, and pauses before trying it again', async () => {
    const w = world(19, { sender: { chunkAttemptsMax: 3, failureBackoffMs: 1_000 } })
    w.net.partition(['L'], ['F'])
    const started = w.clock.now()
    expect(await w.send(source(payload(5000)))).toBe(false)
    expect(w.clock.now() - started).toBeLessThan(1_000)
    expect(w.sender.start('F', 3, source(payload(10)).open, () => {})).toBe('refused')
    w.net.heal()
    await w.clock.runFor(1_000)
    expect(await w.send(source(payload(5000)))).toBe(true)
  })

  it('refuses a new transfer while a received snapshot waits for install, and accepts it after release', async () => {
    const w = world(20, { sender: { chunkAttemptsMax: 10, failureBackoffMs: 0 } })
    expect(await w.send(source(payload(3000)))).toBe(true)
    const newer = { ...meta, index: 20 }
    w.clock.setTimeout(() => { void w.receiver.release() }, 30)
    expect(await w.send(source(payload(4000, 9), undefined, newer))).toBe(true)
    expect(w.stepped.map(m => m.snapshot.index)).toEqual([10, 20])
    expect(w.sink.bytes().equals(Buffer.from(payload(4000, 9)))).toBe(true)
  })

  it('paces a transfer to bytesPerSecondMax', async () => {
    const w = world(21, { sender: { bytesPerSecondMax: 10_000 } })
    const started = w.clock.now()
    expect(await w.send(source(payload(20_000)))).toBe(true)
    expect(w.clock.now() - started).toBeGreaterThanOrEqual(2_000)
  })

  it('runs one transfer per follower, bounds transfers, and names the compaction floor', async () => {
    const w = world(22, { sender: { transfersMax: 1 } })
    const src = source(payload(5000))
    const reports: boolean[] = []
    expect(w.sender.compactionFloor()).toBeUndefined()
    expect(w.sender.start('F', 3, src.open, ok => { reports.push(ok) })).toBe('started')
    expect(w.sender.compactionFloor()).toBe(0) // opening: its index is not known yet
    expect(w.sender.start('F', 3, src.open, ok => { reports.push(ok) })).toBe('running')
    expect(w.sender.start('X', 3, src.open, ok => { reports.push(ok) })).toBe('refused')
    await w.clock.settle()
    expect(w.sender.compactionFloor()).toBe(10)
    await w.clock.runUntilCondition(() => reports.length > 0, { maxTimeMs: 10_000 })
    expect(reports).toEqual([true])
    expect(w.sender.compactionFloor()).toBeUndefined()
  })
})

describe('snapshot chunk validation', () => {
  const good = { transfer: 't', chunk: { type: 'snap', from: 'L', to: 'F', term: 3, snapshot: meta, offset: 0, data: new Uint8Array(1), done: false }, checksum: new Uint8Array(0) }

  it('accepts a well-formed chunk', () => {
    expect(parseSnapshotChunkRequest(good).chunk.offset).toBe(0)
  })

  it('refuses malformed chunks', () => {
    const bad: unknown[] = [
      null,
      { ...good, extra: 1 },
      { ...good, transfer: '' },
      { ...good, transfer: 'x'.repeat(65) },
      { ...good, chunk: { ...good.chunk, type: 'app' } },
      { ...good, chunk: { ...good.chunk, offset: -1 } },
      { ...good, chunk: { ...good.chunk, snapshot: { ...meta, term: 4 } } },
      { ...good, chunk: { ...good.chunk, snapshot: { ...meta, index: 0 } } },
      { ...good, checksum: new Uint8Array(32) },
      { ...good, chunk: { ...good.chunk, done: true } },
      { ...good, chunk: { ...good.chunk, extra: 1 } }
    ]
    for (const raw of bad) expect(() => parseSnapshotChunkRequest(raw), JSON.stringify(raw)).toThrow(ProtocolError)
  })
})
