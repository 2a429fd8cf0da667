import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { registerModule, repoRoot } from '../../support/spawn.js'

const fixture = fileURLToPath(new URL('../../fixtures/transport-peer.ts', import.meta.url))

export interface PeerProcessConfig {
  dataDir: string
  listen: string[]
  allow: '*' | string[]
  peers?: Record<string, string[]>
  frameBytesMax?: number
  peerQueueMax?: number
  peerQueueBytesMax?: number
  privateNetworkKey?: string
  logLevel?: string
}

export interface RemoteError { name: string, code: string, message: string, details: Record<string, unknown> }
export type Reply = { ok: true, result: unknown } | { ok: false, error: RemoteError }

const callTimeoutMs = 30_000
const startTimeoutMs = 30_000

/** One test/fixtures/transport-peer.ts process, driven over JSON lines. */
export class PeerProcess {
  readonly child: ChildProcess
  readonly logs: Array<Record<string, unknown>> = []
  peerId = ''
  multiaddrs: string[] = []
  private nextId = 0
  private readonly waiting = new Map<number, (reply: Reply) => void>()
  readonly exited: Promise<number | null>

  private constructor (child: ChildProcess) {
    this.child = child
    this.exited = new Promise(resolve => { child.once('exit', code => { resolve(code) }) })
    createInterface({ input: child.stderr! }).on('line', (line) => {
      try { this.logs.push(JSON.parse(line) as Record<string, unknown>) } catch { this.logs.push({ raw: line }) }
    })
  }

  static async start (config: PeerProcessConfig, nodeArgs: string[] = []): Promise<PeerProcess> {
    const child = spawn(process.execPath, [...nodeArgs, '--import', registerModule, fixture, JSON.stringify(config)], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] })
    const peer = new PeerProcess(child)
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`peer process not ready after ${startTimeoutMs} ms; stderr: ${JSON.stringify(peer.logs.slice(-5))}`)) }, startTimeoutMs)
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`peer process exited with ${code}: ${JSON.stringify(peer.logs.slice(-5))}`)) })
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const msg = JSON.parse(line) as { event?: string, id?: number, peerId?: string, multiaddrs?: string[] } & Reply
        if (msg.event === 'ready') {
          peer.peerId = msg.peerId!
          peer.multiaddrs = msg.multiaddrs!
          clearTimeout(timer)
          resolve()
          return
        }
        const done = peer.waiting.get(msg.id!)
        peer.waiting.delete(msg.id!)
        done?.(msg)
      })
    })
    await ready
    return peer
  }

  async call (cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = ++this.nextId
    return await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new Error(`${cmd} got no reply in ${callTimeoutMs} ms`)) }, callTimeoutMs)
      this.waiting.set(id, (reply) => { clearTimeout(timer); resolve(reply) })
      this.child.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n')
    })
  }

  /** The result of a command that must succeed. */
  async ok (cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const reply = await this.call(cmd, args)
    if (!reply.ok) throw new Error(`${cmd} failed: ${JSON.stringify(reply.error)}`)
    return reply.result
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null) return
    this.child.stdin!.write(JSON.stringify({ id: ++this.nextId, cmd: 'stop' }) + '\n')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 5000)
    await this.exited
    clearTimeout(timer)
  }

  /** An abrupt crash: no goodbye to its peers. */
  async kill (): Promise<void> {
    if (this.child.exitCode !== null) return
    this.child.kill('SIGKILL')
    await this.exited
  }
}
