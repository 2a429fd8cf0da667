import { Writable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import { Libp2pTransport } from '../../../src/transport/libp2p/index.js'
import type { Libp2pTransportInit } from '../../../src/transport/libp2p/index.js'
import { waitFor } from '../../support/wait.js'

export interface LogCapture {
  logger: Logger
  lines: Array<Record<string, unknown>>
}

export function captureLogs (): LogCapture {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return { logger: pino({ level: 'debug' }, sink), lines }
}

export interface TestNode {
  transport: Libp2pTransport
  registry: Registry
  logs: LogCapture
}

/** A started transport on 127.0.0.1 that admits every peer unless told otherwise. */
export async function startNode (init: Partial<Omit<Libp2pTransportInit, 'privateKey'>> = {}): Promise<TestNode> {
  const registry = new Registry()
  const logs = captureLogs()
  const transport = new Libp2pTransport({ logger: logs.logger, registry }, {
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    isAllowed: () => true,
    ...init
  })
  await transport.start()
  return { transport, registry, logs }
}

/** Two started nodes that know each other's addresses. */
export async function startPair (init: Partial<Omit<Libp2pTransportInit, 'privateKey'>> = {}): Promise<[TestNode, TestNode]> {
  const a = await startNode(init)
  const b = await startNode(init)
  a.transport.setPeerAddresses(b.transport.peerId, b.transport.multiaddrs)
  b.transport.setPeerAddresses(a.transport.peerId, a.transport.multiaddrs)
  return [a, b]
}

export async function counterValue (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const data = await metric.get()
  let total = 0
  for (const v of data.values) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) total += v.value
  }
  return total
}

/** Polls `check` until it holds (test/support/wait.ts), within 10 s by default. */
export async function eventually (check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await waitFor(check, timeoutMs, 20)
}
