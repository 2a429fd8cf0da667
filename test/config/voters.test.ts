import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/index.js'
import { resolveMemberRoles } from '../../src/config/parse.js'

const peer = (i: number): string => `12D3KooWPeer${'ABCDEFGHJK'[i] as string}`
const member = (i: number, role?: 'voter' | 'learner'): Record<string, unknown> => ({
  peerId: peer(i),
  multiaddrs: [`/ip4/127.0.0.1/tcp/${7001 + i}`],
  ...(role !== undefined ? { role } : {})
})
const members = (n: number): Array<Record<string, unknown>> => Array.from({ length: n }, (_, i) => member(i))

function roles (input: Record<string, unknown>): string[] {
  return parseConfig({ schemaVersion: 1, dataDir: 'd', ...input }).cluster.members.map(m => m.role)
}

function configError (input: Record<string, unknown>): ConfigError {
  try {
    parseConfig({ schemaVersion: 1, dataDir: 'd', ...input })
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('the bootstrap voter set', () => {
  it('defaults to three voters, the first three members listed', () => {
    expect(parseConfig({ schemaVersion: 1, dataDir: 'd' }).raft.voters).toBe(3)
    expect(roles({ cluster: { members: members(1) } })).toEqual(['voter'])
    expect(roles({ cluster: { members: members(3) } })).toEqual(['voter', 'voter', 'voter'])
  })

  it('makes five members without roles three voters and two learners', () => {
    expect(roles({ cluster: { members: members(5) } })).toEqual(['voter', 'voter', 'voter', 'learner', 'learner'])
  })

  it('takes raft.voters voters from the members without a role', () => {
    expect(roles({ cluster: { members: members(7) }, raft: { voters: 5 } })).toEqual(['voter', 'voter', 'voter', 'voter', 'voter', 'learner', 'learner'])
    expect(roles({ cluster: { members: members(2) }, raft: { voters: 5 } })).toEqual(['voter', 'voter'])
    expect(roles({ cluster: { members: members(4) }, raft: { voters: 1 } })).toEqual(['voter', 'learner', 'learner', 'learner'])
  })

  it('lets an explicit role win, explicit voters counting first wherever they are listed', () => {
    // Two explicit voters at the end leave room for one voter by default: the first member.
    expect(roles({ cluster: { members: [member(0), member(1), member(2), member(3, 'voter'), member(4, 'voter')] } }))
      .toEqual(['voter', 'learner', 'learner', 'voter', 'voter'])
    // An explicit learner is skipped: the defaults go to the next members.
    expect(roles({ cluster: { members: [member(0, 'learner'), member(1), member(2), member(3), member(4)] } }))
      .toEqual(['learner', 'voter', 'voter', 'voter', 'learner'])
    // More explicit voters than raft.voters is allowed up to raft.votersMax; the rest default to learners.
    expect(roles({ cluster: { members: [...[0, 1, 2, 3, 4].map(i => member(i, 'voter')), member(5)] } }))
      .toEqual(['voter', 'voter', 'voter', 'voter', 'voter', 'learner'])
  })

  it('refuses more voters than raft.votersMax, explicit and defaulted counted together', () => {
    const explicit = configError({ cluster: { members: Array.from({ length: 8 }, (_, i) => member(i, 'voter')) } })
    expect(explicit.message).toMatch(/cluster\.members: 8 voters \(8 with role "voter", 0 by default.*exceed raft\.votersMax 7/)
    const mixed = configError({ cluster: { members: [member(0, 'voter'), member(1, 'voter'), member(2), member(3)] }, raft: { voters: 4, votersMax: 3 } })
    expect(mixed.message).toMatch(/4 voters \(2 with role "voter", 2 by default from raft\.voters = 4\) exceed raft\.votersMax 3/)
    expect(mixed.details.problems).toHaveLength(1)
  })

  it('refuses raft.voters outside 1-7 and a cluster without a voter', () => {
    expect(configError({ raft: { voters: 0 } }).message).toContain('raft.voters')
    expect(configError({ raft: { voters: 8 } }).message).toContain('raft.voters')
    const none = configError({ cluster: { members: [member(0, 'learner'), member(1, 'learner')] } })
    expect(none.message).toMatch(/at least one member must be a voter/)
  })

  it('keeps schemaVersion 1: a config written before raft.voters existed still parses', () => {
    const c = parseConfig({ schemaVersion: 1, dataDir: 'd', cluster: { members: members(3) }, raft: { votersMax: 7 } })
    expect(c.raft.voters).toBe(3)
    expect(c.cluster.members.every(m => m.role === 'voter')).toBe(true)
  })

  it('resolves roles without touching its input', () => {
    const input = [{ peerId: peer(0), multiaddrs: [] }, { peerId: peer(1), multiaddrs: [], role: 'learner' as const }, { peerId: peer(2), multiaddrs: [] }]
    expect(resolveMemberRoles(input, 1).map(m => m.role)).toEqual(['voter', 'learner', 'learner'])
    expect(input[0]).not.toHaveProperty('role')
  })
})
