import { describe, expect, it } from 'vitest'
import { inbox, makeNetwork, sendProbes, testProtocol } from './harness.js'

describe('SimNetwork link faults', () => {
  it('drops messages at the configured rate, within statistical tolerance', async () => {
    const { clock, net } = makeNetwork(11, { defaults: { dropProbability: 0.2 } })
    const a = net.addNode('a')
    const got = inbox(net.addNode('b'))
    await sendProbes(clock, a, 'b', 5000, 0)
    // 5000 Bernoulli(0.8) trials: sd ~ 28 messages; 0.03 is over five sigmas.
    expect(got.length / 5000).toBeGreaterThan(0.77)
    expect(got.length / 5000).toBeLessThan(0.83)
    const stats = net.stats('a', 'b')
    expect(stats).toMatchObject({ sent: 5000, delivered: got.length, dropped: 5000 - got.length })
    expect(net.dropReasons().loss).toBe(5000 - got.length)
  })

  it('delays every message within a uniform range and uses the whole range', async () => {
    const { clock, net } = makeNetwork(12, { defaults: { delay: { kind: 'uniform', minMs: 5, maxMs: 20 } } })
    const a = net.addNode('a')
    const got = inbox(net.addNode('b'))
    await sendProbes(clock, a, 'b', 2000, 0.5)
    const delays = got.map(r => r.atMs - r.message.sentAtMs)
    expect(got.length).toBe(2000)
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(5)
    expect(Math.max(...delays)).toBeLessThanOrEqual(20)
    expect(Math.min(...delays)).toBeLessThan(5.5)
    expect(Math.max(...delays)).toBeGreaterThan(19.5)
  })

  it('delivers after exactly the fixed delay', async () => {
    const { clock, net } = makeNetwork(13, { defaults: { delay: { kind: 'fixed', ms: 7 } } })
    const a = net.addNode('a')
    const got = inbox(net.addNode('b'))
    await sendProbes(clock, a, 'b', 50, 3)
    expect(got.every(r => r.atMs - r.message.sentAtMs === 7)).toBe(true)
  })

  it('a long-tail delay has its median near medianMs, rare slow messages, and never passes maxMs', async () => {
    const { clock, net } = makeNetwork(14, { defaults: { delay: { kind: 'long-tail', minMs: 1, medianMs: 4, maxMs: 500 } } })
    const a = net.addNode('a')
    const got = inbox(net.addNode('b'))
    await sendProbes(clock, a, 'b', 4000, 0)
    const delays = got.map(r => r.atMs - r.message.sentAtMs).sort((x, y) => x - y)
    const median = delays[delays.length >> 1] as number
    expect(median).toBeGreaterThan(3.5)
    expect(median).toBeLessThan(4.5)
    expect(delays[0]).toBeGreaterThanOrEqual(1)
    expect(delays[delays.length - 1]).toBeLessThanOrEqual(500)
    // Pareto with alpha 0.5: P(delay > 40) = (1/40)^0.5 ~ 16%; a uniform model would give none.
    expect(delays.filter(d => d > 40).length).toBeGreaterThan(400)
  })

  it('delivers duplicated messages twice, each copy a separate object', async () => {
    const { clock, net } = makeNetwork(15, { defaults: { duplicateProbability: 1 } })
    const a = net.addNode('a')
    const b = net.addNode('b')
    const copies: Array<{ n: number, tag?: string }> = []
    b.handle(testProtocol, {
      parse: (raw) => raw as { n: number, tag?: string },
      // The first copy is mutated; the second must not see it.
      onMessage: (_from, m) => { copies.push({ ...m }); m.tag = 'touched' }
    })
    const payload = { n: 1 }
    a.send('b', testProtocol, payload)
    await clock.runUntilIdle()
    expect(copies).toEqual([{ n: 1 }, { n: 1 }])
    expect(payload).toEqual({ n: 1 })
    expect(net.stats('a', 'b')).toMatchObject({ sent: 1, duplicated: 1, delivered: 2 })
  })

  it('independent delays reorder messages; a fifo link never does', async () => {
    const run = async (fifo: boolean): Promise<number[]> => {
      const { clock, net } = makeNetwork(16, { defaults: { delay: { kind: 'uniform', minMs: 1, maxMs: 30 }, fifo } })
      const a = net.addNode('a')
      const got = inbox(net.addNode('b'))
      await sendProbes(clock, a, 'b', 200, 1)
      return got.map(r => r.message.n)
    }
    const loose = await run(false)
    const fifo = await run(true)
    const inOrder = [...Array(200).keys()]
    expect(loose).not.toEqual(inOrder)
    expect([...loose].sort((x, y) => x - y)).toEqual(inOrder)
    expect(fifo).toEqual(inOrder)
  })

  it('the reorder knob holds some messages back on a fixed-delay link', async () => {
    const run = async (reorderProbability: number): Promise<number[]> => {
      const { clock, net } = makeNetwork(17, { defaults: { delay: { kind: 'fixed', ms: 2 }, reorderProbability, reorderExtraMs: 10 } })
      const a = net.addNode('a')
      const got = inbox(net.addNode('b'))
      await sendProbes(clock, a, 'b', 200, 1)
      return got.map(r => r.message.n)
    }
    const inOrder = [...Array(200).keys()]
    expect(await run(0)).toEqual(inOrder)
    expect(await run(0.3)).not.toEqual(inOrder)
  })

  it('setLink changes one direction only; unset links keep the defaults', async () => {
    const { clock, net } = makeNetwork(18)
    const a = net.addNode('a')
    const b = net.addNode('b')
    const atA = inbox(a)
    const atB = inbox(b)
    net.setLink('a', 'b', { dropProbability: 1 })
    await sendProbes(clock, a, 'b', 10, 0)
    await sendProbes(clock, b, 'a', 10, 0)
    expect(atB.length).toBe(0)
    expect(atA.length).toBe(10)
    net.setLink('a', 'b', undefined)
    await sendProbes(clock, a, 'b', 10, 0)
    expect(atB.length).toBe(10)
  })

  it('rejects invalid link settings with a clear error', () => {
    const { net } = makeNetwork(19)
    net.addNode('a')
    net.addNode('b')
    expect(() => { net.setLink('a', 'b', { dropProbability: 1.5 }) }).toThrow(/dropProbability/)
    expect(() => { net.setLink('a', 'b', { delay: { kind: 'uniform', minMs: 5, maxMs: 1 } }) }).toThrow(/maxMs/)
    expect(() => { net.setLink('a', 'nope', {}) }).toThrow(/unknown node nope/)
  })
})

