import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClosedError, ConfigError, ConsistencyError, InvalidArgumentError, TimeoutError } from './api/errors.js'
import type { Client, MemberStatus, RaftStatusView } from './api/types.js'
import { LocalClient } from './client/local-client.js'
import { parseConfig } from './config/parse.js'
import type { Config } from './config/schema.js'
import { createLogger, type Logger } from './observability/logger.js'
import { createNodeMetrics, type NodeMetrics } from './observability/metrics.js'
import { startHttpServer } from './observability/http.js'
import { AccessControl } from './service/access.js'
import { registerAdminProtocol } from './service/admin-protocol.js'
import { registerClientProtocol } from './service/client-protocol.js'
import { KvService } from './service/kv-service.js'
import { localReplication, raftReplication, type Replication } from './service/replication.js'
import { RaftNode, type MembershipChange } from './raft/raft-node.js'
import { QuorumReplica } from './replication/replica.js'
import { AntiEntropy } from './replication/anti-entropy/service.js'
import { UnavailableError } from './api/errors.js'
import type { Transport } from './transport/types.js'
import { GossipService } from './gossip/index.js'
import { systemRandom } from './runtime/random.js'
import { systemTime } from './runtime/time.js'
import { loadOrCreateIdentity } from './transport/libp2p/identity.js'
import { LinkFaults } from './transport/libp2p/link-faults.js'
import { Libp2pTransport } from './transport/libp2p/transport.js'
import { StorageEngine } from './storage/engine.js'
import { KvStateMachine } from './storage/kv-state-machine.js'
import { LocalCommitter } from './storage/local-committer.js'

/**
 * The composition root: the one place that knows every layer and wires one replica together.
 */
export interface NodeComponents {
  /** A pino logger; default: JSON to stdout at `logging.level`. */
  logger?: Logger
}

export interface QuorumKvNode {
  readonly config: Config
  /** The node's libp2p peer id (stable across restarts: the key lives in its data directory). */
  readonly peerId: string
  /** The addresses it listens on, each ending in /p2p/<peerId>; empty for a node without `listen`. */
  readonly multiaddrs: string[]
  /** An in-process client with its own session. */
  client: () => Client
  /**
   * The cluster's members as this node sees them: role from the Raft configuration, liveness
   * from gossip (a node alone lists itself).
   */
  members: () => MemberStatus[]
  /** Prometheus exposition text of this node's registry. */
  metrics: () => Promise<string>
  /**
   * Membership (clustered nodes; forwarded to the leader). A new member joins as a learner with
   * its addresses; promote it to voter once it has caught up; remove takes a member out (a removed
   * leader steps down). One change at a time; each resolves once applied.
   */
  addMember: (member: { peerId: string, multiaddrs: string[] }, options?: { timeoutMs?: number }) => Promise<void>
  promoteMember: (peerId: string, options?: { timeoutMs?: number }) => Promise<void>
  removeMember: (peerId: string, options?: { timeoutMs?: number }) => Promise<void>
  /** Hands leadership to a caught-up voter; resolves once it leads (for maintenance of the current leader). */
  transferLeadership: (peerId: string, options?: { timeoutMs?: number }) => Promise<void>
  /** Raft status of this node, or null for a node alone. */
  raftStatus: () => RaftStatusView | null
  /** Stops serving, waits for the write in flight, closes the database. Idempotent. */
  stop: () => Promise<void>
}

/** Each node's link-fault hook (see linkFaults); a WeakMap keeps it off the node object. */
const faultHooks = new WeakMap<QuorumKvNode, LinkFaults>()

/**
 * Testing hook, for the partition harness only (cluster/node-main.ts): cuts and heals this node's
 * links to other peers (src/transport/libp2p/link-faults.ts). Not part of the public API (not
 * exported from src/index.ts) and not reachable from the network. A node without `listen` has no
 * links: InvalidArgumentError.
 */
export function linkFaults (node: QuorumKvNode): LinkFaults {
  const faults = faultHooks.get(node)
  if (faults === undefined) throw new InvalidArgumentError('this node has no network links to cut (it has no listen addresses)')
  return faults
}

