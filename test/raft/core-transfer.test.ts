import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, NotLeaderError } from '../../src/api/errors.js'
import { Cluster, conf, text } from './harness.js'

describe('raft leadership transfer', () => {
  it('a caught-up transferee gets TimeoutNow and becomes leader in the next term', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x')
    c.core('a').transferLeadership('b')
    c.stabilize()
    expect(c.sent.some((m) => m.type === 'timeout-now' && m.to === 'b')).toBe(true)
    expect(c.leader()).toBe('b')
    expect(c.core('b').status().term).toBe(2)
    expect(c.core('a').status().role).toBe('follower')
    c.propose('b', 'y')
    expect(c.appliedData('a')).toEqual(['x', 'y'])
  })

  it('a lagging transferee is caught up first, then told to campaign', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.filter = (m) => m.to !== 'c'
    c.propose('a', 'x', 'y')
    c.heal()
    c.core('a').transferLeadership('c')
    c.stabilize()
    expect(c.leader()).toBe('c')
    expect(c.appliedData('c')).toEqual(['x', 'y'])
  })

  it('proposals during a transfer are refused with NotLeaderError naming the transferee', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.filter = (m) => m.type !== 'timeout-now'
    c.core('a').transferLeadership('b')
    c.stabilize()
    let error: unknown
    try { c.core('a').propose([text('x')]) } catch (err) { error = err }
    expect(error).toBeInstanceOf(NotLeaderError)
    expect((error as NotLeaderError).details.leader).toBe('b')
  })

  it('a transfer that does not complete within an election timeout is abandoned', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.filter = (m) => m.type !== 'timeout-now'
    c.core('a').transferLeadership('b')
    c.stabilize()
    for (let i = 0; i < 10; i++) {
      c.tick('a')
      c.stabilize()
    }
    expect(c.core('a').status()).toMatchObject({ role: 'leader', leadTransferee: null })
    expect(() => c.core('a').propose([text('x')])).not.toThrow()
  })

  it('only a leader transfers, and only to a voter', () => {
    const c = new Cluster(conf(['a', 'b', 'c'], ['l']))
    c.campaign('a')
    expect(() => c.core('b').transferLeadership('c')).toThrow(NotLeaderError)
    expect(() => c.core('a').transferLeadership('l')).toThrow(InvalidArgumentError)
    expect(() => c.core('a').transferLeadership('nobody')).toThrow(InvalidArgumentError)
  })

  it('the transferee campaigns without a pre-vote round and its vote requests are marked as a transfer', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: true, checkQuorum: true })
    c.campaign('a')
    c.sent = []
    c.core('a').transferLeadership('b')
    c.stabilize()
    expect(c.sent.some((m) => m.type === 'prevote' && m.from === 'b')).toBe(false)
    expect(c.sent.filter((m) => m.type === 'vote' && m.from === 'b').every((m) => m.type === 'vote' && m.transfer)).toBe(true)
  })
})
