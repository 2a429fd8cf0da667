import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { InvalidArgumentError } from '../api/errors.js'
import type { Client } from '../api/types.js'
import { systemRandom } from '../runtime/random.js'
import { loadIdentity } from '../transport/libp2p/identity.js'
import { Libp2pTransport } from '../transport/libp2p/transport.js'
import { RemoteClient } from './remote-client.js'

export interface ConnectOptions {
  /** Multiaddrs of cluster nodes, each ending in /p2p/<peerId> (as `node.multiaddrs` gives them). */
  peers: string[]
  /** The client's key file (`generateIdentity`); its peer id must be allowed in the nodes' access.clients. */
  identity: string
  /** Deadline of a call that names no timeoutMs (default 5000). */
  requestTimeoutMs?: number
  /** Called after each call with the node that served it. */
  onServed?: (info: { op: string, key: string, peer: string, attempts: number }) => void
  logger?: Logger
}

/**
 * A remote client: a libp2p peer that holds no data and talks to the nodes over the client
 * protocol. Same interface as `node.client()`.
 */
export async function connect (options: ConnectOptions): Promise<Client> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('connect needs { peers, identity }')
  if (!Array.isArray(options.peers) || options.peers.length === 0) throw new InvalidArgumentError('connect needs peers: multiaddrs of cluster nodes ending in /p2p/<peerId>')
  if (typeof options.identity !== 'string') throw new InvalidArgumentError('connect needs identity: the path of a key file made by generateIdentity')
  const book: Record<string, string[]> = {}
  for (const addr of options.peers) {
    const match = typeof addr === 'string' ? /\/p2p\/([1-9A-HJ-NP-Za-km-z]+)$/.exec(addr) : null
    if (match === null) throw new InvalidArgumentError(`peer address ${String(addr)} must end in /p2p/<peerId>`)
    const peer = match[1] as string
    book[peer] = [...(book[peer] ?? []), addr]
  }
  const nodes = Object.keys(book)
  const identity = await loadIdentity(options.identity)
  const transport = new Libp2pTransport(
    { logger: options.logger ?? pino({ level: 'silent' }), registry: new Registry() },
    { privateKey: identity.privateKey, listen: [], peers: book, isAllowed: (peer) => nodes.includes(peer) }
  )
  await transport.start()
  return new RemoteClient({
    transport,
    nodes,
    random: systemRandom,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.onServed !== undefined ? { onServed: options.onServed } : {}),
    onClose: async () => { await transport.stop() }
  })
}
