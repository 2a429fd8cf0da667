import { access } from 'node:fs/promises'
import { resolve } from 'node:path'
import { defaultTimeoutMs } from './defaults.js'
import { UsageError } from './errors.js'
import { parseIntFlag, parsePeers } from './parse.js'

/**
 * Which cluster a command talks to, and as whom: `--peers` and `--identity` when given, else the
 * `cluster.json` and client key of `--dir` (default `.quorumkv`, what `npm start` and `quorumkv
 * cluster up` create).
 */
export interface TargetOptions {
  dir: string
  peers?: string[]
  identity?: string
  timeoutMs?: string
}

export interface Target {
  peers: string[]
  identity: string
  timeoutMs: number
  /** Member names from cluster.json, by peer id. */
  names: Map<string, string>
}


export async function resolveTarget (options: TargetOptions): Promise<Target> {
  const timeoutMs = options.timeoutMs === undefined ? defaultTimeoutMs : parseIntFlag('--timeout-ms', options.timeoutMs, 1, 600_000)
  const explicitPeers = options.peers === undefined ? undefined : parsePeers(options.peers)
  const { readClusterFile } = await import('../../cluster/local.js')
  const file = await readClusterFile(options.dir).catch((err: unknown) => {
    throw new UsageError(`cannot read ${resolve(options.dir, 'cluster.json')}: ${(err as Error).message}`)
  })
  const names = new Map((file?.members ?? []).map(m => [m.peerId, m.name]))
  const peers = explicitPeers ?? file?.members.flatMap(m => m.multiaddrs)
  if (peers === undefined) {
    throw new UsageError(`no cluster found: ${resolve(options.dir, 'cluster.json')} does not exist. Start a local cluster (npm start, or quorumkv cluster up), point --dir at one, or pass --peers and --identity`)
  }
  const identity = options.identity ?? file?.clientKey
  if (identity === undefined) throw new UsageError('--peers needs --identity KEYFILE: a key file whose peer id the nodes allow in access.clients')
  try {
    await access(identity)
  } catch {
    throw new UsageError(`identity key file ${identity} does not exist (create one with quorumkv init --data-dir DIR, then allow its peer id in the nodes' access.clients)`)
  }
  return { peers, identity, timeoutMs, names }
}

/** `node2 (12D3KooW…)` when the peer has a name in cluster.json, else the peer id. */
export function describePeer (target: Pick<Target, 'names'>, peerId: string): string {
  const name = target.names.get(peerId)
  return name === undefined ? peerId : `${name} (${peerId})`
}
