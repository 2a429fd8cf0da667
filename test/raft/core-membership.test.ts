import { describe, expect, it } from 'vitest'
import { ConflictError, InvalidArgumentError, UnavailableError } from '../../src/api/errors.js'
import { MemoryRaftStorage, decodeConfEntry } from '../../src/raft/core/index.js'
import { Cluster, conf, text } from './harness.js'

/** Adds a fresh node (empty configuration) to the harness, as an operator starts it before adding it. */
function startFresh (c: Cluster, id: string): void {
  c.add(id, new MemoryRaftStorage())
}

describe('raft learners', () => {
  it('a learner receives and applies the log but never campaigns', () => {
    const c = new Cluster(conf(['a', 'b', 'c'], ['l']))
    c.campaign('a')
    c.propose('a', 'x')
    expect(c.appliedData('l')).toEqual(['x'])
    c.isolate('a')
    for (let i = 0; i < 100; i++) c.tick('l')
    c.process('l')
    expect(c.core('l').status().role).toBe('follower')
    expect(c.sent.some((m) => (m.type === 'vote' || m.type === 'prevote') && (m.from === 'l' || m.to === 'l'))).toBe(false)
  })

  it('a learner does not count toward the commit quorum', () => {
    const c = new Cluster(conf(['a', 'b'], ['l']))
    c.campaign('a')
    c.filter = (m) => m.from !== 'b' && m.to !== 'b'
    c.propose('a', 'x')
    // a and l hold 'x', but with two voters a majority needs b.
    expect(c.core('a').status().commit).toBe(1)
    expect(c.appliedData('l')).toEqual([])
  })

  it('a new node starts empty, is added as a learner and catches up', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x', 'y')
    startFresh(c, 'd')
    c.core('a').proposeConfChange({ type: 'add-learner', node: 'd' })
    c.stabilize()
    c.tick('a', 2)
    c.stabilize()
    expect(c.core('d').status().conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] })
    expect(c.appliedData('d')).toEqual(['x', 'y'])
  })
})

