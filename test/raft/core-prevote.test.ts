import { describe, expect, it } from 'vitest'
import { Cluster, conf } from './harness.js'

describe('raft pre-vote and check-quorum against disruption', () => {
  it('a partitioned node keeps its term with pre-vote and cannot disrupt the leader when it rejoins', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: true, checkQuorum: true })
    c.campaign('a')
    c.isolate('c')
    // c times out again and again but never wins a pre-vote, so its term never grows.
    for (let i = 0; i < 100; i++) {
      c.tick('c')
      c.stabilize()
    }
    expect(c.core('c').status().term).toBe(1)
    c.heal()
    c.tickAll(3)
    c.stabilize()
    expect(c.leader()).toBe('a')
    expect(c.core('a').status().term).toBe(1)
    c.propose('a', 'after-rejoin')
    expect(c.appliedData('c')).toEqual(['after-rejoin'])
  })

  it('without pre-vote a rejoining node with a higher term deposes the leader (the problem pre-vote solves)', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: false })
    c.campaign('a')
    c.isolate('c')
    for (let i = 0; i < 100; i++) {
      c.tick('c')
      c.stabilize()
    }
    const partitionedTerm = c.core('c').status().term
    expect(partitionedTerm).toBeGreaterThan(3)
    c.heal()
    // c's next timeout sends a vote request with its inflated term: the healthy leader steps down.
    for (let i = 0; i < 25; i++) {
      c.tick('c')
      c.stabilize()
    }
    expect(c.core('a').status().term).toBeGreaterThan(partitionedTerm)
    expect(c.core('a').status().role).not.toBe('leader')
  })

  it('a pre-vote request changes neither the receiver\'s term nor its vote', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    const before = c.core('b').hardState()
    c.core('b').step({ type: 'prevote', from: 'c', to: 'b', term: 7, index: 100, logTerm: 6, transfer: false })
    expect(c.core('b').hardState()).toEqual(before)
  })

  it('a follower that hears from its leader ignores a higher-term vote request (check-quorum lease)', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: true })
    c.campaign('a')
    c.core('b').step({ type: 'vote', from: 'c', to: 'b', term: 9, index: 100, logTerm: 9, transfer: false })
    c.process('b')
    expect(c.core('b').status().term).toBe(1)
    expect(c.drain().filter((m) => m.type === 'vote-resp')).toEqual([])
  })

  it('a vote request marked as a leadership transfer bypasses that lease', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: true })
    c.campaign('a')
    c.core('b').step({ type: 'vote', from: 'c', to: 'b', term: 2, index: 1, logTerm: 1, transfer: true })
    c.process('b')
    expect(c.core('b').status().term).toBe(2)
    expect(c.drain().find((m) => m.type === 'vote-resp')).toMatchObject({ to: 'c', reject: false, term: 2 })
  })

  it('a pre-candidate that wins the pre-vote campaigns for real in the next term', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('b')
    expect(c.leader()).toBe('b')
    expect(c.core('b').status().term).toBe(1)
    expect(c.sent.filter((m) => m.type === 'prevote').every((m) => m.term === 1)).toBe(true)
  })

  it('a stale leader learns the new term from a follower\'s answer and steps down', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: true, checkQuorum: true })
    c.campaign('a')
    c.isolate('a')
    // b and c elect b once they stop hearing from a.
    for (let i = 0; i < 40 && c.core('b').status().role !== 'leader' && c.core('c').status().role !== 'leader'; i++) {
      c.tick('b')
      c.tick('c')
      c.stabilize()
    }
    const newLeader = c.core('b').status().role === 'leader' ? 'b' : 'c'
    expect(c.core(newLeader).status().term).toBe(2)
    c.heal()
    // a still believes it leads term 1; its next heartbeat gets an answer at term 2.
    c.core('a').step({ type: 'app-resp', from: 'b', to: 'a', term: 2, index: 0, reject: false, hintIndex: 0, hintTerm: 0 })
    expect(c.core('a').status().role).toBe('follower')
  })
})

describe('raft check-quorum', () => {
  it('a leader that has not heard from a majority within an election timeout steps down', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { checkQuorum: true })
    c.campaign('a')
    c.isolate('a')
    let ticks = 0
    while (c.core('a').status().role === 'leader' && ticks < 100) {
      c.tick('a')
      c.stabilize()
      ticks++
    }
    expect(c.core('a').status().role).toBe('follower')
    expect(ticks).toBeGreaterThanOrEqual(10)
    expect(ticks).toBeLessThanOrEqual(20)
  })

  it('a leader that hears from a majority stays leader', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { checkQuorum: true })
    c.campaign('a')
    c.filter = (m) => m.from !== 'c' && m.to !== 'c'
    for (let i = 0; i < 100; i++) {
      c.tick('a')
      c.stabilize()
    }
    expect(c.core('a').status().role).toBe('leader')
  })

  it('without check-quorum an isolated leader keeps believing it leads', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { checkQuorum: false })
    c.campaign('a')
    c.isolate('a')
    for (let i = 0; i < 100; i++) {
      c.tick('a')
      c.stabilize()
    }
    expect(c.core('a').status().role).toBe('leader')
  })
})
