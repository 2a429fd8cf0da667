import { describe, expect, it } from 'vitest'
import type { SnapshotMessage } from '../../src/raft/core/index.js'
import { Cluster, conf } from './harness.js'

function lagBehind (c: Cluster, slow: string, leader: string, entries: number): void {
  c.filter = (m) => m.from !== slow && m.to !== slow
  for (let i = 0; i < entries; i++) c.propose(leader, `v${i}`)
  c.heal()
}

describe('raft snapshots', () => {
  it('a follower whose missing entries were compacted gets a snapshot, installs it and continues with entries', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    lagBehind(c, 'c', 'a', 10)
    c.snapshot('a')
    expect(c.node('a').storage.firstIndex()).toBe(12)
    c.sent = []
    c.tick('a', 2)
    c.stabilize()
    const snap = c.sent.find((m): m is SnapshotMessage => m.type === 'snap')
    expect(snap).toMatchObject({ from: 'a', to: 'c', offset: 0, done: true, snapshot: { index: 11, term: 1, conf: { voters: ['a', 'b', 'c'], learners: [] } } })
    expect(snap?.data.byteLength).toBe(0)
    expect(c.node('c').storage.snapshot().index).toBe(11)
    expect(c.node('c').snapshotState).toEqual(c.node('a').snapshotState)
    c.propose('a', 'after')
    expect(c.node('c').snapshotState.at(-1)).toBe('after')
    expect(c.core('a').status().progress.c?.state).toBe('replicate')
  })

  it('catch-up entries kept behind the snapshot spare a slightly slow follower a snapshot', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x')
    lagBehind(c, 'c', 'a', 3)
    c.snapshot('a', 5)
    c.sent = []
    c.tick('a', 2)
    c.stabilize()
    expect(c.sent.some((m) => m.type === 'snap')).toBe(false)
    expect(c.appliedData('c')).toEqual(['x', 'v0', 'v1', 'v2'])
  })

  it('while a snapshot is streaming the follower gets no appends; a failed transfer is retried', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    lagBehind(c, 'c', 'a', 5)
    c.snapshot('a')
    c.filter = (m) => m.type !== 'snap'
    c.tick('a', 2)
    c.stabilize()
    expect(c.core('a').status().progress.c?.state).toBe('snapshot')
    c.sent = []
    c.propose('a', 'more')
    expect(c.sent.some((m) => m.type === 'app' && m.to === 'c')).toBe(false)
    // The driver reports the failure; the leader probes again and sends a new snapshot.
    c.core('a').reportSnapshot('c', false)
    expect(c.core('a').status().progress.c?.state).toBe('probe')
    c.heal()
    c.tick('a', 2)
    c.stabilize()
    expect(c.appliedData('c').at(-1)).toBe('more')
  })

  it('a snapshot behind the follower\'s commit index is ignored', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x', 'y')
    c.core('b').step({ type: 'snap', from: 'a', to: 'b', term: 1, snapshot: { index: 2, term: 1, conf: conf(['a', 'b', 'c']) }, offset: 0, data: new Uint8Array(0), done: true })
    const rd = c.core('b').ready()
    expect(rd.snapshot).toBeUndefined()
    expect(rd.messages.find((m) => m.type === 'app-resp')).toMatchObject({ index: 3, reject: false })
    c.handle('b', rd)
  })

  it('a snapshot whose last entry the follower already holds only moves its commit index', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.filter = (m) => !(m.type === 'app' && m.to === 'b' && m.commit >= 3) && !(m.type === 'hb' && m.to === 'b')
    c.propose('a', 'x', 'y')
    expect(c.core('b').status()).toMatchObject({ lastIndex: 3 })
    const commitBefore = c.core('b').status().commit
    expect(commitBefore).toBeLessThan(3)
    c.core('b').step({ type: 'snap', from: 'a', to: 'b', term: 1, snapshot: { index: 3, term: 1, conf: conf(['a', 'b', 'c']) }, offset: 0, data: new Uint8Array(0), done: true })
    const rd = c.core('b').ready()
    expect(rd.snapshot).toBeUndefined()
    expect(c.core('b').status().commit).toBe(3)
    c.handle('b', rd)
    expect(c.appliedData('b')).toEqual(['x', 'y'])
  })

  it('a snapshot carries the configuration, so a new member learns it from the snapshot', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), {}, ['d'])
    c.campaign('a')
    c.core('a').proposeConfChange({ type: 'add-learner', node: 'd' })
    c.filter = (m) => m.to !== 'd'
    c.stabilize()
    c.propose('a', 'x')
    c.snapshot('a')
    c.heal()
    c.tick('a', 2)
    c.stabilize()
    expect(c.node('d').storage.snapshot().conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] })
    expect(c.core('d').status().conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] })
    expect(c.node('d').snapshotState.at(-1)).toBe('x')
  })

  it('snapshotMetaAt names the configuration in effect at that index', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x')
    c.core('a').proposeConfChange({ type: 'add-learner', node: 'd' })
    c.stabilize()
    expect(c.core('a').snapshotMetaAt(2)).toEqual({ index: 2, term: 1, conf: { voters: ['a', 'b', 'c'], learners: [] } })
    expect(c.core('a').snapshotMetaAt(3)).toEqual({ index: 3, term: 1, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } })
  })
})
