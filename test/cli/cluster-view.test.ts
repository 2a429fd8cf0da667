import { describe, expect, it } from 'vitest'
import { buildView, formatView, statusJson } from '../../src/cli/cluster-view.js'
import type { AdminMember, AdminStatus } from '../../src/service/admin-protocol.js'

const member = (peerId: string, liveness: AdminMember['liveness'] = 'alive'): AdminMember =>
  ({ peerId, name: null, role: 'voter', liveness, incarnation: 1, lastSeenAgeMs: 10, addresses: [`/ip4/127.0.0.1/tcp/1/p2p/${peerId}`] })

function status (peerId: string, role: string, term: number, leader: string | null, applied: number, commit = applied): AdminStatus {
  return {
    peerId,
    name: null,
    multiaddrs: [`/ip4/127.0.0.1/tcp/1/p2p/${peerId}`],
    httpAddr: null,
    appliedIndex: applied,
    raft: { leader, role, term, commitIndex: commit, appliedIndex: applied, voters: ['A', 'B', 'C'], learners: [], matchIndex: {} },
    members: [member('A'), member('B'), member('C', 'dead')]
  }
}

describe('the cluster view built from each member\'s answer', () => {
  it('takes the leader named in the highest term and measures lag against its commit index', () => {
    const answers = new Map<string, AdminStatus | Error>([
      ['A', status('A', 'follower', 2, 'B', 8)],
      ['B', status('B', 'leader', 3, 'B', 10, 12)],
      ['C', Object.assign(new Error('no answer'), { code: 'UNAVAILABLE' })]
    ])
    const view = buildView(answers, new Map([['A', 'node1'], ['B', 'node2'], ['C', 'node3']]))
    expect(view.leader).toBe('B')
    expect(view.term).toBe(3)
    expect(view.members.map(m => [m.name, m.role, m.alive, m.lag, m.liveness])).toEqual([
      ['node1', 'follower', true, 4, 'alive'],
      ['node2', 'leader', true, 2, 'alive'],
      ['node3', 'unknown', false, null, 'dead']
    ])
    expect(view.members[2]?.errorCode).toBe('UNAVAILABLE')
    expect(statusJson(view)).toMatchObject({ leader: 'B', term: 3, members: [{ peerId: 'A', role: 'follower', alive: true, appliedIndex: 8 }, { peerId: 'B' }, { peerId: 'C', alive: false, appliedIndex: null }] })
    expect(formatView(view)).toMatch(/^leader: node2 \(B\)\s+term: 3\n/)
  })

  it('lists a voter nobody could ask, from the configuration the leader reports', () => {
    const view = buildView(new Map([['B', status('B', 'leader', 1, 'B', 3)]]), new Map())
    expect(view.members.map(m => [m.peerId, m.alive, m.error])).toEqual([['A', false, 'not asked: no address known'], ['B', true, null], ['C', false, 'not asked: no address known']])
  })

  it('shows a node alone as its own leader', () => {
    const alone: AdminStatus = { peerId: 'S', name: 'solo', multiaddrs: [], httpAddr: null, appliedIndex: 4, raft: null, members: [{ ...member('S'), name: 'solo' }] }
    const view = buildView(new Map([['S', alone]]), new Map())
    expect(view).toMatchObject({ leader: 'S', term: 0, members: [{ peerId: 'S', role: 'leader', alive: true, appliedIndex: 4, lag: 0 }] })
  })
})
