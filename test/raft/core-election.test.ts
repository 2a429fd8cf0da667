import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/runtime/random.js'
import { MemoryRaftStorage, RaftCore } from '../../src/raft/core/index.js'
import { Cluster, conf } from './harness.js'

describe('raft elections', () => {
  it('a node that times out wins an election and appends an empty entry of its term', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    expect(c.leader()).toBe('a')
    const st = c.core('a').status()
    expect(st.term).toBe(1)
    expect(st.commit).toBe(1)
    for (const id of ['b', 'c']) {
      expect(c.core(id).status().leader).toBe('a')
      expect(c.logTerms(id)).toEqual([1])
    }
  })

  it('election timeouts are randomized in [electionTimeout, 2 * electionTimeout)', () => {
    const seen = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const core = new RaftCore({ id: 'a', storage: new MemoryRaftStorage(conf(['a', 'b', 'c'])), random: seededRandom(i), preVote: false })
      let ticks = 0
      while (core.status().role === 'follower') { core.tick(); ticks++ }
      expect(ticks).toBeGreaterThanOrEqual(10)
      expect(ticks).toBeLessThan(20)
      seen.add(ticks)
    }
    expect(seen.size).toBeGreaterThan(1)
  })

  it('a single voter elects itself at once and commits after persisting', () => {
    const c = new Cluster(conf(['a']))
    c.campaign('a')
    expect(c.leader()).toBe('a')
    c.propose('a', 'x')
    expect(c.appliedData('a')).toEqual(['x'])
  })

  it('a candidate whose log lacks a committed entry gets no vote (election restriction)', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: false })
    c.campaign('a')
    c.filter = (m) => m.to !== 'c'
    c.propose('a', 'x')
    c.heal()
    c.sent = []
    // c missed 'x'; a and b refuse to vote for it.
    c.campaign('c')
    const answers = c.sent.filter((m) => m.type === 'vote-resp' && m.to === 'c')
    expect(answers.length).toBeGreaterThan(0)
    expect(answers.every((m) => m.type === 'vote-resp' && m.reject)).toBe(true)
    expect(c.core('c').status().role).not.toBe('leader')
  })

  it('terms only grow and each node votes at most once per term', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: false })
    c.campaign('a')
    c.campaign('b')
    expect(c.leader()).toBe('b')
    const votes = c.sent.filter((m) => m.type === 'vote-resp' && !m.reject)
    const seen = new Set<string>()
    for (const v of votes) {
      const key = `${v.from}@${v.term}`
      expect(seen.has(key)).toBe(false)
      seen.add(key)
    }
  })

  it('a higher term in any message turns a leader into a follower', () => {
    const c = new Cluster(conf(['a', 'b', 'c']), { preVote: false, checkQuorum: false })
    c.campaign('a')
    c.core('a').step({ type: 'app-resp', from: 'b', to: 'a', term: 5, index: 0, reject: false, hintIndex: 0, hintTerm: 0 })
    expect(c.core('a').status().role).toBe('follower')
    expect(c.core('a').status().term).toBe(5)
  })
})
