// Runs one node in this process: `node --import ./src/runtime/register.js cluster/node-main.ts CONFIG.json`.
// Prints one JSON line `{"event":"listening","peerId":...,"multiaddrs":[...]}` to stdout once it
// serves; SIGINT/SIGTERM stop it cleanly (exit 0). Logs go to stderr.
import { readFile } from 'node:fs/promises'
import { pino } from 'pino'
import { createNode, type QuorumKvNode } from '../src/index.js'

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
