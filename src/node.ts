import { mkdir } from 'node:fs/promises'
import { ClosedError, ConfigError } from './api/errors.js'
import type { Client } from './api/types.js'
import { LocalClient } from './client/local-client.js'
import { parseConfig } from './config/parse.js'
import type { Config } from './config/schema.js'
import { createLogger, type Logger } from './observability/logger.js'
import { createNodeMetrics, type NodeMetrics } from './observability/metrics.js'
import { KvService } from './service/kv-service.js'
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
  /** An in-process client with its own session. */
  client: () => Client
  /** Prometheus exposition text of this node's registry. */
  metrics: () => Promise<string>
  /** Stops serving, waits for the write in flight, closes the database. Idempotent. */
  stop: () => Promise<void>
}

export async function createNode (input: unknown, components: NodeComponents = {}): Promise<QuorumKvNode> {
  const config = parseConfig(input)
  const quorumCollections = Object.entries(config.collections).filter(([, c]) => c.mode === 'quorum').map(([name]) => name)
  if (quorumCollections.length > 0 || config.defaultCollection.mode === 'quorum') {
    throw new ConfigError(
      `collections ${quorumCollections.join(', ') || 'defaultCollection'} use mode "quorum", which this build cannot serve yet: quorum replication is not implemented; use mode "raft"`,
      { collections: quorumCollections }
    )
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
  const committer = new LocalCommitter(stateMachine, config.limits, { onBatch: (size) => { metrics.commitBatchSize.observe(size) } })
  const service = new KvService({ config, stateMachine, committer, metrics })
  const clients = new Set<Client>()
  let stopping: Promise<void> | undefined
  logger.info({ event: 'node_started', dataDir: config.dataDir, appliedIndex: stateMachine.appliedIndex }, 'node started')

  return {
    config,
    client () {
      if (stopping !== undefined) throw new ClosedError('the node is stopped: create a new one with createNode')
      const client = new LocalClient(service)
      clients.add(client)
      return client
    },
    async metrics () {
      return await metrics.registry.metrics()
    },
    async stop () {
      stopping ??= (async () => {
        for (const client of clients) await client.close()
        await committer.close()
        await engine.close()
        logger.info({ event: 'node_stopped', appliedIndex: stateMachine.appliedIndex }, 'node stopped')
      })()
      await stopping
    }
  }
}
