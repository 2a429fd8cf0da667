import { z } from 'zod'
import { consistencyLevels } from '../api/consistency.js'

/**
 * The node configuration. Every limit is a named value with its unit in the name; every field is
 * documented in docs/config.md. Later layers read their part; nothing outside this file invents
 * a default.
 */
export const supportedSchemaVersion = 1

const KiB = 1024
const MiB = 1024 * KiB

const positiveInt = z.number().int().positive()
const nonNegativeInt = z.number().int().nonnegative()
const durationMs = z.number().int().positive().max(24 * 3600 * 1000)
const consistency = z.enum(consistencyLevels as [string, ...string[]])
const multiaddr = z.string().min(1).max(512).regex(/^\//, 'a multiaddr starts with "/"')
const peerId = z.string().min(1).max(64).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a peer id is base58 text')
const collectionName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a collection name is 1-64 letters, digits, "_", "." or "-"')

export const collectionSchema = z.strictObject({
  /** `raft`: one Raft log, linearizable writes. `quorum`: N/W/R replication on the hash ring. */
  mode: z.enum(['raft', 'quorum']).default('raft'),
  /** Quorum collections: how concurrent writes merge. */
  merge: z.enum(['lww', 'mv', 'counter', 'orset']).default('lww'),
  n: positiveInt.max(7).default(3),
  w: positiveInt.max(7).default(2),
  r: positiveInt.max(7).default(2),
  /** The level used when a call names none. */
  defaultConsistency: consistency.optional()
})

const memberSchema = z.strictObject({
  peerId,
  name: z.string().min(1).max(64).optional(),
  multiaddrs: z.array(multiaddr).max(16).default([]),
  /** Absent: parseConfig resolves it from raft.voters (resolveMemberRoles in parse.ts). */
  role: z.enum(['voter', 'learner']).optional()
})

const clientAccessSchema = z.strictObject({
  peerId,
  rights: z.enum(['read', 'read-write']),
  /** Key prefix the right applies to; '' is every key. */
  prefix: z.string().max(1024).default('')
})

const limitsSchema = z.strictObject({
  keyBytesMax: positiveInt.max(64 * KiB).default(KiB),
  valueBytesMax: positiveInt.max(64 * MiB).default(MiB),
  /** Largest framed message on the wire; must exceed valueBytesMax plus headers. */
  frameBytesMax: positiveInt.max(256 * MiB).default(4 * MiB),
  /** Writes waiting for the next group commit; past it a write gets OverloadedError. */
  writeQueueMax: positiveInt.max(1_000_000).default(10_000),
  /** Most operations in one synced batch. */
  batchOpsMax: positiveInt.max(100_000).default(1_000),
  /** Most bytes in one synced batch. */
  batchBytesMax: positiveInt.max(256 * MiB).default(8 * MiB),
  /** Requests a node serves at once from clients. */
  inflightRequestsMax: positiveInt.max(1_000_000).default(4_096),
  /** Messages queued per peer link before sends are dropped (one-way) or refused (requests). */
  peerQueueMax: positiveInt.max(1_000_000).default(4_096),
  /** Bytes queued per peer link; with a private network key at most 16 MiB (see docs/security.md). */
  peerQueueBytesMax: positiveInt.max(1024 * MiB).default(64 * MiB),
  /** New inbound connections accepted per second from one IP address. */
  inboundConnectionsPerSecondMax: positiveInt.max(100_000).default(50),
  /** Client sessions remembered for write deduplication. */
  clientSessionsMax: positiveInt.max(10_000_000).default(100_000),
  /** mv collections: siblings that log a warning. */
  siblingsWarn: positiveInt.max(10_000).default(25),
  /** mv collections: siblings past which blind writes are refused (ConflictError). */
  siblingsMax: positiveInt.max(10_000).default(100)
})

const timeoutsSchema = z.strictObject({
  /** Default deadline of a client call when it names none. */
  requestTimeoutMs: durationMs.default(5_000),
  /** Deadline of one node-to-node request. */
  peerRequestTimeoutMs: durationMs.default(2_000),
  /** Dial deadline for a peer link. */
  dialTimeoutMs: durationMs.default(3_000)
})

const raftSchema = z.strictObject({
  electionTimeoutMs: durationMs.default(1_000),
  heartbeatIntervalMs: durationMs.default(100),
  preVote: z.boolean().default(true),
  checkQuorum: z.boolean().default(true),
  /** `read-index` (safe default) or `lease` (needs checkQuorum and a drift bound). */
  readMode: z.enum(['read-index', 'lease']).default('read-index'),
  /** Lease reads: the most the clocks of two voters may drift apart during one election timeout. */
  clockDriftBoundMs: nonNegativeInt.max(60_000).default(100),
  /** Bootstrap members listed without a role are voters, in list order, until this many members vote. */
  voters: positiveInt.max(7).default(3),
  votersMax: positiveInt.max(7).default(7),
  inflightMessagesMax: positiveInt.max(10_000).default(256),
  inflightBytesMax: positiveInt.max(1024 * MiB).default(16 * MiB),
  uncommittedBytesMax: positiveInt.max(1024 * MiB).default(64 * MiB),
  entriesPerMessageMax: positiveInt.max(100_000).default(512),
  /** Take a snapshot and compact the log after this many applied entries. */
  snapshotEveryEntries: positiveInt.max(100_000_000).default(50_000),
  /** Entries kept behind a snapshot so a slow follower can catch up without a new snapshot. */
  catchUpEntries: nonNegativeInt.max(10_000_000).default(5_000),
  snapshotChunkBytes: positiveInt.max(64 * MiB).default(MiB),
  /** A leader whose log fsync takes longer than this steps down. */
  diskStallStepDownMs: durationMs.default(5_000)
})

const quorumSchema = z.strictObject({
  ringVnodes: positiveInt.max(4_096).default(64),
  hintsMax: positiveInt.max(100_000_000).default(1_000_000),
  handoffIntervalMs: durationMs.default(1_000),
  readRepair: z.boolean().default(true),
  /** A tombstone held by every replica is reaped after this delay. */
  tombstoneReapDelayMs: durationMs.default(3_600_000)
})

const gossipSchema = z.strictObject({
  probeIntervalMs: durationMs.default(1_000),
  probeTimeoutMs: durationMs.default(500),
  indirectProbes: nonNegativeInt.max(16).default(3),
  gossipIntervalMs: durationMs.default(200),
  gossipFanout: positiveInt.max(16).default(3),
  /** Suspicion lasts suspicionMultiplier * log10(N+1) * probeIntervalMs before a node is dead. */
  suspicionMultiplier: positiveInt.max(100).default(4)
})

const antiEntropySchema = z.strictObject({
  enabled: z.boolean().default(true),
  intervalMs: durationMs.default(10_000),
  bytesPerSecondMax: positiveInt.max(10 * 1024 * MiB).default(8 * MiB),
  rangesPerRoundMax: positiveInt.max(100_000).default(16),
  treeDepth: positiveInt.min(4).max(20).default(12)
})

const clockSchema = z.strictObject({
  /** The hybrid logical clock refuses a remote time further ahead of the local wall clock than this. */
  maxDriftMs: positiveInt.max(3_600_000).default(500)
})

const loggingSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
})