describe('raft membership changes', () => {
  it('a caught-up learner is promoted and then counts toward the quorum', () => {
    const c = new Cluster(conf(['a', 'b'], ['l']))
    c.campaign('a')
    c.propose('a', 'x')
    c.core('a').proposeConfChange({ type: 'promote', node: 'l' })
    c.stabilize()
    expect(c.core('a').status().conf).toEqual({ voters: ['a', 'b', 'l'], learners: [] })
    // With three voters, a and l are a majority without b.
    c.filter = (m) => m.from !== 'b' && m.to !== 'b'
    c.propose('a', 'y')
    expect(c.appliedData('l')).toEqual(['x', 'y'])
  })

  it('a learner far behind is not promoted (UnavailableError): it would count for quorum before holding the log', () => {
    const c = new Cluster(conf(['a', 'b'], ['l']), { promoteLagEntriesMax: 2 })
    c.campaign('a')
    c.filter = (m) => m.to !== 'l'
    for (let i = 0; i < 10; i++) c.propose('a', `v${i}`)
    expect(() => c.core('a').proposeConfChange({ type: 'promote', node: 'l' })).toThrow(UnavailableError)
  })

  it('one change at a time: a second change waits until the first is committed (ConflictError)', () => {
    const c = new Cluster(conf(['a', 'b', 'c'], ['l']))
    c.campaign('a')
    c.filter = () => false
    c.core('a').proposeConfChange({ type: 'remove', node: 'l' })
    expect(() => c.core('a').proposeConfChange({ type: 'remove', node: 'c' })).toThrow(ConflictError)
    c.heal()
    c.stabilize()
    c.tick('a', 2)
    c.stabilize()
    expect(() => c.core('a').proposeConfChange({ type: 'remove', node: 'c' })).not.toThrow()
  })

  it('a new leader changes membership only after committing an entry of its own term (the single-server fix)', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.filter = (m) => m.type !== 'app-resp'
    c.campaign('a')
    expect(c.core('a').status().role).toBe('leader')
    expect(() => c.core('a').proposeConfChange({ type: 'add-learner', node: 'd' })).toThrow(ConflictError)
    c.heal()
    c.tick('a', 2)
    c.stabilize()
    expect(() => c.core('a').proposeConfChange({ type: 'add-learner', node: 'd' })).not.toThrow()
  })

  it('a removed leader leads until its removal commits, then hands over and never campaigns again', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.core('a').proposeConfChange({ type: 'remove', node: 'a' })
    c.stabilize()
    expect(c.core('a').status().role).toBe('follower')
    // It sent TimeoutNow to a remaining voter, which leads without waiting for a timeout.
    expect(c.sent.some((m) => m.type === 'timeout-now' && m.from === 'a')).toBe(true)
    const leader = c.leader()
    expect(leader === 'b' || leader === 'c').toBe(true)
    expect(c.core('b').status().conf.voters).toEqual(['b', 'c'])
    const termAfter = c.core(leader as string).status().term
    for (let i = 0; i < 100; i++) {
      c.tick('a')
      c.stabilize()
    }
    expect(c.core(leader as string).status()).toMatchObject({ role: 'leader', term: termAfter })
    c.propose(leader as string, 'after-removal')
    expect(c.appliedData('b')).toEqual(['after-removal'])
  })

  it('the leader does not count itself toward the quorum that commits its own removal', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.filter = (m) => m.from !== 'c' && m.to !== 'c'
    c.core('a').proposeConfChange({ type: 'remove', node: 'a' })
    c.stabilize()
    // New voters {b, c}: b alone is not a majority, whatever a holds.
    expect(c.core('a').status()).toMatchObject({ role: 'leader', commit: 1 })
  })

  it('a removed node that missed its removal cannot disrupt the cluster', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.isolate('c')
    c.core('a').proposeConfChange({ type: 'remove', node: 'c' })
    c.stabilize()
    expect(c.core('a').status().conf.voters).toEqual(['a', 'b'])
    c.heal()
    // c still thinks it is a voter; a no longer sends to it, so it times out and campaigns.
    for (let i = 0; i < 200; i++) {
      c.tick('c')
      if (i % 2 === 0) c.tick('a')
      if (i % 3 === 0) c.tick('b')
      c.stabilize()
    }
    expect(c.core('a').status()).toMatchObject({ role: 'leader', term: 1 })
    c.propose('a', 'still-fine')
    expect(c.appliedData('b')).toEqual(['still-fine'])
  })

  it('a configuration takes effect when appended and is undone when its entry is truncated', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    // The change reaches b but is never acknowledged: appended, not committed.
    c.filter = (m) => !(m.from === 'a' && m.to === 'c') && m.type !== 'app-resp'
    c.core('a').proposeConfChange({ type: 'add-learner', node: 'l' })
    c.stabilize()
    expect(c.core('b').status().conf.learners).toEqual(['l'])
    expect(c.core('b').status().commit).toBe(1)
    // A leader of term 2 that never saw the change overwrites index 2.
    c.core('b').step({ type: 'app', from: 'c', to: 'b', term: 2, index: 1, logTerm: 1, entries: [{ term: 2, index: 2, type: 'normal', data: new Uint8Array(0) }], commit: 1 })
    expect(c.core('b').status().conf).toEqual({ voters: ['a', 'b', 'c'], learners: [] })
    expect(c.logTerms('b')).toEqual([1, 2])
  })

  it('changes that break the rules are refused with InvalidArgumentError', () => {
    const c = new Cluster(conf(['a'], ['l']), { votersMax: 2 })
    c.campaign('a')
    expect(() => c.core('a').proposeConfChange({ type: 'remove', node: 'a' })).toThrow(InvalidArgumentError)
    expect(() => c.core('a').proposeConfChange({ type: 'promote', node: 'a' })).toThrow(InvalidArgumentError)
    expect(() => c.core('a').proposeConfChange({ type: 'add-learner', node: 'l' })).toThrow(InvalidArgumentError)
    expect(() => c.core('a').proposeConfChange({ type: 'demote', node: 'a' })).toThrow(InvalidArgumentError)
    expect(() => c.core('a').proposeConfChange({ type: 'remove', node: 'zz' })).toThrow(InvalidArgumentError)
  })

  it('a conf entry decodes to the whole new configuration and the change that made it', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.core('a').proposeConfChange({ type: 'add-learner', node: 'd', context: text('/ip4/127.0.0.1/tcp/1') })
    c.stabilize()
    const entry = c.node('b').applied.find((e) => e.type === 'conf')
    expect(entry).toBeDefined()
    const data = decodeConfEntry(entry?.data ?? new Uint8Array())
    expect(data.conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] })
    expect(data.change).toEqual({ type: 'add-learner', node: 'd' })
    expect(Array.from(data.context ?? [])).toEqual(Array.from(text('/ip4/127.0.0.1/tcp/1')))
  })
})
