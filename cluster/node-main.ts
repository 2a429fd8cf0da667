// Runs one node in this process: `node --import ./src/runtime/register.js cluster/node-main.ts CONFIG.json`.
// Prints one JSON line `{"event":"listening","peerId":...,"multiaddrs":[...]}` to stdout once it
// serves; SIGINT/SIGTERM stop it cleanly (exit 0). Logs go to stderr.
// Started with an IPC channel (LocalCluster's `faultInjection`), it also takes the partition
// harness's link faults from its parent: see handleFaultMessage.
import { readFile } from 'node:fs/promises'
import { pino } from 'pino'
import { createNode, type QuorumKvNode } from '../src/index.js'
import { linkFaults } from '../src/node.js'
import { CUT_PEERS_MAX } from '../src/transport/libp2p/link-faults.js'

const path = process.argv[2]
if (path === undefined) {
  process.stderr.write('usage: node-main.ts CONFIG.json\n')
  process.exit(2)
}
let node: QuorumKvNode
try {
  const config: unknown = JSON.parse(await readFile(path, 'utf8'))
  const level = (config as { logging?: { level?: string } }).logging?.level ?? 'info'
  node = await createNode(config, { logger: pino({ level }, pino.destination(2)) })
} catch (err) {
  const e = err as { code?: string, message?: string }
  process.stderr.write(`error ${e.code ?? 'INTERNAL'}: ${e.message ?? String(err)}\n`)
  process.exit(1)
}
process.stdout.write(`${JSON.stringify({ event: 'listening', peerId: node.peerId, multiaddrs: node.multiaddrs, pid: process.pid })}\n`)
let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  node.stop().then(() => process.exit(0), (err: unknown) => { process.stderr.write(`stop failed: ${String(err)}\n`); process.exit(1) })
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

/**
 * Link faults from the parent, over IPC only (never the network):
 * `{ type: 'cut', id, peers: [peerId...] }` cuts this node's links to exactly those peers and
 * answers `{ type: 'cut-done', id, peers }`; `{ type: 'heal', id }` restores them and answers
 * `{ type: 'heal-done', id }`. Anything else is answered `{ type: 'fault-error', id, message }`.
 */
function handleFaultMessage (message: unknown): Record<string, unknown> {
  const m = (message !== null && typeof message === 'object' ? message : {}) as Record<string, unknown>
  const id = Number.isSafeInteger(m.id) ? m.id : null
  try {
    if (stopping) throw new Error('the node is stopping')
    if (m.type === 'cut') {
      const peers = m.peers
      if (!Array.isArray(peers) || peers.length > CUT_PEERS_MAX || !peers.every(p => typeof p === 'string' && /^[1-9A-HJ-NP-Za-km-z]{1,128}$/.test(p))) {
        throw new Error(`a cut needs peers: a list of at most ${CUT_PEERS_MAX} peer ids`)
      }
      linkFaults(node).cutLinks(peers as string[])
      return { type: 'cut-done', id, peers: linkFaults(node).cutPeers }
    }
    if (m.type === 'heal') {
      linkFaults(node).healLinks()
      return { type: 'heal-done', id }
    }
    throw new Error(`unknown message type ${JSON.stringify(String(m.type)).slice(0, 60)}: expected cut or heal`)
  } catch (err) {
    return { type: 'fault-error', id, message: (err as Error).message }
  }
}

const send = process.send?.bind(process)
if (send !== undefined) {
  // With a callback, a reply to a parent already gone is dropped instead of thrown.
  process.on('message', (message: unknown) => { send(handleFaultMessage(message), undefined, undefined, () => {}) })
  // The parent gone, nobody can heal this node's links or stop it: stop.
  process.on('disconnect', stop)
}
