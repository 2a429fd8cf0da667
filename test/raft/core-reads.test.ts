import { describe, expect, it } from 'vitest'
import { ConfigError, InvalidArgumentError, NotLeaderError, OverloadedError } from '../../src/api/errors.js'
import { seededRandom } from '../../src/runtime/random.js'
import { MemoryRaftStorage, RaftCore } from '../../src/raft/core/index.js'
import { Cluster, conf } from './harness.js'

describe('raft ReadIndex reads', () => {
  it('a leader answers a read only after a majority acknowledges a heartbeat sent after it', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x')
    c.filter = (m) => m.type !== 'hb-resp'
    c.core('a').readIndex('r1')
    c.stabilize()
    expect(c.node('a').readStates).toEqual([])
    expect(c.sent.some((m) => m.type === 'hb' && m.from === 'a')).toBe(true)
    c.heal()
    c.tick('a', 2)
    c.stabilize()
    expect(c.node('a').readStates).toEqual([{ requestId: 'r1', index: 2 }])
  })

  it('reads that arrive while a round is in flight share the next round', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.sent = []
    for (let i = 0; i < 20; i++) c.core('a').readIndex(`r${i}`)
    c.stabilize()
    expect(c.node('a').readStates).toHaveLength(20)
    const rounds = new Set(c.sent.filter((m) => m.type === 'hb').map((m) => m.type === 'hb' ? m.round : 0))
    expect(rounds.size).toBeLessThanOrEqual(2)
  })

  it('a new leader does not serve a read before it commits an entry of its term, so the read sees every earlier commit', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: false })
    c.campaign('a')
    // 'x' commits on a and b, but no follower learns the commit index: their acks come back, the
    // leader's next messages are lost.
    c.filter = (m) => !(m.from === 'a' && m.type !== 'app') && !(m.from === 'a' && m.type === 'app' && m.entries.length === 0)
    c.propose('a', 'x')
    expect(c.core('a').status().commit).toBe(2)
    expect(c.core('b').status().commit).toBe(1)
    // a is gone. b wins term 2 knowing only commit 1; its own entry is not acknowledged yet.
    c.filter = (m) => m.from !== 'a' && m.to !== 'a' && m.type !== 'app-resp'
    c.campaign('b')
    expect(c.core('b').status()).toMatchObject({ role: 'leader', commit: 1 })
    c.core('b').readIndex('early')
    c.stabilize()
    // A read point of 1 would miss 'x', which a client already saw acknowledged.
    expect(c.node('b').readStates).toEqual([])
    c.filter = (m) => m.from !== 'a' && m.to !== 'a'
    c.tick('b', 2)
    c.stabilize()
    expect(c.node('b').readStates).toHaveLength(1)
    expect(c.node('b').readStates[0]?.index).toBeGreaterThanOrEqual(3)
  })

  it('a follower forwards its read to the leader and gets the leader\'s confirmed index', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x')
    c.core('c').readIndex('f1')
    c.stabilize()
    expect(c.sent.some((m) => m.type === 'read' && m.from === 'c' && m.to === 'a')).toBe(true)
    expect(c.node('c').readStates).toEqual([{ requestId: 'f1', index: 2 }])
  })

  it('a learner\'s read is forwarded too', () => {
    const c = new Cluster(conf(['a', 'b', 'c'], ['l']))
    c.campaign('a')
    c.propose('a', 'x')
    c.core('l').readIndex('l1')
    c.stabilize()
    expect(c.node('l').readStates).toEqual([{ requestId: 'l1', index: 2 }])
  })

  it('a leader cut off from the majority never answers a read and drops it when it steps down', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { checkQuorum: true })
    c.campaign('a')
    c.isolate('a')
    c.core('a').readIndex('stale?')
    for (let i = 0; i < 30; i++) {
      c.tick('a')
      c.stabilize()
    }
    expect(c.node('a').readStates).toEqual([])
    expect(c.node('a').droppedReads).toEqual(['stale?'])
    expect(c.core('a').status().role).toBe('follower')
  })

  it('a forwarded read whose answer is lost is dropped after forwardedReadTicksMax', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { forwardedReadTicksMax: 5 })
    c.campaign('a')
    c.filter = (m) => m.type !== 'read-resp'
    c.core('b').readIndex('lost')
    c.stabilize()
    c.tick('b', 6)
    c.process('b')
    expect(c.node('b').droppedReads).toEqual(['lost'])
  })

  it('a request id is refused while a read with the same id is pending', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.filter = () => false
    c.core('a').readIndex('same')
    expect(() => c.core('a').readIndex('same')).toThrow(InvalidArgumentError)
  })

  it('a node with no known leader refuses a read with NotLeaderError', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    expect(() => c.core('a').readIndex('r')).toThrow(NotLeaderError)
  })

  it('too many pending reads give OverloadedError', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { readsPendingMax: 3 })
    c.campaign('a')
    c.filter = () => false
    for (let i = 0; i < 3; i++) c.core('a').readIndex(`r${i}`)
    expect(() => c.core('a').readIndex('r3')).toThrow(OverloadedError)
  })

  it('a single voter answers reads at once', () => {
    const c = new Cluster(conf(['a']))
    c.campaign('a')
    c.core('a').readIndex('solo')
    c.process('a')
    expect(c.node('a').readStates).toEqual([{ requestId: 'solo', index: 1 }])
  })
})

