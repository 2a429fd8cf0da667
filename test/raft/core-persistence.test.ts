import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/api/errors.js'
import { MemoryRaftStorage } from '../../src/raft/core/index.js'
import { Cluster, conf, text } from './harness.js'

describe('raft persistence rules (nothing is promised before it is durable)', () => {
  it('vote answers wait for the vote to be persisted: they are never in messagesBeforePersist', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false })
    c.core('b').step({ type: 'vote', from: 'a', to: 'b', term: 1, index: 0, logTerm: 0, transfer: false })
    const rd = c.core('b').ready()
    expect(rd.hardState).toEqual({ term: 1, vote: 'a', commit: 0 })
    expect(rd.messagesBeforePersist).toEqual([])
    expect(rd.messages).toMatchObject([{ type: 'vote-resp', to: 'a', reject: false }])
  })

  it('a follower acknowledges entries only in the Ready that persists them', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.core('a').propose([text('x')])
    c.process('a')
    const toB = c.drain().filter((m) => m.to === 'b')
    for (const m of toB) c.core('b').step(m)
    const rd = c.core('b').ready()
    expect(rd.entries.map((e) => e.index)).toEqual([2])
    expect(rd.messagesBeforePersist).toEqual([])
    expect(rd.messages).toMatchObject([{ type: 'app-resp', index: 2 }])
  })

  it('a leader whose term is durable sends appends before its own fsync, but commits only once its entries are persisted', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.core('a').propose([text('x')])
    const rd = c.core('a').ready()
    expect(rd.entries.map((e) => e.index)).toEqual([2])
    expect(rd.messagesBeforePersist.filter((m) => m.type === 'app').length).toBe(2)
    // b acknowledges at once; a's own copy is not durable yet, so one vote of three is missing.
    for (const m of rd.messagesBeforePersist) if (m.to === 'b') c.core('b').step(m)
    c.process('b')
    for (const m of c.drain()) if (m.to === 'a') c.core('a').step(m)
    expect(c.core('a').status().commit).toBe(1)
    c.node('a').storage.append(rd.entries)
    c.core('a').advance(rd)
    expect(c.core('a').status().commit).toBe(2)
  })

  it('a single voter commits only after advance', () => {
    const c = new Cluster(conf(['a']))
    c.campaign('a')
    c.core('a').propose([text('x')])
    const rd = c.core('a').ready()
    expect(c.core('a').status().commit).toBe(1)
    c.handle('a', rd)
    expect(c.core('a').status().commit).toBe(2)
  })

  it('a leader elected in a term not yet durable keeps its appends until that term is persisted', () => {
    // One voter and a learner: the node elects itself at once, within one Ready.
    const c = new Cluster(conf(['a'], ['l']))
    for (let i = 0; i < 30 && c.core('a').status().role !== 'leader'; i++) c.core('a').tick()
    const rd = c.core('a').ready()
    expect(rd.hardState?.term).toBe(1)
    expect(rd.messagesBeforePersist).toEqual([])
    expect(rd.messages.some((m) => m.type === 'app' && m.to === 'l')).toBe(true)
  })

  it('a restarted node keeps its vote: it does not vote twice in one term', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: false })
    c.core('b').step({ type: 'vote', from: 'a', to: 'b', term: 1, index: 0, logTerm: 0, transfer: false })
    c.process('b')
    const b = c.restart('b')
    b.core.step({ type: 'vote', from: 'c', to: 'b', term: 1, index: 0, logTerm: 0, transfer: false })
    const rd = b.core.ready()
    expect(rd.messages).toMatchObject([{ type: 'vote-resp', to: 'c', reject: true }])
  })

  it('a node restarted after losing unpersisted entries gets them again from the leader', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.core('a').propose([text('x')])
    c.process('a')
    for (const m of c.drain()) c.core(m.to).step(m)
    // b crashes before its Ready is persisted.
    c.core('b').ready()
    c.restart('b')
    c.stabilize()
    c.tick('a', 2)
    c.stabilize()
    expect(c.appliedData('b')).toEqual(['x'])
  })

  it('several Readies may be outstanding; they are acknowledged in order', () => {
    const c = new Cluster(conf(['a']))
    c.campaign('a')
    c.core('a').propose([text('1')])
    const r1 = c.core('a').ready()
    c.core('a').propose([text('2')])
    const r2 = c.core('a').ready()
    expect(r2.entries.map((e) => e.index)).toEqual([3])
    expect(() => c.core('a').advance(r2)).toThrow(InvalidArgumentError)
    c.handle('a', r1)
    // Entry 3 is handed out but not durable: it does not count yet.
    expect(c.core('a').status().commit).toBe(2)
    c.handle('a', r2)
    c.process('a')
    expect(c.core('a').status().commit).toBe(3)
    expect(c.appliedData('a')).toEqual(['1', '2'])
  })

  it('a leader whose disk does not complete a write within diskStallTicksMax steps down', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { diskStallTicksMax: 5 })
    c.campaign('a')
    c.core('a').propose([text('x')])
    c.core('a').ready()
    for (let i = 0; i < 6; i++) c.core('a').tick()
    expect(c.core('a').status().role).toBe('follower')
  })

  it('a storage whose commit index passes its log is refused at start', () => {
    const storage = new MemoryRaftStorage(conf(['a']))
    storage.setHardState({ term: 1, vote: 'a', commit: 5 })
    expect(() => new Cluster(conf([])).add('a', storage)).toThrow(/invariant/)
  })
})