describe('SimNetwork partitions', () => {
  it('a one-way partition blocks one direction only, and heal restores it', async () => {
    const { clock, net } = makeNetwork(21)
    const a = net.addNode('a')
    const b = net.addNode('b')
    const atA = inbox(a)
    const atB = inbox(b)
    net.partition(['a'], ['b'], { oneWay: true })
    await sendProbes(clock, a, 'b', 5, 0)
    await sendProbes(clock, b, 'a', 5, 0)
    expect(atB.length).toBe(0)
    expect(atA.length).toBe(5)
    expect(net.stats('a', 'b').dropped).toBe(5)
    net.heal()
    await sendProbes(clock, a, 'b', 5, 0)
    expect(atB.length).toBe(5)
  })

  it('a two-way partition blocks both directions and leaves other links alone', async () => {
    const { clock, net } = makeNetwork(22)
    const [a, b, c] = ['a', 'b', 'c'].map(id => net.addNode(id))
    const [atA, atB, atC] = [a, b, c].map(t => inbox(t!))
    net.partition(['a'], ['b', 'c'])
    await sendProbes(clock, a!, 'b', 3, 0)
    await sendProbes(clock, b!, 'a', 3, 0)
    await sendProbes(clock, c!, 'a', 3, 0)
    await sendProbes(clock, b!, 'c', 3, 0)
    expect([atA!.length, atB!.length, atC!.length]).toEqual([0, 0, 3])
    expect(net.dropReasons().partition).toBe(9)
    net.heal()
    await sendProbes(clock, b!, 'a', 3, 0)
    expect(atA!.length).toBe(3)
  })

  it('a message already in flight when a partition starts is lost', async () => {
    const { clock, net } = makeNetwork(23, { defaults: { delay: { kind: 'fixed', ms: 10 } } })
    const a = net.addNode('a')
    const atB = inbox(net.addNode('b'))
    a.send('b', testProtocol, { n: 1, sentAtMs: 0 })
    await clock.runFor(5)
    net.partition(['a'], ['b'])
    await clock.runUntilIdle()
    expect(atB.length).toBe(0)
  })

  it('isolate cuts a node off from everyone, including nodes added later', async () => {
    const { clock, net } = makeNetwork(24)
    const a = net.addNode('a')
    const atB = inbox(net.addNode('b'))
    net.isolate('a')
    const c = net.addNode('c')
    const atA = inbox(a)
    await sendProbes(clock, a, 'b', 2, 0)
    await sendProbes(clock, c, 'a', 2, 0)
    expect(atB.length + atA.length).toBe(0)
    net.heal()
    await sendProbes(clock, c, 'a', 2, 0)
    expect(atA.length).toBe(2)
  })
})