const httpSchema = z.strictObject({
  /** `host:port` for GET /metrics and GET /healthz; absent means no HTTP server. */
  listen: z.string().regex(/^(\[[^\]\s]+\]|[^:\s]+):\d{1,5}$/, 'use host:port, for example 127.0.0.1:9464 or [::1]:9464')
    .refine(v => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'the port must be at most 65535').optional()
})

export const configSchema = z.strictObject({
  schemaVersion: z.literal(supportedSchemaVersion),
  /** Where the node keeps its LevelDB database and identity. */
  dataDir: z.string().min(1).max(4096),
  name: z.string().min(1).max(64).optional(),
  /** Multiaddrs to listen on. Empty: an embedded node with no network. */
  listen: z.array(multiaddr).max(16).default([]),
  /** Multiaddrs to advertise instead of the listen addresses. */
  announce: z.array(multiaddr).max(16).default([]),
  /** The node's libp2p identity; default `<dataDir>/identity.key`. */
  identityFile: z.string().min(1).max(4096).optional(),
  cluster: z.strictObject({
    /** The initial members (this node included) when bootstrapping; empty means a single node. */
    members: z.array(memberSchema).max(256).default([]),
    /** Multiaddrs of existing members to contact when joining a running cluster. */
    join: z.array(multiaddr).max(16).default([])
  }).prefault({}),
  access: z.strictObject({
    clients: z.array(clientAccessSchema).max(10_000).default([]),
    /** Optional libp2p private network: path of a pre-shared key file. */
    privateNetworkKeyFile: z.string().min(1).max(4096).optional()
  }).prefault({}),
  /** Settings per collection; a collection not listed uses `defaultCollection`. */
  collections: z.record(collectionName, collectionSchema).default({}),
  defaultCollection: collectionSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  timeouts: timeoutsSchema.prefault({}),
  raft: raftSchema.prefault({}),
  quorum: quorumSchema.prefault({}),
  gossip: gossipSchema.prefault({}),
  antiEntropy: antiEntropySchema.prefault({}),
  clock: clockSchema.prefault({}),
  logging: loggingSchema.prefault({}),
  http: httpSchema.prefault({})
})

type SchemaOutput = z.output<typeof configSchema>
export type MemberRole = 'voter' | 'learner'
/** A bootstrap member once parsed: its role is always resolved. */
export type Member = Omit<z.output<typeof memberSchema>, 'role'> & { role: MemberRole }
/** A parsed config (parseConfig): the schema's output with every member's role resolved. */
export type Config = Omit<SchemaOutput, 'cluster'> & { cluster: Omit<SchemaOutput['cluster'], 'members'> & { members: Member[] } }
export type ConfigInput = z.input<typeof configSchema>
export type CollectionConfig = z.output<typeof collectionSchema>