export async function createNode (input: unknown, components: NodeComponents = {}): Promise<QuorumKvNode> {
  const config = parseConfig(input)
  if ((config.cluster.members.length > 1 || config.cluster.join.length > 0) && config.listen.length === 0) {
    throw new ConfigError('a cluster member needs listen addresses: set listen, for example ["/ip4/127.0.0.1/tcp/7001"]')
  }
  const logger = components.logger ?? createLogger({ level: config.logging.level, ...(config.name !== undefined ? { name: config.name } : {}) })
  await mkdir(config.dataDir, { recursive: true })
  const engine = await StorageEngine.open(config.dataDir)
  try {
    return await wire(config, engine, logger, createNodeMetrics())
  } catch (err) {
    await engine.close()
    throw err
  }
}

async function wire (config: Config, engine: StorageEngine, logger: Logger, metrics: NodeMetrics): Promise<QuorumKvNode> {
  const stateMachine = await KvStateMachine.open(engine, { clientSessionsMax: config.limits.clientSessionsMax })
  const identity = await loadOrCreateIdentity(config.identityFile ?? join(config.dataDir, 'identity.key'))
  const access = new AccessControl(config)
  const clustered = config.cluster.members.length > 1 || config.cluster.join.length > 0
  // A node not among the bootstrap members joins: it starts with no configuration and waits until
  // an operator adds it (`member add`); it admits the members it was told about.
  const joining = clustered && !config.cluster.members.some(m => m.peerId === identity.peerId)
  const joinPeers = new Map<string, string[]>()
  for (const addr of config.cluster.join) {
    const peer = /\/p2p\/([1-9A-HJ-NP-Za-km-z]+)$/.exec(addr)?.[1]
    if (peer === undefined) throw new ConfigError(`cluster.join address ${addr} must end in /p2p/<peerId>`, { path: 'cluster.join' })
    joinPeers.set(peer, [...(joinPeers.get(peer) ?? []), addr])
  }
  for (const peer of joinPeers.keys()) access.addMember(peer)
  let transport: Libp2pTransport | undefined
  const isAllowed = (peer: string): boolean => access.mayConnect(peer)
  if (config.listen.length > 0) {
    const peers = Object.fromEntries([...joinPeers, ...config.cluster.members.filter(m => m.peerId !== identity.peerId).map(m => [m.peerId, m.multiaddrs] as const)])
    transport = new Libp2pTransport({ logger, registry: metrics.registry }, {
      privateKey: identity.privateKey,
      listen: config.listen,
      ...(config.announce.length > 0 ? { announce: config.announce } : {}),
      peers,
      isAllowed,
      frameBytesMax: config.limits.frameBytesMax,
      peerQueueMax: config.limits.peerQueueMax,
      peerQueueBytesMax: config.limits.peerQueueBytesMax,
      inboundConnectionsPerSecondMax: config.limits.inboundConnectionsPerSecondMax,
      dialTimeoutMs: config.timeouts.dialTimeoutMs,
      ...(config.access.privateNetworkKeyFile !== undefined ? { privateNetworkKey: await readPrivateNetworkKey(config.access.privateNetworkKeyFile) } : {})
    })
  }
  let committer: LocalCommitter | undefined
  let raft: RaftNode | undefined
  let gossip: GossipService | undefined
  let quorum: QuorumReplica | undefined
  let antiEntropy: AntiEntropy | undefined
  let replication: Replication
  if (clustered && transport !== undefined) {
    const bootstrap = joining
      ? { voters: [], learners: [] }
      : {
          voters: config.cluster.members.filter(m => m.role === 'voter').map(m => m.peerId),
          learners: config.cluster.members.filter(m => m.role === 'learner').map(m => m.peerId)
        }
    const net = transport
    raft = await RaftNode.open(
      { engine, stateMachine, transport, logger, time: systemTime, random: systemRandom, registry: metrics.registry },
      {
        id: identity.peerId,
        bootstrap,
        raft: config.raft,
        batch: config.limits,
        hooks: {
          onAddresses: (peer, addrs) => {
            access.addMember(peer)
            if (peer !== identity.peerId) net.setPeerAddresses(peer, addrs)
          },
          onConf: (conf) => {
            for (const peer of [...conf.voters, ...conf.learners]) access.addMember(peer)
            const members = [...new Set([identity.peerId, ...conf.voters, ...conf.learners])]
            gossip?.setMembers(members)
            quorum?.setMembers(members)
          }
        }
      }
    )
    replication = raftReplication(raft)
    gossip = new GossipService(
      { transport, time: systemTime, random: systemRandom, logger, registry: metrics.registry },
      { self: identity.peerId, members: [...new Set([identity.peerId, ...raft.status().conf.voters, ...raft.status().conf.learners])], gossip: config.gossip, incarnation: Math.floor(Date.now() / 1000) }
    )
  } else {
    committer = new LocalCommitter(stateMachine, config.limits, { onBatch: (size) => { metrics.commitBatchSize.observe(size) } })
    replication = localReplication(committer)
  }
  const usesQuorum = config.defaultCollection.mode === 'quorum' || Object.values(config.collections).some(c => c.mode === 'quorum')
  if (usesQuorum) {
    const conf = raft?.status().conf
    const quorumTransport = transport ?? localOnlyTransport(identity.peerId)
    const isAlive = gossip !== undefined ? { isAlive: (peer: string) => (gossip as GossipService).isAlive(peer) } : {}
    // The replica writes through anti-entropy's indexing engine, so the hash trees follow every write.
    antiEntropy = await AntiEntropy.open({ transport: quorumTransport, engine, time: systemTime, random: systemRandom, registry: metrics.registry, logger, ...isAlive }, { config })
    quorum = new QuorumReplica(
      { transport: quorumTransport, engine: antiEntropy.engine, time: systemTime, ...isAlive, registry: metrics.registry, logger },
      { config, members: conf === undefined ? [identity.peerId] : [...new Set([identity.peerId, ...conf.voters, ...conf.learners])] }
    )
  }
  const service = new KvService({ config, stateMachine, replication, metrics, ...(quorum !== undefined ? { quorum } : {}) })
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined
  try {
    http = config.http.listen === undefined ? undefined : await startHttpServer({ listen: config.http.listen, logger, metrics: async () => await metrics.registry.metrics(), health: () => ({ peerId: identity.peerId, leader: raft === undefined ? identity.peerId : raft.leader, appliedIndex: stateMachine.appliedIndex }) })
    if (transport !== undefined) {
      registerClientProtocol(transport, service, access, () => raft?.leader ?? null)
      raft?.start()
      await transport.start()
      gossip?.setAddresses(transport.multiaddrs)
      // A member gossip sees come back is dialed at once, not after the transport's dial backoff.
      const net = transport
      gossip?.onChange((change) => {
        if (change.liveness === 'alive' && change.previous !== 'alive' && change.addresses.length > 0) net.setPeerAddresses(change.peerId, change.addresses)
      })
      gossip?.start()
    }
    if (quorum !== undefined) {
      await quorum.start()
      await antiEntropy?.start(quorum)
    }
  } catch (err) {
    // A port in use or a bad address: undo what started, so the caller gets the error and nothing runs on.
    await http?.close().catch(() => {})
    await antiEntropy?.stop().catch(() => {})
    await quorum?.stop().catch(() => {})
    gossip?.stop()
    await raft?.stop().catch(() => {})
    await transport?.stop().catch(() => {})
    await committer?.close().catch(() => {})
    throw err
  }
  /** Runs a cluster operation under a deadline; TIMEOUT says the outcome is unconfirmed. */
  const inCluster = async (timeoutMs: number | undefined, fn: (r: RaftNode, signal: AbortSignal) => Promise<void>, what: string): Promise<void> => {
    if (raft === undefined) throw new ConsistencyError('this node runs alone: membership and leadership need a clustered node (cluster.members or cluster.join in its config)')
    const ms = timeoutMs ?? config.timeouts.requestTimeoutMs
    const signal = AbortSignal.timeout(ms)
    try {
      await fn(raft, signal)
    } catch (err) {
      if (signal.aborted) throw new TimeoutError(`${what} was not confirmed within ${ms} ms; check the status before retrying`, { timeoutMs: ms })
      throw err
    }
  }
  const change = async (c: MembershipChange, timeoutMs: number | undefined): Promise<void> => {
    await inCluster(timeoutMs, async (r, signal) => { await r.changeMembership(c, signal) }, 'the membership change')
  }

  const clients = new Set<Client>()
  let stopping: Promise<void> | undefined
  const multiaddrs = transport?.multiaddrs ?? []
  logger.info({ event: 'node_started', dataDir: config.dataDir, appliedIndex: stateMachine.appliedIndex, peer: identity.peerId, multiaddrs }, 'node started')

  const node: QuorumKvNode = {
    config,
    peerId: identity.peerId,
    multiaddrs,
    client () {
      if (stopping !== undefined) throw new ClosedError('the node is stopped: create a new one with createNode')
      const client = new LocalClient(service)
      clients.add(client)
      return client
    },
    members () {
      const names = new Map(config.cluster.members.map(m => [m.peerId, m.name ?? null]))
      const conf = raft?.status().conf
      const roleOf = (peer: string): 'voter' | 'learner' => conf === undefined || conf.voters.includes(peer) ? 'voter' : 'learner'
      if (gossip === undefined) {
        return [{ peerId: identity.peerId, name: config.name ?? null, role: 'voter', liveness: 'alive', incarnation: 0, lastSeenAgeMs: 0, addresses: multiaddrs }]
      }
      return gossip.members().map(m => ({
        peerId: m.peerId,
        name: names.get(m.peerId) ?? null,
        role: roleOf(m.peerId),
        liveness: m.liveness,
        incarnation: m.incarnation,
        lastSeenAgeMs: m.lastSeenAgeMs ?? null,
        addresses: m.addresses
      }))
    },
    async addMember (member, options = {}) {
      checkPeerId(member?.peerId)
      if (!Array.isArray(member.multiaddrs) || member.multiaddrs.length === 0 || !member.multiaddrs.every(a => typeof a === 'string' && a.startsWith('/'))) {
        throw new InvalidArgumentError('addMember needs multiaddrs: the addresses the new member listens on')
      }
      await change({ type: 'add-learner', node: member.peerId, multiaddrs: member.multiaddrs }, options.timeoutMs)
    },
    async promoteMember (peerId, options = {}) {
      checkPeerId(peerId)
      await change({ type: 'promote', node: peerId }, options.timeoutMs)
    },
    async removeMember (peerId, options = {}) {
      checkPeerId(peerId)
      await change({ type: 'remove', node: peerId }, options.timeoutMs)
    },
    async transferLeadership (peerId, options = {}) {
      checkPeerId(peerId)
      await inCluster(options.timeoutMs, async (r, signal) => { await r.transferLeadership(peerId, signal) }, 'the leadership transfer')
    },
    raftStatus () {
      if (raft === undefined) return null
      const st = raft.status()
      return {
        leader: st.leader,
        role: st.role,
        term: st.term,
        commitIndex: st.commit,
        appliedIndex: raft.appliedIndex,
        voters: [...st.conf.voters],
        learners: [...st.conf.learners],
        matchIndex: Object.fromEntries(Object.entries(st.progress).map(([peer, p]) => [peer, p.match]))
      }
    },
    async metrics () {
      return await metrics.registry.metrics()
    },
    async stop () {
      stopping ??= (async () => {
        await http?.close()
        for (const client of clients) await client.close()
        await antiEntropy?.stop()
        await quorum?.stop()
        gossip?.stop()
        await raft?.stop()
        await transport?.stop()
        await committer?.close()
        await engine.close()
        logger.info({ event: 'node_stopped', appliedIndex: stateMachine.appliedIndex }, 'node stopped')
      })()
      await stopping
    }
  }
  if (transport !== undefined) {
    faultHooks.set(node, new LinkFaults(transport, isAllowed))
    registerAdminProtocol(transport, access, node, { httpAddr: http?.address ?? null, appliedIndex: () => stateMachine.appliedIndex })
  }
  return node
}

/** A node with no network serves quorum collections alone: nothing is ever sent. */
function localOnlyTransport (localId: string): Transport {
  return {
    localId,
    handle: () => {},
    unhandle: () => {},
    send: () => false,
    request: async (to) => { throw new UnavailableError(`this node has no network; it cannot reach ${to}`) }
  }
}

async function readPrivateNetworkKey (path: string): Promise<Uint8Array> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new ConfigError(`cannot read access.privateNetworkKeyFile ${path}: ${(err as Error).message}`, { path: 'access.privateNetworkKeyFile' }, { cause: err })
  }
}

function checkPeerId (peerId: unknown): asserts peerId is string {
  if (typeof peerId !== 'string' || !/^[1-9A-HJ-NP-Za-km-z]{1,64}$/.test(peerId)) throw new InvalidArgumentError('peerId must be a libp2p peer id (base58 text)')
}
