import { describe, expect, it } from 'vitest'
import { ConfigError, createNode, parseConfig } from '../../src/index.js'
import { silentLogger } from '../support/silent-logger.js'
import { tempDir } from '../support/tmp.js'

function configError (input: unknown): ConfigError {
  try {
    parseConfig(input)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('config', () => {
  it('fills every default from a minimal config', () => {
    const c = parseConfig({ schemaVersion: 1, dataDir: './data' })
    expect(c.limits.keyBytesMax).toBe(1024)
    expect(c.limits.valueBytesMax).toBe(1024 * 1024)
    expect(c.defaultCollection.mode).toBe('raft')
    expect(c.raft.electionTimeoutMs).toBe(1000)
    expect(c.gossip.probeIntervalMs).toBe(1000)
    expect(c.listen).toEqual([])
  })

  it('rejects another schemaVersion, naming the one it got and the one it supports', () => {
    const err = configError({ schemaVersion: 2, dataDir: 'd' })
    expect(err.message).toMatch(/schemaVersion 2 is not supported.*schemaVersion 1/)
    expect(err.details).toMatchObject({ got: 2, supported: 1 })
    expect(configError({ dataDir: 'd' }).message).toMatch(/schemaVersion undefined is not supported/)
  })

  it('rejects unknown keys with their path', () => {
    const err = configError({ schemaVersion: 1, dataDir: 'd', raft: { electionTimeout: 5 }, colections: {} })
    expect(err.message).toContain('raft.electionTimeout')
    expect(err.message).toContain('colections')
  })

  it('rejects values out of range with their path', () => {
    expect(configError({ schemaVersion: 1, dataDir: 'd', limits: { keyBytesMax: 0 } }).message).toContain('limits.keyBytesMax')
    expect(configError({ schemaVersion: 1, dataDir: 'd', collections: { 'bad name!': {} } }).message).toContain('collection name')
    expect(configError({ schemaVersion: 1, dataDir: 'd', logging: { level: 'loud' } }).message).toContain('logging.level')
  })

  it('checks rules across fields', () => {
    expect(configError({ schemaVersion: 1, dataDir: 'd', collections: { q: { mode: 'quorum', n: 2, w: 3 } } }).message).toContain('collections.q.w')
    expect(configError({ schemaVersion: 1, dataDir: 'd', collections: { q: { mode: 'quorum', defaultConsistency: 'strong' } } }).message).toMatch(/quorum collections do not offer strong/)
    expect(configError({ schemaVersion: 1, dataDir: 'd', raft: { heartbeatIntervalMs: 600 } }).message).toContain('raft.heartbeatIntervalMs')
    expect(configError({ schemaVersion: 1, dataDir: 'd', limits: { valueBytesMax: 8 * 1024 * 1024 } }).message).toContain('limits.frameBytesMax')
    expect(configError({ schemaVersion: 1, dataDir: 'd', raft: { readMode: 'lease', checkQuorum: false } }).message).toContain('raft.readMode')
  })

  it('rejects a cluster with duplicate members or no voter', () => {
    const m = { peerId: '12D3KooWAbc', multiaddrs: ['/ip4/127.0.0.1/tcp/7001'] }
    expect(configError({ schemaVersion: 1, dataDir: 'd', cluster: { members: [m, m] } }).message).toMatch(/listed twice/)
    expect(configError({ schemaVersion: 1, dataDir: 'd', cluster: { members: [{ ...m, role: 'learner' }] } }).message).toMatch(/at least one member must be a voter/)
  })

  it('rejects something that is not an object', () => {
    expect(configError(null).message).toMatch(/config must be an object/)
    expect(configError([]).message).toMatch(/config must be an object/)
  })

  it('makes createNode fail with CONFIG and create nothing on disk', async () => {
    const dir = await tempDir()
    try {
      await expect(createNode({ schemaVersion: 1, dataDir: `${dir.path}/node`, bogus: true }, { logger: silentLogger })).rejects.toMatchObject({ code: 'CONFIG' })
      const { readdir } = await import('node:fs/promises')
      expect(await readdir(dir.path)).toEqual([])
    } finally {
      await dir.cleanup()
    }
  })
})
