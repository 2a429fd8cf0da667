import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decode, encode } from '../../../src/codec/msgpack.js'
import { randomInt, seededRandom } from '../../../src/runtime/random.js'
import type { Random } from '../../../src/runtime/random.js'
import { FrameDecoder, frameHeader } from '../../../src/transport/libp2p/framing.js'
import { protocolId } from '../../../src/transport/types.js'
import { PeerProcess } from './peer-process.js'

const seed = Number(process.env.QKV_FUZZ_SEED ?? Date.now() % 2 ** 31)
const casesTotal = 10_000
const frameBytesMax = 64 * 1024
const workersPerProtocol = 4
const caseTimeoutMs = 5_000
const heapGrowthBytesMax = 64 * 1024 * 1024

const protocols = [protocolId('strict'), protocolId('echo')]

/** A frame whose length prefix is right: the server can read it and the probe after it. */
interface Framed { kind: string, framed: true, bytes: Uint8Array }
/** Bytes whose framing may be broken: sent, then the write side is closed. */
interface Raw { kind: string, framed: false, bytes: Uint8Array }
type Case = Framed | Raw

function frame (body: Uint8Array): Uint8Array {
  return Buffer.concat([frameHeader(body.byteLength), body])
}

function randomBytes (random: Random, max: number): Uint8Array {
  const out = new Uint8Array(randomInt(random, max + 1))
  for (let i = 0; i < out.length; i++) out[i] = randomInt(random, 256)
  return out
}

function randomValue (random: Random, depth = 0): unknown {
  const pick = randomInt(random, depth > 3 ? 6 : 9)
  switch (pick) {
    case 0: return null
    case 1: return random.next() < 0.5
    case 2: return randomInt(random, 2 ** 32) - 2 ** 31
    case 3: return random.next() * 1e6
    case 4: return 'x'.repeat(randomInt(random, 40))
    case 5: return randomBytes(random, 32)
    case 6: return Array.from({ length: randomInt(random, 5) }, () => randomValue(random, depth + 1))
    case 7: return Object.fromEntries(Array.from({ length: randomInt(random, 5) }, (_, i) => [`k${i}`, randomValue(random, depth + 1)]))
    default: return [randomInt(random, 7) - 1, randomValue(random, depth + 1), randomValue(random, depth + 1)]
  }
}

function makeCase (random: Random, n: number): Case {
  const id = n + 1_000_000
  const valid = frame(encode([1, id, { n }]))
  switch (randomInt(random, 10)) {
    case 0: return { kind: 'random bytes', framed: false, bytes: randomBytes(random, 64) }
    case 1: return { kind: 'framed random bytes', framed: true, bytes: frame(randomBytes(random, 64)) }
    case 2: {
      const header = frameHeader(frameBytesMax + 1 + randomInt(random, 2 ** 32 - frameBytesMax - 2))
      return { kind: 'oversized length', framed: false, bytes: Buffer.concat([header, randomBytes(random, 32)]) }
    }
    case 3: return { kind: 'truncated', framed: false, bytes: valid.subarray(0, randomInt(random, valid.byteLength)) }
    case 4: return { kind: 'wrong types', framed: true, bytes: frame(encode(randomValue(random))) }
    case 5: return { kind: 'valid envelope, garbage body', framed: true, bytes: frame(encode([1, id, randomValue(random)])) }
    case 6: return { kind: 'one-way garbage body', framed: true, bytes: frame(encode([0, randomValue(random)])) }
    case 7: {
      const mutated = Uint8Array.from(valid)
      for (let i = 0, flips = 1 + randomInt(random, 3); i < flips; i++) mutated[randomInt(random, mutated.length)] = randomInt(random, 256)
      return { kind: 'mutated', framed: false, bytes: mutated }
    }
    case 8: {
      const bad: unknown[] = [[2, id, null], [3, id, 'X', 'y', null], [9, id, null], [1, -1, null], [1, 'id', null], [1, id], [4, 'x'], [0], [1, 2 ** 40, null], {}]
      return { kind: 'wrong envelope', framed: true, bytes: frame(encode(bad[randomInt(random, bad.length)])) }
    }
    default: return { kind: 'valid request', framed: true, bytes: valid }
  }
}

/** One stream to the target; its replies are decoded as they come. */
class FuzzStream {
  readonly stream: Stream
  readonly replies = new Map<number, unknown>()
  closed = false
  private readonly waiters = new Set<() => void>()

  constructor (stream: Stream) {
    this.stream = stream
    const decoder = new FrameDecoder(1 << 20)
    stream.addEventListener('message', (evt) => {
      decoder.push(evt.data, (body) => {
        const reply = decode(body) as [number, number, unknown]
        this.replies.set(reply[1], reply)
        return true
      })
      this.wake()
    })
    stream.addEventListener('close', () => { this.closed = true; this.wake() })
  }

