import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { freePorts } from '../../cluster/ports.js'
import { createNode, generateIdentity, type QuorumKvNode } from '../../src/index.js'
import { silentLogger } from './silent-logger.js'

/**
 * `count` clustered nodes in this process, over real libp2p on 127.0.0.1, each with its identity
 * and data under `dir/n<i>`, listed as bootstrap members without roles (raft.voters decides).
 * `config` is merged into every node's config (collections, timings, access).
 */
export async function startInProcessNodes (dir: string, count: number, config: Record<string, unknown> = {}): Promise<{ nodes: QuorumKvNode[], ids: string[] }> {
  const ports = await freePorts(count)
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    await mkdir(join(dir, `n${i}`))
    ids.push((await generateIdentity(join(dir, `n${i}`, 'identity.key'))).peerId)
  }
  const members = ids.map((peerId, i) => ({ peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${ports[i] as number}/p2p/${peerId}`] }))
  const nodes = await Promise.all(ids.map(async (_, i) => await createNode({
    schemaVersion: 1,
    dataDir: join(dir, `n${i}`),
    listen: [`/ip4/127.0.0.1/tcp/${ports[i] as number}`],
    cluster: { members },
    ...config
  }, { logger: silentLogger })))
  return { nodes, ids }
}
