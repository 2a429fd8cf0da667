/**
 * Request/response round trips between two node processes on 127.0.0.1:
 *   quorumkv: Libp2pTransport (tcp + noise + yamux, msgpack envelopes, one long-lived stream)
 *   tcp:      plain node:net with the same 4-byte length prefix and no encoding: the physical limit
 * at 1 and 64 requests in flight, 64 B and 4 KiB payloads, echoed back by the server process.
 *
 *   node --import ./src/runtime/register.js bench/rpc.ts [--seconds=3] [--warmup=0.5]
 *
 * Prints a table, then as the very last line one JSON object: {"bench":"rpc","rows":[...]}.
 * CPU per op counts both processes (process.cpuUsage of each over the measured window).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { Libp2pTransport } from '../src/transport/libp2p/index.js'
import { FrameDecoder } from '../src/transport/libp2p/framing.js'
import { protocolId } from '../src/transport/types.js'

const benchProtocol = protocolId('bench')
const opsPerRowMax = 2_000_000
const requestTimeoutMs = 10_000
const serverStartTimeoutMs = 30_000
const initialWarmupMs = 1000

interface Row {
  workload: 'rpc'
  clients: number
  payloadBytes: number
  system: 'quorumkv' | 'tcp'
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  cpuMsPerOp: number
}

interface Cpu { user: number, system: number }

function arg (name: string, fallback: number): number {
  const found = process.argv.find(a => a.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}

function write (value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

/** Server roles answer "cpu" lines on stdin with their process.cpuUsage(). */
function answerCpuRequests (): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'cpu') write({ cpu: process.cpuUsage() })
  }).on('close', () => { process.exit(0) })
}

async function serveLibp2p (): Promise<void> {
  const transport = new Libp2pTransport({ logger: pino({ level: 'silent' }), registry: new Registry() }, {
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    isAllowed: () => true
  })
  transport.handle(benchProtocol, { parse: raw => raw, onRequest: async (_from, body) => body })
  await transport.start()
  write({ peerId: transport.peerId, multiaddrs: transport.multiaddrs })
  answerCpuRequests()
}

async function serveTcp (): Promise<void> {
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    const decoder = new FrameDecoder(1 << 20)
    socket.on('data', (data) => {
      // Echo each frame with its prefix, coalescing what arrived together, as the transport does.
      const out: Uint8Array[] = []
      decoder.push(data, (body) => {
        const header = Buffer.allocUnsafe(4)
        header.writeUInt32BE(body.byteLength)
        out.push(header, body)
        return true
      })
      if (out.length > 0) socket.write(Buffer.concat(out))
    })
    socket.on('error', () => { socket.destroy() })
  })
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    write({ port: typeof address === 'object' && address !== null ? address.port : 0 })
  })
  answerCpuRequests()
}

/** A server process; the parent is the client, so the two ends run in separate processes. */
class Server {
  private readonly child: ChildProcess
  private readonly lines: AsyncIterator<string>

  constructor (role: string) {
    const self = fileURLToPath(import.meta.url)
    const register = fileURLToPath(new URL('../src/runtime/register.js', import.meta.url))
    this.child = spawn(process.execPath, ['--import', register, self, `--role=${role}`], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]()
  }

  async next <T>(): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('server did not answer')) }, serverStartTimeoutMs) })
    try {
      const line = await Promise.race([this.lines.next(), timeout])
      if (line.done === true) throw new Error('server exited')
      return JSON.parse(line.value) as T
    } finally {
      clearTimeout(timer)
    }
  }

  async cpu (): Promise<Cpu> {
    this.child.stdin!.write('cpu\n')
    return (await this.next<{ cpu: Cpu }>()).cpu
  }

  stop (): void {
    this.child.stdin!.end()
    this.child.kill()
  }
}

type Call = (payload: Uint8Array) => Promise<void>

/** Closed loop: `clients` callers each with one request in flight; warm-up, then the measured window. */
async function measure (call: Call, server: Server, clients: number, payloadBytes: number, warmupMs: number, seconds: number): Promise<Omit<Row, 'system' | 'workload'>> {
  const payload = new Uint8Array(payloadBytes).fill(7)
  const latencies = new Float64Array(opsPerRowMax)
  let ops = 0
  let measuring = false
  let stopAt = performance.now() + warmupMs + seconds * 1000
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt && ops < opsPerRowMax) {
      const t0 = performance.now()
      await call(payload)
      if (measuring && ops < opsPerRowMax) latencies[ops++] = performance.now() - t0
    }
  }
  const loops = Array.from({ length: clients }, loop)
  await new Promise(resolve => setTimeout(resolve, warmupMs))
  const cpuServer0 = await server.cpu()
  const cpuClient0 = process.cpuUsage()
  const t0 = performance.now()
  measuring = true
  stopAt = t0 + seconds * 1000
  await Promise.all(loops)
  const elapsedMs = performance.now() - t0
  const cpuClient = process.cpuUsage(cpuClient0)
  const cpuServer1 = await server.cpu()
  const cpuUs = cpuClient.user + cpuClient.system + (cpuServer1.user - cpuServer0.user) + (cpuServer1.system - cpuServer0.system)
  const sorted = latencies.subarray(0, ops).sort()
  const pct = (p: number): number => sorted[Math.min(ops - 1, Math.floor(p * ops))] ?? 0
  return {
    clients,
    payloadBytes,
    opsPerSec: Math.round(ops / (elapsedMs / 1000)),
    p50Ms: round(pct(0.5)),
    p99Ms: round(pct(0.99)),
    cpuMsPerOp: round(cpuUs / 1000 / Math.max(ops, 1))
  }
}