  async until (check: () => boolean): Promise<boolean> {
    if (check()) return true
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(waiter); resolve(false) }, caseTimeoutMs)
      const waiter = (): void => {
        if (!check()) return
        clearTimeout(timer)
        this.waiters.delete(waiter)
        resolve(true)
      }
      this.waiters.add(waiter)
    })
  }

  private wake (): void {
    for (const w of [...this.waiters]) w()
  }
}

describe('fuzzing a live node', () => {
  let dir: string
  let target: PeerProcess
  let fuzzer: Libp2p

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qkv-fuzz-'))
    target = await PeerProcess.start({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], allow: '*', frameBytesMax, logLevel: 'warn' }, ['--expose-gc'])
    fuzzer = await createLibp2p({ privateKey: await generateKeyPair('Ed25519'), addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    await fuzzer.peerStore.merge(peerIdFromString(target.peerId), { multiaddrs: target.multiaddrs.map(a => multiaddr(a)) })
  })

  afterAll(async () => {
    await fuzzer?.stop()
    await target?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function open (protocol: string): Promise<FuzzStream> {
    for (let attempt = 0; ; attempt++) {
      try {
        return new FuzzStream(await fuzzer.dialProtocol(peerIdFromString(target.peerId), protocol, { signal: AbortSignal.timeout(caseTimeoutMs) }))
      } catch (err) {
        // The target caps streams per protocol; a reset one may still count for a moment.
        if (attempt >= 50) throw err
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
  }

  async function validRequestSucceeds (): Promise<boolean> {
    const s = await open(protocols[0]!)
    s.stream.send(frame(encode([1, 7, { n: 41 }])))
    const answered = await s.until(() => s.replies.has(7))
    await s.stream.close()
    return answered && JSON.stringify(s.replies.get(7)) === JSON.stringify([2, 7, 42])
  }

  it(`survives ${casesTotal} random and mutated frames, keeps answering, counts rejections, and keeps its heap bounded (seed ${seed})`, async () => {
    const random = seededRandom(seed)
    const cases = Array.from({ length: casesTotal }, (_, n) => makeCase(random, n))
    const kinds = new Map<string, number>()
    for (const c of cases) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1)

    type Stats = { heapUsed: number, rejected: Record<string, number> }
    // Warm up first so that lazily built state (code, pools) is not counted as growth.
    expect(await validRequestSucceeds()).toBe(true)
    const before = await target.ok('stats') as Stats

    let next = 0
    let sent = 0
    let stuck = 0
    const worker = async (protocol: string): Promise<void> => {
      let s: FuzzStream | undefined
      while (next < cases.length) {
        const c = cases[next++]!
        if (s === undefined || s.closed) s = await open(protocol)
        const current = s
        const probeId = next
        try {
          current.stream.send(c.bytes)
          if (c.framed) current.stream.send(frame(encode([1, probeId, { n: probeId }])))
          else await current.stream.close()
        } catch {
          s = undefined // the target reset the stream under us: the case still reached it or not; move on
          continue
        }
        sent++
        const settled = c.framed
          ? await current.until(() => current.closed || current.replies.has(probeId))
          : await current.until(() => current.closed)
        if (!settled) {
          stuck++
          current.stream.abort(new Error('fuzz case did not settle'))
        }
        if (!c.framed) s = undefined
      }
      if (s !== undefined && !s.closed) await s.stream.close().catch(() => {})
    }
    await Promise.all(protocols.flatMap(p => Array.from({ length: workersPerProtocol }, async () => { await worker(p) })))

    expect(target.child.exitCode, `seed ${seed}`).toBeNull()
    expect(await validRequestSucceeds(), `seed ${seed}`).toBe(true)
    const after = await target.ok('stats') as Stats
    const rejected = (s: Stats, reason: string): number => s.rejected[reason] ?? 0
    const totalRejected = Object.keys(after.rejected).reduce((sum, r) => sum + rejected(after, r) - rejected(before, r), 0)
    expect(sent, `seed ${seed}`).toBeGreaterThanOrEqual(casesTotal * 0.95)
    expect(stuck, `seed ${seed}: cases that neither closed nor answered`).toBe(0)
    expect(totalRejected, `seed ${seed}: ${JSON.stringify(after.rejected)}`).toBeGreaterThan(casesTotal * 0.5)
    for (const reason of ['oversized', 'undecodable', 'malformed', 'parse', 'truncated']) {
      expect(rejected(after, reason) - rejected(before, reason), `seed ${seed}: ${reason}`).toBeGreaterThan(0)
    }
    expect(after.heapUsed - before.heapUsed, `seed ${seed}: heap ${before.heapUsed} -> ${after.heapUsed}`).toBeLessThan(heapGrowthBytesMax)
  })
})