describe('SimNetwork process faults', () => {
  it('a crashed node receives nothing; its restarted process receives again', async () => {
    const { clock, net } = makeNetwork(31)
    const a = net.addNode('a')
    const b1 = net.addNode('b')
    const atB1 = inbox(b1)
    net.crash('b')
    expect(net.isUp('b')).toBe(false)
    await sendProbes(clock, a, 'b', 3, 0)
    expect(atB1.length).toBe(0)
    expect(net.dropReasons().down).toBe(3)
    expect(b1.send('a', testProtocol, { n: 0, sentAtMs: 0 })).toBe(false)
    const b2 = net.restart('b')
    expect(b2).not.toBe(b1)
    expect(b2.incarnation).toBe(2)
    expect(net.transport('b')).toBe(b2)
    const atB2 = inbox(b2)
    await sendProbes(clock, a, 'b', 3, 0)
    expect(atB2.length).toBe(3)
    expect(atB1.length).toBe(0)
  })

  it('messages a process sent before it crashed still arrive', async () => {
    const { clock, net } = makeNetwork(32, { defaults: { delay: { kind: 'fixed', ms: 10 } } })
    const a = net.addNode('a')
    const atB = inbox(net.addNode('b'))
    a.send('b', testProtocol, { n: 1, sentAtMs: 0 })
    net.crash('a')
    await clock.runUntilIdle()
    expect(atB.map(r => r.message.n)).toEqual([1])
  })

  it('a crash silences the process\'s timers; the new process has its own', async () => {
    const { clock, net } = makeNetwork(33)
    const a1 = net.addNode('a')
    const fired: string[] = []
    a1.time.setTimeout(() => { fired.push('old') }, 10)
    net.crash('a')
    a1.time.setTimeout(() => { fired.push('zombie') }, 10)
    const a2 = net.restart('a')
    a2.time.setTimeout(() => { fired.push('new') }, 10)
    await clock.runUntilIdle()
    expect(fired).toEqual(['new'])
  })

  it('a paused node receives held messages in order when the pause ends, and its timers wait too', async () => {
    const { clock, net } = makeNetwork(34, { defaults: { delay: { kind: 'fixed', ms: 1 } } })
    const a = net.addNode('a')
    const b = net.addNode('b')
    const atB = inbox(b)
    const timerAt: number[] = []
    b.time.setTimeout(() => { timerAt.push(clock.now()) }, 20)
    net.pause('b', 100)
    for (let n = 0; n < 5; n++) {
      a.send('b', testProtocol, { n, sentAtMs: clock.now() })
      await clock.runFor(10)
    }
    expect(atB.length).toBe(0)
    await clock.runUntilIdle()
    expect(atB.map(r => r.message.n)).toEqual([0, 1, 2, 3, 4])
    expect(atB.every(r => r.atMs === 100)).toBe(true)
    expect(timerAt).toEqual([100])
    expect(net.stats('a', 'b').held).toBe(5)
  })

  it('the send queue per link is bounded: send returns false when it is full', async () => {
    const { clock, net } = makeNetwork(35, { peerQueueMax: 3, defaults: { delay: { kind: 'fixed', ms: 5 } } })
    const a = net.addNode('a')
    const atB = inbox(net.addNode('b'))
    const accepted = [0, 1, 2, 3, 4].map(n => a.send('b', testProtocol, { n, sentAtMs: 0 }))
    expect(accepted).toEqual([true, true, true, false, false])
    expect(net.stats('a', 'b').queueFull).toBe(2)
    await clock.runUntilIdle()
    expect(a.send('b', testProtocol, { n: 5, sentAtMs: clock.now() })).toBe(true)
    await clock.runUntilIdle()
    expect(atB.map(r => r.message.n)).toEqual([0, 1, 2, 5])
  })

  it('clock skew offsets and scales a machine\'s time and timers, and survives a restart', async () => {
    const { clock, net } = makeNetwork(36)
    const a = net.addNode('a')
    await clock.runFor(100)
    net.setClockSkew('a', { offsetMs: 500, rate: 1.25 })
    expect(a.time.now()).toBe(600)
    await clock.runFor(10)
    expect(a.time.now()).toBe(612.5)
    const firedAt: number[] = []
    a.time.setTimeout(() => { firedAt.push(clock.now()) }, 100)
    await clock.runUntilIdle()
    expect(firedAt).toEqual([190])
    const a2 = net.restart('a')
    expect(a2.time.now() - clock.now()).toBeGreaterThan(500)
  })
})

