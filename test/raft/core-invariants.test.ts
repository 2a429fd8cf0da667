import { describe, expect, it } from 'vitest'
import { InternalError } from '../../src/api/errors.js'
import { MemoryRaftStorage } from '../../src/raft/core/index.js'
import { RaftLog } from '../../src/raft/core/raft-log.js'
import { Cluster, conf } from './harness.js'

describe('raft invariant assertions', () => {
  it('an append behind the commit index leaves committed entries alone', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    c.propose('a', 'x')
    expect(c.core('b').status().commit).toBe(2)
    c.core('b').step({ type: 'app', from: 'c', to: 'b', term: 5, index: 1, logTerm: 1, entries: [{ term: 5, index: 2, type: 'normal', data: new Uint8Array(1) }], commit: 2 })
    expect(c.logTerms('b')).toEqual([1, 1])
  })

  it('the log refuses to truncate a committed entry with InternalError', () => {
    const storage = new MemoryRaftStorage(conf(['a']))
    storage.append([{ term: 1, index: 1, type: 'normal', data: new Uint8Array(0) }, { term: 1, index: 2, type: 'normal', data: new Uint8Array(0) }])
    const log = new RaftLog(storage, 2, 0)
    expect(() => log.maybeAppend(0, 0, 2, [{ term: 2, index: 1, type: 'normal', data: new Uint8Array(0) }])).toThrow(InternalError)
  })

  it('an append from another node in the leader\'s own term (two leaders) stops the leader with InternalError', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    c.campaign('a')
    expect(() => c.core('a').step({ type: 'app', from: 'b', to: 'a', term: 1, index: 0, logTerm: 0, entries: [], commit: 0 })).toThrow(InternalError)
  })

  it('a message for another node is refused', () => {
    const c = new Cluster(conf(['a', 'b', 'c']))
    expect(() => c.core('a').step({ type: 'hb', from: 'b', to: 'c', term: 1, commit: 0, round: 1 })).toThrow(/stepped into/)
  })
})