function round (x: number): number {
  return Math.round(x * 1000) / 1000
}

async function libp2pClient (server: Server): Promise<{ call: Call, close: () => Promise<void> }> {
  const { peerId, multiaddrs } = await server.next<{ peerId: string, multiaddrs: string[] }>()
  const transport = new Libp2pTransport({ logger: pino({ level: 'silent' }), registry: new Registry() }, {
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: { [peerId]: multiaddrs },
    isAllowed: () => true
  })
  await transport.start()
  return {
    call: async (payload) => { await transport.request(peerId, benchProtocol, payload, { timeoutMs: requestTimeoutMs }) },
    close: async () => { await transport.stop() }
  }
}

async function tcpClient (server: Server): Promise<{ call: Call, close: () => Promise<void> }> {
  const { port } = await server.next<{ port: number }>()
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => { resolve(s) })
    s.once('error', reject)
  })
  socket.setNoDelay(true)
  // The server answers in order, so replies are matched first in, first out.
  const waiting: Array<() => void> = []
  let head = 0
  const decoder = new FrameDecoder(1 << 20)
  socket.on('data', (data) => {
    decoder.push(data, () => {
      const done = waiting[head]
      waiting[head++] = noop
      if (head > 4096 && head * 2 > waiting.length) { waiting.splice(0, head); head = 0 }
      done?.()
      return true
    })
  })
  let batch: Uint8Array[] = []
  const flush = (): void => {
    const out = Buffer.concat(batch)
    batch = []
    socket.write(out)
  }
  return {
    call: async (payload) => {
      await new Promise<void>((resolve) => {
        waiting.push(resolve)
        const header = Buffer.allocUnsafe(4)
        header.writeUInt32BE(payload.byteLength)
        if (batch.length === 0) queueMicrotask(flush)
        batch.push(header, payload)
      })
    },
    close: async () => { socket.destroy() }
  }
}

function noop (): void {}

function table (rows: Row[]): string {
  const tcp = (r: Row): Row | undefined => rows.find(t => t.system === 'tcp' && t.clients === r.clients && t.payloadBytes === r.payloadBytes)
  const lines = [
    '| system | in flight | payload B | ops/s | p50 ms | p99 ms | CPU ms/op (both processes) | ops/s vs tcp |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  ]
  for (const r of rows) {
    const base = tcp(r)
    const ratio = r.system === 'tcp' || base === undefined ? '1' : (r.opsPerSec / base.opsPerSec).toFixed(2)
    lines.push(`| ${r.system} | ${r.clients} | ${r.payloadBytes} | ${r.opsPerSec.toLocaleString('en-US')} | ${r.p50Ms} | ${r.p99Ms} | ${r.cpuMsPerOp} | ${ratio} |`)
  }
  return lines.join('\n')
}

async function main (): Promise<void> {
  const seconds = arg('seconds', 3)
  const warmupMs = arg('warmup', 0.5) * 1000
  const rows: Row[] = []
  const systems: Array<['quorumkv' | 'tcp', string, (s: Server) => Promise<{ call: Call, close: () => Promise<void> }>]> = [
    ['quorumkv', 'server-libp2p', libp2pClient],
    ['tcp', 'server-tcp', tcpClient]
  ]
  for (const [system, role, client] of systems) {
    const server = new Server(role)
    const { call, close } = await client(server)
    try {
      // Once per system, before the first row: lets the JIT compile both ends' hot paths.
      await measure(call, server, 64, 4096, 0, initialWarmupMs / 1000)
      for (const payloadBytes of [64, 4096]) {
        for (const clients of [1, 64]) {
          const result = await measure(call, server, clients, payloadBytes, warmupMs, seconds)
          rows.push({ workload: 'rpc', system, ...result })
          process.stderr.write(`${system} clients=${clients} payload=${payloadBytes}: ${result.opsPerSec} ops/s\n`)
        }
      }
    } finally {
      await close()
      server.stop()
    }
  }
  rows.sort((a, b) => a.payloadBytes - b.payloadBytes || a.clients - b.clients || a.system.localeCompare(b.system))
  console.log(`rpc round trips on 127.0.0.1, ${seconds} s per row after ${warmupMs / 1000} s warm-up, client and server in separate processes\n`)
  console.log(table(rows))
  console.log(JSON.stringify({ bench: 'rpc', rows }))
}

const role = process.argv.find(a => a.startsWith('--role='))?.slice('--role='.length)
if (role === 'server-libp2p') await serveLibp2p()
else if (role === 'server-tcp') await serveTcp()
else await main()