describe('SimNetwork wire fidelity', () => {
  it('messages cross the real codec: a Map arrives as a plain object, bytes as bytes', async () => {
    const { clock, net } = makeNetwork(41)
    const a = net.addNode('a')
    const b = net.addNode('b')
    const got: unknown[] = []
    b.handle(testProtocol, { parse: (raw) => raw, onMessage: (_from, m) => { got.push(m) } })
    a.send('b', testProtocol, { map: new Map([['k', 1]]), bytes: new Uint8Array([1, 2]) })
    await clock.runUntilIdle()
    const m = got[0] as { map: unknown, bytes: Uint8Array }
    expect(m.map).toEqual({ k: 1 })
    expect(m.map).not.toBeInstanceOf(Map)
    expect([...m.bytes]).toEqual([1, 2])
  })

  it('refuses unencodable and oversized messages before the wire, as the real transport does', () => {
    const { net } = makeNetwork(42, { frameBytesMax: 64 })
    const a = net.addNode('a')
    net.addNode('b')
    expect(a.send('b', testProtocol, { big: 2n ** 70n })).toBe(false)
    expect(a.send('b', testProtocol, { text: 'x'.repeat(100) })).toBe(false)
    expect(net.dropReasons()).toMatchObject({ unencodable: 1, 'too-large': 1 })
    expect(net.stats('a', 'b').sent).toBe(0)
  })

  it('a message whose parse throws never reaches the handler and counts as rejected', async () => {
    const { clock, net } = makeNetwork(43)
    const a = net.addNode('a')
    const atB = inbox(net.addNode('b'))
    a.send('b', testProtocol, { not: 'a probe' })
    a.send('b', testProtocol, { n: 1, sentAtMs: 0 })
    await clock.runUntilIdle()
    expect(atB.map(r => r.message.n)).toEqual([1])
    expect(net.stats('a', 'b')).toMatchObject({ sent: 2, delivered: 1, rejected: 1 })
  })

  it('a message for a protocol the receiver does not handle is dropped', async () => {
    const { clock, net } = makeNetwork(44)
    const a = net.addNode('a')
    net.addNode('b')
    expect(a.send('b', '/quorumkv/other/1.0.0', {})).toBe(true)
    await clock.runUntilIdle()
    expect(net.dropReasons()['no-handler']).toBe(1)
  })

  it('a message to an unknown peer is accepted and lost', async () => {
    const { net } = makeNetwork(45)
    const a = net.addNode('a')
    expect(a.send('ghost', testProtocol, {})).toBe(true)
    expect(net.dropReasons()['unknown-peer']).toBe(1)
  })

  it('a message to itself is delivered asynchronously and never suffers link faults', async () => {
    const { clock, net } = makeNetwork(46, { defaults: { dropProbability: 1 } })
    const a = net.addNode('a')
    const atA = inbox(a)
    net.isolate('a')
    expect(a.send('a', testProtocol, { n: 1, sentAtMs: 0 })).toBe(true)
    expect(atA.length).toBe(0)
    await clock.runUntilIdle()
    expect(atA.map(r => r.message.n)).toEqual([1])
  })

  it('an onMessage handler that throws fails the run by default, or is recorded on request', async () => {
    for (const onMessageThrow of ['throw', 'record'] as const) {
      const { clock, net } = makeNetwork(47, { onMessageThrow })
      const a = net.addNode('a')
      net.addNode('b').handle(testProtocol, { parse: (raw) => raw, onMessage: () => { throw new Error('bug in handler') } })
      a.send('b', testProtocol, {})
      const outcome = await clock.runUntilIdle().then(() => 'ok', (e: unknown) => (e as Error).message)
      expect(outcome).toBe(onMessageThrow === 'throw' ? 'bug in handler' : 'ok')
      expect(net.handlerErrors().map(e => (e.error as Error).message)).toEqual(['bug in handler'])
      expect(net.stats('a', 'b').delivered).toBe(1)
    }
  })
})
