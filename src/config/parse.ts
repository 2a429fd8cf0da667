import type { z } from 'zod'
import { ConfigError } from '../api/errors.js'
import { configSchema, supportedSchemaVersion, type CollectionConfig, type Config, type Member, type MemberRole } from './schema.js'

/**
 * Validates a configuration object and fills in defaults. Throws ConfigError naming every bad
 * field by its path; never returns a half-valid config.
 */
export function parseConfig (input: unknown): Config {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError('config must be an object such as { schemaVersion: 1, dataDir: "./data" }')
  }
  const version = (input as { schemaVersion?: unknown }).schemaVersion
  if (version !== supportedSchemaVersion) {
    throw new ConfigError(
      `config schemaVersion ${JSON.stringify(version)} is not supported: this quorumkv reads schemaVersion ${supportedSchemaVersion}`,
      { got: version ?? null, supported: supportedSchemaVersion, path: 'schemaVersion' }
    )
  }
  const result = configSchema.safeParse(input)
  if (!result.success) throw configErrorFromIssues(result.error.issues)
  const config: Config = {
    ...result.data,
    cluster: { ...result.data.cluster, members: resolveMemberRoles(result.data.cluster.members, result.data.raft.voters) }
  }
  const problems: string[] = []
  checkCollection('defaultCollection', config.defaultCollection, problems)
  for (const [name, collection] of Object.entries(config.collections)) checkCollection(`collections.${name}`, collection, problems)
  if (config.limits.frameBytesMax < config.limits.valueBytesMax + config.limits.keyBytesMax + 4096) {
    problems.push('limits.frameBytesMax: must exceed limits.valueBytesMax + limits.keyBytesMax + 4096 so that the largest value fits in a frame')
  }
  if (config.raft.snapshotChunkBytes + 65_536 > config.limits.frameBytesMax) {
    problems.push('raft.snapshotChunkBytes: must be at most limits.frameBytesMax - 65536 so that a snapshot chunk fits in a frame')
  }
  if (config.limits.siblingsWarn > config.limits.siblingsMax) problems.push('limits.siblingsWarn: must not exceed limits.siblingsMax')
  if (config.raft.heartbeatIntervalMs * 2 > config.raft.electionTimeoutMs) problems.push('raft.heartbeatIntervalMs: must be at most half of raft.electionTimeoutMs')
  if (config.raft.readMode === 'lease' && !config.raft.checkQuorum) problems.push('raft.readMode: lease reads need raft.checkQuorum = true')
  if (config.gossip.probeTimeoutMs >= config.gossip.probeIntervalMs) problems.push('gossip.probeTimeoutMs: must be less than gossip.probeIntervalMs')
  const peerIds = new Set<string>()
  for (const [i, m] of config.cluster.members.entries()) {
    if (peerIds.has(m.peerId)) problems.push(`cluster.members.${i}.peerId: ${m.peerId} is listed twice`)
    peerIds.add(m.peerId)
  }
  const voters = config.cluster.members.filter(m => m.role === 'voter').length
  if (voters > config.raft.votersMax) {
    const explicit = result.data.cluster.members.filter(m => m.role === 'voter').length
    problems.push(`cluster.members: ${voters} voters (${explicit} with role "voter", ${voters - explicit} by default from raft.voters = ${config.raft.voters}) exceed raft.votersMax ${config.raft.votersMax}; give the rest role "learner"`)
  }
  if (config.cluster.members.length > 0 && voters === 0) problems.push('cluster.members: at least one member must be a voter')
  if (problems.length > 0) throw new ConfigError(`invalid config: ${problems.join('; ')}`, { problems })
  return config
}

/**
 * Members listed without a role become voters, in list order, until `voters` members vote
 * (explicit voters count first, wherever they are listed); the rest are learners. An explicit
 * role always wins. Bootstrap voters are few on purpose: every voter is on the commit path, and
 * learners still apply the log and serve every read but `strong`.
 */
export function resolveMemberRoles (members: ReadonlyArray<Omit<Member, 'role'> & { role?: MemberRole | undefined }>, voters: number): Member[] {
  let defaultVoters = Math.max(0, voters - members.filter(m => m.role === 'voter').length)
  return members.map(m => {
    if (m.role !== undefined) return { ...m, role: m.role }
    const role: MemberRole = defaultVoters > 0 ? 'voter' : 'learner'
    if (role === 'voter') defaultVoters--
    return { ...m, role }
  })
}

function checkCollection (path: string, c: CollectionConfig, problems: string[]): void {
  if (c.mode === 'quorum') {
    if (c.w > c.n) problems.push(`${path}.w: ${c.w} exceeds n = ${c.n}`)
    if (c.r > c.n) problems.push(`${path}.r: ${c.r} exceeds n = ${c.n}`)
    if (c.defaultConsistency === 'strong') problems.push(`${path}.defaultConsistency: quorum collections do not offer strong; use mode "raft" or a weaker level`)
  }
}

function configErrorFromIssues (issues: readonly z.core.$ZodIssue[]): ConfigError {
  const problems = issues.map(issue => {
    const path = issue.path.map(String).join('.') || '(root)'
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map(k => (path === '(root)' ? k : `${path}.${k}`))
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`
    }
    if (issue.code === 'invalid_key') return `${path}: ${issue.issues.map(i => i.message).join(', ')}`
    return `${path}: ${issue.message}`
  })
  return new ConfigError(`invalid config: ${problems.join('; ')}`, { problems })
}

/** The settings of the collection a key belongs to. */
export function collectionOf (config: Config, collection: string): CollectionConfig {
  // hasOwn: a key such as `constructor/x` must not find Object.prototype members.
  return Object.hasOwn(config.collections, collection) ? config.collections[collection] as CollectionConfig : config.defaultCollection
}