describe('raft lease reads', () => {
  const lease = { readMode: 'lease' as const, checkQuorum: true, leaseDriftTicks: 2, heartbeatTicks: 1 }

  it('a leader within its lease answers a read without a heartbeat round', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), lease)
    c.tickAll(10)
    c.campaign('a')
    c.tick('a')
    c.stabilize()
    c.sent = []
    c.core('a').readIndex('fast')
    c.process('a')
    expect(c.node('a').readStates).toEqual([{ requestId: 'fast', index: 1 }])
    expect(c.sent.filter((m) => m.type === 'hb')).toEqual([])
  })

  it('once the lease ran out (for example after a pause) a read needs a heartbeat round again', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), lease)
    c.tickAll(10)
    c.campaign('a')
    c.tick('a')
    c.stabilize()
    c.isolate('a')
    // The driver delivers the ticks it missed during a pause before anything else.
    c.tick('a', 9)
    c.stabilize()
    c.core('a').readIndex('after-pause')
    c.process('a')
    expect(c.node('a').readStates).toEqual([])
  })

  it('a leader transferring leadership serves no lease reads', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), lease)
    c.tickAll(10)
    c.campaign('a')
    c.tick('a')
    c.stabilize()
    c.filter = (m) => m.type !== 'timeout-now' && m.type !== 'hb-resp'
    c.core('a').transferLeadership('b')
    c.core('a').readIndex('during-transfer')
    c.stabilize()
    expect(c.node('a').readStates).toEqual([])
  })

  it('a restarted follower ignores votes for an election timeout, so leases granted before its crash hold', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), lease)
    c.tickAll(10)
    c.campaign('a')
    const b = c.restart('b')
    b.core.step({ type: 'vote', from: 'c', to: 'b', term: 5, index: 10, logTerm: 5, transfer: false })
    expect(b.core.status().term).toBe(1)
  })

  it('lease reads need check-quorum and a drift bound below the election timeout', () => {
    const storage = new MemoryRaftStorage(conf(['a']))
    expect(() => new RaftCore({ id: 'a', storage, random: seededRandom(1), readMode: 'lease', checkQuorum: false })).toThrow(ConfigError)
    expect(() => new RaftCore({ id: 'a', storage, random: seededRandom(1), readMode: 'lease', leaseDriftTicks: 10 })).toThrow(ConfigError)
  })
})
